"""S seeds x T continuous tasks stepped in lock-step, by worker processes or in this process.

:class:`ParallelTaskEnv`: ``reset() -> obs`` (S, T, obs_dim) float32; ``step(actions (S, T, action_dim) in [-1, 1])
-> (next_obs (S, T, obs_dim) float32, rewards (S, T) float64, terminated, truncated (S, T) bool)``, autoreset in
the same step (``obs`` then holds what to act on next), ``unstable`` (S, T) bool; identical numbers for any
``workers``.

Design notes: docs/tasks.md#paralleltaskenv-autoreset-seeding-workers.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import signal
import traceback
import warnings
import weakref
import zlib
from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from mtrl_bench.errors import ConfigError, distinct
from mtrl_bench.tasks import continuous
from mtrl_bench.tasks.spec import TaskSpec, action_mask

_BUFFERS = {  # name: (ctypes type, numpy dtype, per-instance width key)
    "actions": (ctypes.c_float, np.float32, "action_dim"),
    "next_obs": (ctypes.c_float, np.float32, "obs_dim"),
    "obs": (ctypes.c_float, np.float32, "obs_dim"),
    "rewards": (ctypes.c_double, np.float64, None),
    "terminated": (ctypes.c_bool, np.bool_, None),
    "truncated": (ctypes.c_bool, np.bool_, None),
    "unstable": (ctypes.c_bool, np.bool_, None),
}
_REPLY_TIMEOUT_S = 600.0  # one command of one shard (building its environments is the slowest)


def env_seed(seed: int, task: str, key: str = "env") -> int:
    """The reset seed of seed ``seed`` on task ``task``: a function of (``seed``, ``task``, ``key``) only."""
    if int(seed) < 0:
        raise ConfigError(f"seeds must be >= 0, got {seed}")
    salt = zlib.crc32(f"{key}/{task}".encode())
    return int(np.random.SeedSequence([int(seed), salt]).generate_state(1)[0])


def _resolve(task: str | TaskSpec) -> TaskSpec:
    spec = continuous.get_task(task) if isinstance(task, str) else task
    if spec.action_kind != "continuous" or spec.make_env is None:
        raise ConfigError(f"task {spec.name!r} is not an engine-backed continuous task: "
                          "discrete tasks step in BatchedMultiTaskEnv")
    return spec


def _views(arrays: dict, n: int, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    out = {}
    for name, (_, dtype, width) in _BUFFERS.items():
        flat = np.frombuffer(arrays[name], dtype=dtype) if not isinstance(arrays[name], np.ndarray) else arrays[name]
        out[name] = flat.reshape(n, sizes[width]) if width else flat.reshape(n)
    return out


class _Shard:
    """Instances ``lo:hi`` of the flat (seed-major) list; reads and writes rows ``lo:hi`` of the buffers."""

    def __init__(self, specs: Sequence[TaskSpec], env_seeds: Sequence[int], obs_dim: int, action_dim: int,
                 buffers: dict[str, np.ndarray]):
        self.envs: list[gym.Env] = []
        for spec in specs:
            env = continuous.MultiTaskView(spec.make_env(), obs_dim, action_dim)
            guard = _find_guard(env)
            if guard is not None:
                guard.warn = False  # the parent warns, naming seed and task
            self.envs.append(env)
        self.env_seeds = list(env_seeds)
        self.buffers = buffers
        self.seeded = False

    def reset(self) -> None:
        obs = self.buffers["obs"]
        for i, env in enumerate(self.envs):
            obs[i], _ = env.reset(seed=None if self.seeded else self.env_seeds[i])
        self.seeded = True

    def step(self) -> None:
        b = self.buffers
        for i, env in enumerate(self.envs):
            next_obs, reward, terminated, truncated, info = env.step(b["actions"][i])
            b["next_obs"][i], b["rewards"][i] = next_obs, reward
            b["terminated"][i], b["truncated"][i] = terminated, truncated
            b["unstable"][i] = "unstable" in info
            if terminated or truncated:
                next_obs, _ = env.reset()
            b["obs"][i] = next_obs

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _find_guard(env: gym.Env) -> continuous.StabilityGuard | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, continuous.StabilityGuard):
            return env
        env = env.env
    return None


def _worker(conn, arrays: dict, n: int, sizes: dict[str, int], lo: int, hi: int, specs, env_seeds) -> None:
    """A worker process: builds its shard, then answers "reset" / "step" / "close" until closed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which closes the workers
    shard = None
    try:
        views = {name: view[lo:hi] for name, view in _views(arrays, n, sizes).items()}
        shard = _Shard(specs, env_seeds, sizes["obs_dim"], sizes["action_dim"], views)
        conn.send(("ok", None))
        while True:
            command = conn.recv()
            if command == "close":
                break
            try:
                getattr(shard, command)()
                conn.send(("ok", None))
            except Exception:
                conn.send(("error", traceback.format_exc()))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):  # the parent is gone
        pass
    except Exception:
        conn.send(("error", traceback.format_exc()))
    finally:
        if shard is not None:
            shard.close()
        conn.close()


def _shutdown(processes: list, conns: list) -> None:
    """Ask every worker to stop, wait a little, then terminate those still running."""
    for conn in conns:
        try:
            conn.send("close")
        except (OSError, ValueError):
            pass
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.terminate()
            process.join(timeout=5)
    for conn in conns:
        conn.close()


class ParallelTaskEnv:
    """S seeds x T continuous tasks; see the module doc for shapes, autoreset, seeding and workers.

    ``tasks``: task names of :data:`continuous.TASKS` (or engine-backed :class:`TaskSpec`), e.g.
    ``continuous.GROUPS["walker"]``; ``seeds``: S seeds >= 0; ``key`` separates independent uses (a
    training and an evaluation environment of the same seeds); ``obs_dim`` / ``action_dim``: padding
    (default the largest of the tasks); ``start_method``: multiprocessing's (default forkserver where
    available, else spawn; fork is refused by nothing but unsafe with threads).
    """

    def __init__(self, tasks: Sequence[str | TaskSpec], seeds: Sequence[int], workers: int = 0, key: str = "env",
                 obs_dim: int | None = None, action_dim: int | None = None, start_method: str | None = None):
        self.specs = [_resolve(task) for task in tasks]
        names = distinct([spec.name for spec in self.specs], "task")
        self.seeds = distinct([int(seed) for seed in seeds], "seed")
        if int(workers) < 0:
            raise ConfigError(f"workers must be >= 0, got {workers}")
        continuous.require_engines([name for name in names if name in continuous.SOURCES])
        self.obs_dims = np.array([spec.obs_dim for spec in self.specs])
        self.action_dims = np.array([spec.action_dim for spec in self.specs])
        self.obs_dim = int(self.obs_dims.max() if obs_dim is None else obs_dim)
        self.action_dim = int(self.action_dims.max() if action_dim is None else action_dim)
        if self.obs_dims.max() > self.obs_dim or self.action_dims.max() > self.action_dim:
            raise ConfigError(f"tasks of dimensions {list(self.obs_dims)} / {list(self.action_dims)} do not fit "
                              f"the padding to obs_dim {self.obs_dim} / action_dim {self.action_dim}")
        self.action_mask = action_mask(self.action_dims)
        self.gammas = np.array([spec.gamma for spec in self.specs])
        self.horizons = np.array([spec.horizon for spec in self.specs])
        self.task_names = names
        n = self.n_seeds * self.n_tasks
        flat_specs = [spec for _ in self.seeds for spec in self.specs]
        env_seeds = [env_seed(seed, spec.name, key) for seed in self.seeds for spec in self.specs]
        sizes = {"obs_dim": self.obs_dim, "action_dim": self.action_dim}
        self.workers = min(int(workers), n)
        self._processes: list = []
        self._conns: list = []
        self._closed = False
        self._pending: str | None = None  # the command whose replies are still to be read
        if self.workers == 0:
            arrays = {name: np.zeros(n * (sizes[w] if w else 1), dtype=dtype)
                      for name, (_, dtype, w) in _BUFFERS.items()}
            self._buffers = _views(arrays, n, sizes)
            self._shard: _Shard | None = _Shard(flat_specs, env_seeds, self.obs_dim, self.action_dim, self._buffers)
        else:
            self._shard = None
            self._start_workers(n, sizes, flat_specs, env_seeds, start_method)
        self.unstable_episodes = np.zeros((self.n_seeds, self.n_tasks), dtype=np.int64)
        self.unstable = np.zeros((self.n_seeds, self.n_tasks), dtype=bool)
        self.obs = np.zeros((self.n_seeds, self.n_tasks, self.obs_dim), dtype=np.float32)

    def _start_workers(self, n, sizes, flat_specs, env_seeds, start_method) -> None:
        if start_method is None:
            start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(start_method)
        if start_method == "forkserver":  # the server imports this module once; each worker is then a fork
            ctx.set_forkserver_preload([__name__])
        arrays = {name: ctx.RawArray(ctype, n * (sizes[w] if w else 1)) for name, (ctype, _, w) in _BUFFERS.items()}
        self._buffers = _views(arrays, n, sizes)
        bounds = np.linspace(0, n, self.workers + 1).round().astype(int)
        self._finalizer = weakref.finalize(self, _shutdown, self._processes, self._conns)
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            parent, child = ctx.Pipe()
            process = ctx.Process(target=_worker, daemon=True, name=f"mtrl-env-{lo}-{hi}",
                                  args=(child, arrays, n, sizes, int(lo), int(hi), flat_specs[lo:hi], env_seeds[lo:hi]))
            process.start()
            child.close()
            self._processes.append(process)
            self._conns.append(parent)
        self._pending = "start"
        self._receive()

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    @property
    def n_tasks(self) -> int:
        return len(self.specs)

    def _wait(self, command: str) -> None:
        for w, (conn, process) in enumerate(zip(self._conns, self._processes)):
            if not conn.poll(_REPLY_TIMEOUT_S):
                self.close()
                raise RuntimeError(f"environment worker {w} did not answer {command!r} within {_REPLY_TIMEOUT_S:.0f} s")
            try:
                status, detail = conn.recv()
            except EOFError:
                self.close()
                raise RuntimeError(f"environment worker {w} died during {command!r} "
                                   f"(exit code {process.exitcode})") from None
            if status != "ok":
                self.close()
                raise RuntimeError(f"environment worker {w} failed during {command!r}:\n{detail}")

    def _send(self, command: str) -> None:
        if self._closed:
            raise RuntimeError("this ParallelTaskEnv is closed")
        if self._pending is not None:
            raise RuntimeError(f"call step_wait() before {command!r}: a step is in flight")
        if self._shard is not None:
            getattr(self._shard, command)()
        else:
            for conn in self._conns:
                conn.send(command)
        self._pending = command

    def _receive(self) -> None:
        command, self._pending = self._pending, None
        if self._shard is None:
            self._wait(command)

    def _grid(self, name: str) -> np.ndarray:
        view = self._buffers[name]
        return view.reshape(self.n_seeds, self.n_tasks, *view.shape[1:]).copy()

    def reset(self) -> np.ndarray:
        """Start every episode (the first call seeds them); returns ``obs`` (S, T, obs_dim) float32."""
        self._send("reset")
        self._receive()
        self.obs = self._grid("obs")
        return self.obs.copy()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Advance all S x T instances by ``actions`` (S, T, action_dim) in [-1, 1] (padded dimensions are
        ignored); returns ``(next_obs, rewards, terminated, truncated)`` -- see the module doc."""
        self.step_async(actions)
        return self.step_wait()

    def step_async(self, actions: np.ndarray) -> None:
        """Hand ``actions`` to the workers and return at once (with ``workers=0`` the step runs here and
        now); the caller may work meanwhile (e.g. a learner update) and then calls :meth:`step_wait`."""
        actions = np.asarray(actions, dtype=np.float32)
        if actions.shape != (self.n_seeds, self.n_tasks, self.action_dim):
            raise ValueError(f"actions must have shape {(self.n_seeds, self.n_tasks, self.action_dim)}, "
                             f"got {actions.shape}")
        if self._pending is not None:  # checked before the buffer below changes under a working worker
            raise RuntimeError("call step_wait() before the next step_async(): a step is in flight")
        self._buffers["actions"][:] = actions.reshape(-1, self.action_dim)
        self._send("step")

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The results of the step handed over by :meth:`step_async`, as :meth:`step` returns them."""
        if self._pending != "step":
            raise RuntimeError("step_wait() without a step_async() before it")
        self._receive()
        next_obs, rewards = self._grid("next_obs"), self._grid("rewards")
        terminated, truncated = self._grid("terminated"), self._grid("truncated")
        self.unstable = self._grid("unstable")
        self.obs = self._grid("obs")
        if self.unstable.any():
            self.unstable_episodes += self.unstable
            for s, t in zip(*np.nonzero(self.unstable)):
                warnings.warn(f"unstable simulation: seed {self.seeds[s]} on task {self.task_names[t]!r}; "
                              "its episode was ended", continuous.UnstableSimulationWarning, stacklevel=3)
        return next_obs, rewards, terminated, truncated

    def close(self) -> None:
        """Stop the workers (or close the in-process environments); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._shard is not None:
            self._shard.close()
        else:
            self._finalizer()

    def __enter__(self) -> ParallelTaskEnv:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
