"""The FQI fit step as a small C kernel compiled for this CPU (``fqi_native.c``), called through ctypes.

Needs a float32 CPU network with exactly one shared layer and a C compiler; same interface as
:class:`~mtrl_bench.algos.fqi_fused.FusedFitStep`, equal to it up to float32 round-off.

Design notes: docs/fqi.md#the-native-kernel.
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import os
import platform
import shutil
import subprocess
import tempfile
import time
from functools import cache, lru_cache
from pathlib import Path

import torch

from mtrl_bench.checksums import sha256_file
from mtrl_bench.errors import ConfigError, warn
from mtrl_bench.nets import NetSpec, SharedMultiTaskNet

SOURCE = Path(__file__).with_name("fqi_native.c")
# -ffp-contract=fast: a * b + c as one fused multiply-add where the CPU has one (~15% faster here).
# -fno-math-errno: sqrtf without the errno path, so that it vectorises (errno is never read).
FLAGS = ("-O3", "-std=c11", "-ffp-contract=fast", "-fno-math-errno", "-fPIC", "-shared")
LIBS = ("-lm",)
# Tuned for this CPU where the compiler can (x86: -march; Apple clang on arm64: -mcpu), else generic;
# with OpenMP (members shared among threads) where the compiler has it, else one thread.
TARGET_FLAGS = (("-march=native",), ("-mcpu=native",), ())
OPENMP_FLAGS = (("-fopenmp",), ())
ACTIVATION_CODES = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3}
PARAM_NAMES = ("input_weight", "input_bias", "shared0_weight", "shared0_bias", "head_weight", "head_bias")


class NativeKernelUnavailable(ConfigError):
    """The native kernel cannot run here (no compiler, or a network or device it does not handle)."""


def cache_dir() -> Path:
    if os.environ.get("MTRL_BENCH_CACHE"):
        return Path(os.environ["MTRL_BENCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mtrl-bench"


def _compiler() -> str:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    raise NativeKernelUnavailable("fit_kernel native needs a C compiler (set $CC, or install gcc); "
                                  "or choose fit_kernel: fused")


def _cpu_signature() -> str:
    """What -march=native depends on: the CPU's model and feature flags (Linux), else the platform."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        lines = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags", "Features"))]
        return "\n".join(sorted(set(lines)))
    except OSError:
        return platform.processor() or platform.machine()


def _verified_build(folder: Path, stem: str) -> Path | None:
    """A cached build ``<stem>-<sha256[:16]>.so`` whose bytes match the digest in its name; builds that do
    not (truncated, altered) are removed with a one-line warning."""
    for path in sorted(folder.glob(f"{stem}-*.so")):
        digest = path.name[len(stem) + 1:-len(".so")]
        try:
            intact = len(digest) == 16 and sha256_file(path)[:16] == digest
        except OSError:
            intact = False
        if intact:
            return path
        warn(f"compiled kernel {path} fails its checksum (altered, truncated or unreadable): removing it and "
             "rebuilding")
        path.unlink(missing_ok=True)
    return None


def _build(compiler: str, folder: Path, stem: str) -> Path:
    """Compile the kernel into ``folder``, named after its own SHA-256 (atomic: a concurrent job sees the whole
    library or none)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}-", suffix=".so", dir=folder)
        os.close(fd)
    except OSError as err:
        raise NativeKernelUnavailable(f"cannot create the kernel cache {folder} ({err}); set "
                                      "MTRL_BENCH_CACHE to a writable folder") from err
    try:
        for target_flags in itertools.product(OPENMP_FLAGS, TARGET_FLAGS):
            built = subprocess.run([compiler, *FLAGS, *itertools.chain(*target_flags), str(SOURCE), "-o", tmp,
                                    *LIBS], capture_output=True, text=True)
            if built.returncode == 0:
                break
        else:
            raise NativeKernelUnavailable(f"compiling {SOURCE.name} with {compiler} failed:\n"
                                          f"{built.stderr[-2000:]}\nchoose fit_kernel: fused instead")
        target = folder / f"{stem}-{sha256_file(tmp)[:16]}.so"
        os.replace(tmp, target)
        return target
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL:
    """The compiled kernel, built on first use (about a second) and cached on disk.

    A cached build is loaded only when its bytes match the SHA-256 in its name
    (``fqi_native-<recipe key>-<sha256[:16]>.so``); a damaged one is removed and rebuilt. A build that does
    not load raises :class:`NativeKernelUnavailable` (``fit_kernel: auto`` then uses the fused kernel).
    """
    compiler = _compiler()
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout
    recipe = [SOURCE.read_text(), compiler, version, " ".join(FLAGS), repr(TARGET_FLAGS), repr(OPENMP_FLAGS),
              " ".join(LIBS), platform.machine(), _cpu_signature()]
    key = hashlib.sha256("\0".join(recipe).encode()).hexdigest()[:16]
    folder, stem = cache_dir(), f"fqi_native-{key}"
    target = (_verified_build(folder, stem) if folder.is_dir() else None) or _build(compiler, folder, stem)
    try:
        lib = ctypes.CDLL(str(target))
    except OSError as err:
        raise NativeKernelUnavailable(f"cannot load the compiled kernel {target} ({' '.join(str(err).split())}); "
                                      "choose fit_kernel: fused") from err
    lib.fqi_native_step.restype = ctypes.c_int
    lib.fqi_native_step.argtypes = [ctypes.c_void_p] * 18
    lib.fqi_native_adam.restype = None
    lib.fqi_native_adam.argtypes = [ctypes.c_int32, ctypes.c_int64] + [ctypes.c_void_p] * 7 + [ctypes.c_double] * 5
    lib.fqi_native_fma_probe.restype = ctypes.c_double
    lib.fqi_native_fma_probe.argtypes = [ctypes.c_int64]
    return lib


def fma_peak_gflops(seconds: float = 0.3, repeats: int = 3) -> float:
    """This core's float32 multiply-add rate (GFLOP/s) with this build's vectors: the arithmetic limit
    of any kernel the compiler makes here (best of ``repeats`` runs of about ``seconds`` each)."""
    probe = library().fqi_native_fma_probe

    def rate(iterations: int) -> tuple[float, float]:
        start = time.process_time()
        flops = probe(iterations)
        elapsed = max(time.process_time() - start, 1e-6)
        return flops / elapsed / 1e9, elapsed

    iterations = 1_000_000
    best, elapsed = rate(iterations)
    while elapsed < seconds / 4:  # too short to time: grow the loop to about ``seconds``
        iterations = int(iterations * seconds / elapsed)
        best, elapsed = rate(iterations)
    for _ in range(repeats - 1):
        best = max(best, rate(iterations)[0])
    return best


def unsupported_reason(spec: NetSpec, device: torch.device, dtype: torch.dtype) -> str | None:
    """Why the native kernel cannot run a network of ``spec`` here, or None when it can."""
    if device.type != "cpu":
        return f"the native kernel runs on a CPU, not on {device.type} (use fit_kernel: fused there)"
    if dtype != torch.float32:
        return f"the native kernel computes in float32, the data is {dtype}"
    if len(spec.shared_widths) != 1:
        return (f"the native kernel handles one shared layer, the network has {len(spec.shared_widths)} "
                "(use fit_kernel: fused)")
    return None


def require(spec: NetSpec, device: torch.device, dtype: torch.dtype) -> None:
    """Raise :class:`NativeKernelUnavailable` (saying what to change) unless the kernel can run here."""
    reason = unsupported_reason(spec, device, dtype)
    if reason is not None:
        raise NativeKernelUnavailable(reason)
    library()


def available(spec: NetSpec, device: torch.device, dtype: torch.dtype) -> bool:
    """True when the native kernel can run a network of ``spec`` here, compiler included."""
    if unsupported_reason(spec, device, dtype) is not None:
        return False
    try:
        library()
    except NativeKernelUnavailable as err:
        _warn_once(f"the native kernel is unavailable here, using the fused kernel: {str(err).splitlines()[0]}")
        return False
    return True


@cache
def _warn_once(message: str) -> None:
    warn(message)  # once per process: `auto` asks at every fit


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr()


def _pointers(tensors: list[torch.Tensor]) -> ctypes.Array:
    return (ctypes.c_void_p * len(tensors))(*(t.data_ptr() for t in tensors))


@torch.no_grad()
def adam_step(params: list[torch.Tensor], exp_avg: list[torch.Tensor], exp_avg_sq: list[torch.Tensor],
              grads: list[torch.Tensor], active: torch.Tensor, steps: torch.Tensor, lr: float,
              betas: tuple[float, float], eps: float, weight_decay: float = 0.0) -> None:
    """MemberAdam's step in one compiled call, in place, for the members where ``active`` (S,) bool.

    Every tensor is float32, contiguous, with members first; ``steps`` (S,) float64 counts each
    member's steps. Equal to :meth:`mtrl_bench.optim.MemberAdam.step` to float32 round-off.
    """
    tensors = [*params, *exp_avg, *exp_avg_sq, *grads]
    if any(t.dtype != torch.float32 or not t.is_contiguous() or t.device.type != "cpu" for t in tensors):
        raise ConfigError("native Adam: every tensor must be float32, contiguous and on the CPU")
    if steps.dtype != torch.float64 or not steps.is_contiguous():
        raise ConfigError("native Adam: steps must be a contiguous float64 tensor")
    n_members = steps.shape[0]
    numel = torch.tensor([t.numel() // n_members for t in params], dtype=torch.int64)
    mask = active.to(torch.uint8).contiguous()
    library().fqi_native_adam(len(params), n_members, _ptr(numel), _pointers(params), _pointers(exp_avg),
                              _pointers(exp_avg_sq), _pointers(grads), _ptr(mask), _ptr(steps),
                              lr, betas[0], betas[1], eps, weight_decay)


class NativeFitStep:
    """Loss and gradients of the FQI fit for every member, by the compiled kernel.

    Args (as :class:`~mtrl_bench.algos.fqi_fused.FusedFitStep`):
        net: the network (one shared layer).
        states: (T, N, obs_dim) training inputs, the same for every member.
        actions: (T, N) long, the action taken on each row.
        weight: (T, N) 1 on real rows, 0 on padding.
        threads: members are shared among this many threads (default: torch's thread count, which
            ``--threads`` sets); a member's numbers do not depend on it.
    """

    def __init__(self, net: SharedMultiTaskNet, states: torch.Tensor, actions: torch.Tensor, weight: torch.Tensor,
                 threads: int | None = None):
        require(net.spec, states.device, states.dtype)
        spec = net.spec
        if states.shape[:2] != actions.shape or actions.shape != weight.shape or states.shape[0] != spec.n_tasks:
            raise ConfigError(f"native fit: states {tuple(states.shape)}, actions {tuple(actions.shape)} and weight "
                              f"{tuple(weight.shape)} must share (tasks={spec.n_tasks}, rows)")
        self.lib = library()
        self.spec = spec
        self.n_tasks, self.n_rows = actions.shape
        self.inputs = states.transpose(1, 2).contiguous()  # (T, obs, N)
        self.actions = actions.to(torch.int32).contiguous()
        self.coef = (weight / weight.sum()).to(torch.float32).contiguous()
        self._codes = [ACTIVATION_CODES[a] for a in (spec.input_activation, spec.shared_activations[0],
                                                     spec.output_activation)]
        self.threads = torch.get_num_threads() if threads is None else max(1, int(threads))

    def _dims(self, n_members: int) -> torch.Tensor:
        spec = self.spec
        return torch.tensor([n_members, self.n_tasks, self.n_rows, spec.obs_dim, spec.input_width,
                             spec.shared_widths[0], spec.n_actions_max, *self._codes, self.threads],
                            dtype=torch.int32)

    @torch.no_grad()
    def loss_and_grads(self, params: dict[str, torch.Tensor],
                       targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss (S,) and gradients {name: (S, ...)} for the S members whose ``params`` are given."""
        weights = [params[name].contiguous() for name in PARAM_NAMES]
        n_members = weights[0].shape[0]
        targets = targets.contiguous()
        if targets.shape != (n_members, self.n_tasks, self.n_rows) or targets.dtype != torch.float32:
            raise ConfigError(f"native fit: targets must be float32 ({n_members}, {self.n_tasks}, {self.n_rows}), "
                              f"got {targets.dtype} {tuple(targets.shape)}")
        grads = [torch.empty_like(w) for w in weights]
        loss = torch.empty(n_members, dtype=torch.float32)
        dims = self._dims(n_members)
        status = self.lib.fqi_native_step(
            _ptr(dims), _ptr(self.inputs), _ptr(self.actions), _ptr(self.coef), _ptr(targets),
            *(_ptr(w) for w in weights), _ptr(loss), *(_ptr(g) for g in grads))
        if status != 0:
            raise MemoryError("fqi_native_step could not allocate its workspace")
        return loss, dict(zip(PARAM_NAMES, grads))
