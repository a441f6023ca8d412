"""The fit of (multi-task) FQI: one loop, one stopping rule, the step's arithmetic behind one interface.

:func:`fit` moves every active member (params (S, ...), targets (S, T, N)) until its :class:`StopRule` stops it;
step functions (kernels) and step rules (:data:`StepRule`) change how, never what, a step computes.
Design notes: docs/fqi.md#how-a-fit-runs-one-loop-one-stopping-rule-interchangeable-step-functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mtrl_bench.algos import fqi_native
from mtrl_bench.algos.fqi_fused import ROWS_PER_TILE as ROWS_PER_TILE_DEFAULT
from mtrl_bench.algos.fqi_fused import FusedFitStep
from mtrl_bench.errors import ConfigError
from mtrl_bench.nets import SharedMultiTaskNet
from mtrl_bench.optim import MemberAdam, adam_update
from mtrl_bench.tasks.family import TransitionData


@dataclass
class TaskTensors:
    """All tasks' transitions padded to one length; ``weight`` is 1 on real rows, 0 on padding."""

    states: torch.Tensor  # (T, N, obs_dim)
    actions: torch.Tensor  # (T, N) long
    rewards: torch.Tensor  # (T, N)
    next_states: torch.Tensor  # (T, N, obs_dim)
    not_absorbing: torch.Tensor  # (T, N)
    weight: torch.Tensor  # (T, N)

    @classmethod
    def stack(cls, sets: Sequence[TransitionData], device: torch.device, dtype: torch.dtype) -> TaskTensors:
        """One task per element of ``sets`` (any family's transitions), padded to the longest."""
        n = max(len(s) for s in sets)

        def pad(name: str, fill=0):
            arrays = [getattr(s, name) for s in sets]
            out = np.full((len(sets), n, *arrays[0].shape[1:]), fill, dtype=np.float64)
            for t, a in enumerate(arrays):
                out[t, : len(a)] = a
            return torch.as_tensor(out, device=device)

        weight = torch.zeros(len(sets), n, device=device, dtype=dtype)
        for t, s in enumerate(sets):
            weight[t, : len(s)] = 1.0
        return cls(pad("states").to(dtype), pad("actions").long(), pad("rewards").to(dtype),
                   pad("next_states").to(dtype), (1.0 - pad("absorbing")).to(dtype), weight)

    def task_shares(self) -> torch.Tensor:
        """(T,) each task's share of all real rows: the union MSE is the task MSEs weighted by it."""
        counts = self.weight.sum(-1)
        return counts / counts.sum()


def weighted_mse(net: SharedMultiTaskNet, data: TaskTensors, targets: torch.Tensor,
                 members: slice | None = None) -> torch.Tensor:
    """Per-member, per-task mean squared error (S, T) over the real (unpadded) rows.

    ``members`` restricts it to a contiguous block of members; ``targets`` then holds only theirs.
    """
    q = net(data.states, members)
    q = q.gather(-1, data.actions.expand(q.shape[0], -1, -1).unsqueeze(-1)).squeeze(-1)
    sq = (q - targets) ** 2 * data.weight
    return sq.sum(-1) / data.weight.sum(-1)


# Rows (members x tasks x transitions) per forward/backward block: about where one block's
# activations still fit in the CPU caches; measured per row cost rises ~2.5x from 60k to 5.6M rows.
ROWS_PER_BLOCK = 65_536


def member_blocks(n_members: int, rows_per_member: int, rows_per_block: int | None = None) -> list[slice]:
    """Contiguous blocks of members with at most ``rows_per_block`` rows each (at least one member)."""
    rows_per_block = ROWS_PER_BLOCK if rows_per_block is None else rows_per_block
    size = max(1, rows_per_block // max(1, rows_per_member))
    return [slice(start, min(start + size, n_members)) for start in range(0, n_members, size)]


FIT_KERNELS = ("autograd", "fused", "native", "auto")
DEFAULT_KERNEL = "auto"
"""The one default step function: native (compiled for this CPU) where it can run, else fused."""

StepFunction = Callable[[dict[str, torch.Tensor], torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]
"""A kernel: (params {name: (S, ...)}, targets (S, T, N)) -> (loss (S,), gradients {name: (S, ...)})."""


@dataclass(frozen=True)
class FitOptions:
    """How :func:`fit` runs (never what it computes: every choice gives the same rule's numbers, the
    kernels to float32 round-off).

    kernel: the step function: "autograd" (reference), "fused", "native" or "auto" (the default:
        native where it can run, else fused); see the module docstring.
    sync_every: steps between host checks of "is any member still running" (1: the step-by-step loop).
    repack_every: every this many steps (rounded up to a multiple of ``sync_every``) the running
        members are gathered into a smaller batch, so stopped members stop costing arithmetic; 0 = never.
        Bit-identical results need a batched product whose per-matrix result does not depend on the
        batch size: true of this CPU build's MKL for the products used (tests/test_fqi_fit.py checks
        it; the orientation grad @ [z; 1]^T of the weight gradients matters); a GPU library that picks
        another algorithm for a smaller batch would give results equal to round-off instead.
    cuda_graph: capture one step (kernel, update, stopping rule) in a CUDA graph and replay it
        (fused kernel on a CUDA device only; ignored elsewhere).
    rows_per_tile: the fused kernel's tile size (rows of all members and tasks per tile).
    """

    kernel: str = DEFAULT_KERNEL
    sync_every: int = 1
    repack_every: int = 0
    cuda_graph: bool = False
    rows_per_tile: int = ROWS_PER_TILE_DEFAULT

    def __post_init__(self) -> None:
        if self.kernel not in FIT_KERNELS:
            raise ConfigError(f"fit kernel must be one of {list(FIT_KERNELS)}, got {self.kernel!r}")
        if self.sync_every < 1 or self.repack_every < 0 or self.rows_per_tile < 1:
            raise ConfigError(f"fit options need sync_every >= 1, repack_every >= 0 and rows_per_tile >= 1, got "
                              f"{self.sync_every}, {self.repack_every}, {self.rows_per_tile}")


REFERENCE = FitOptions(kernel="autograd")
"""The reference path: autograd gradients, the stopping rule asked after every step."""


def resolve_kernel(kernel: str, net: SharedMultiTaskNet, data: TaskTensors) -> str:
    """The kernel that runs: "auto" becomes "native" where the compiled kernel can run, else "fused"."""
    if kernel != "auto":
        return kernel
    return "native" if fqi_native.available(net.spec, data.states.device, data.states.dtype) else "fused"


def autograd_kernel(net: SharedMultiTaskNet, data: TaskTensors) -> StepFunction:
    """The reference step function: the union MSE's value and autograd gradients, in member blocks
    (cache-sized on a CPU, all members at once on a GPU; members are independent, so blocks change the
    memory footprint, not the result). A member whose loss is not finite gets no gradient."""
    rows = data.weight.shape[0] * data.weight.shape[1]
    share = data.task_shares()

    def kernel(params: dict[str, torch.Tensor], targets: torch.Tensor):
        leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        n_members = leaves["input_weight"].shape[0]
        blocks = [slice(0, n_members)] if data.weight.device.type != "cpu" else member_blocks(n_members, rows)
        losses = []
        for block in blocks:
            block_params = {f"params.{k}": v[block] for k, v in leaves.items()}
            q = torch.func.functional_call(net, block_params, (data.states,))
            q = q.gather(-1, data.actions.expand(q.shape[0], -1, -1).unsqueeze(-1)).squeeze(-1)
            loss = ((((q - targets[block]) ** 2 * data.weight).sum(-1) / data.weight.sum(-1)) * share).sum(-1)
            usable = torch.isfinite(loss)
            torch.where(usable, loss, torch.zeros_like(loss)).sum().backward()
            losses.append(loss.detach())
        return torch.cat(losses), {k: v.grad for k, v in leaves.items()}

    return kernel


def step_function(kernel: str, net: SharedMultiTaskNet, data: TaskTensors, rows_per_tile: int) -> StepFunction:
    """The step function named ``kernel`` (already resolved: autograd, fused or native)."""
    if kernel == "fused":
        tile = rows_per_tile if data.weight.device.type == "cpu" else 1 << 62
        return FusedFitStep(net, data.states, data.actions, data.weight, tile).loss_and_grads
    if kernel == "native":
        return fqi_native.NativeFitStep(net, data.states, data.actions, data.weight).loss_and_grads
    return autograd_kernel(net, data)


@dataclass
class StopRule:
    """The patience rule's state per member, as device tensors (no host synchronisation per step)."""

    best: torch.Tensor  # (S,) float64, best loss so far
    wait: torch.Tensor  # (S,) long, steps since the last improvement
    steps: torch.Tensor  # (S,) long, steps taken
    diverged: torch.Tensor  # (S,) bool
    running: torch.Tensor  # (S,) bool

    @classmethod
    def start(cls, active: torch.Tensor) -> StopRule:
        return cls(torch.full(active.shape, float("inf"), dtype=torch.float64, device=active.device),
                   torch.zeros(active.shape, dtype=torch.long, device=active.device),
                   torch.zeros(active.shape, dtype=torch.long, device=active.device),
                   torch.zeros_like(active), active.clone())

    def take(self, index: torch.Tensor) -> StopRule:
        return StopRule(*(getattr(self, f)[index] for f in self.fields()))

    def put(self, index: torch.Tensor, part: StopRule) -> None:
        for f in self.fields():
            getattr(self, f)[index] = getattr(part, f)

    @staticmethod
    def fields() -> tuple[str, ...]:
        return ("best", "wait", "steps", "diverged", "running")

    def update(self, loss: torch.Tensor, patience: int, tolerance: float, max_steps: int | None) -> None:
        """After a step with losses ``loss`` (S,): a non-finite loss marks the member diverged; it stops
        once its loss has not improved on its best by more than ``tolerance`` for ``patience`` steps,
        or after ``max_steps``. In place and without branches: a step taken when no member runs changes
        nothing (``steps``, ``best``, ``running`` and ``diverged`` move only where ``running``; ``wait``
        of a stopped member is never read again)."""
        bad = ~torch.isfinite(loss)
        self.diverged |= bad & self.running
        self.running &= ~bad
        self.steps += self.running.long()
        current = loss.detach().double()
        improved = current < self.best - tolerance
        self.best.copy_(torch.where(self.running & improved, current, self.best))
        self.wait.copy_(torch.where(improved, torch.zeros_like(self.wait), self.wait + 1))
        self.running &= self.wait < patience
        if max_steps is not None:
            self.running &= self.steps < max_steps


class Packed:
    """The members ``index`` of a net and its Adam, gathered into their own (smaller) batch.

    Parameters, Adam state, targets and the stopping rule are copies; :meth:`write_back` scatters them.
    """

    def __init__(self, net: SharedMultiTaskNet, optimizer: MemberAdam, targets: torch.Tensor, rule: StopRule,
                 index: torch.Tensor):
        self.net, self.optimizer, self.index, self.rule = net, optimizer, index, rule
        self.names = list(net.params)
        by_id = {id(p): i for i, p in enumerate(optimizer.params)}
        self.slots = [by_id[id(net.params[name])] for name in self.names]
        self.params = {name: net.params[name].detach()[index].clone() for name in self.names}
        self.exp_avg = [optimizer.exp_avg[slot][index].clone() for slot in self.slots]
        self.exp_avg_sq = [optimizer.exp_avg_sq[slot][index].clone() for slot in self.slots]
        self.adam_steps = optimizer.steps[index].clone()
        self.targets = targets[index]
        self.state = rule.take(index)

    def write_back(self) -> None:
        with torch.no_grad():
            for name, slot, m, v in zip(self.names, self.slots, self.exp_avg, self.exp_avg_sq):
                self.net.params[name][self.index] = self.params[name]
                self.optimizer.exp_avg[slot][self.index] = m
                self.optimizer.exp_avg_sq[slot][self.index] = v
            self.optimizer.steps[self.index] = self.adam_steps
        self.rule.put(self.index, self.state)


StepRule = Callable[[Packed, StepFunction, bool], Callable[[], torch.Tensor]]
"""How a fit steps: (packed members, step function, whether it is the native kernel) -> a callable
that takes one step of every running member of the pack (masking the others) and returns the losses
(S,) at which that step was taken. :func:`adam_steps` is the paper's; the stopping rule is applied by
:func:`fit`, the same for every step rule."""


def adam_steps(packed: Packed, kernel: StepFunction, native: bool) -> Callable[[], torch.Tensor]:
    """The paper's step: the loss and gradients at the current parameters, then one Adam step
    (:func:`mtrl_bench.optim.adam_update`; with the native kernel its compiled twin, equal to float32
    round-off) of every running member whose loss is finite; the others are put back unchanged."""
    opt = packed.optimizer
    scratch = [(torch.empty_like(p), torch.empty_like(p)) for p in packed.params.values()]

    @torch.no_grad()
    def python_adam(grads: dict[str, torch.Tensor], on: torch.Tensor) -> None:
        packed.adam_steps += on.to(packed.adam_steps.dtype)
        bias1 = 1 - opt.betas[0] ** packed.adam_steps
        bias2 = 1 - opt.betas[1] ** packed.adam_steps
        for name, m, v, work in zip(packed.names, packed.exp_avg, packed.exp_avg_sq, scratch):
            p = packed.params[name]
            keep = (p.clone(), m.clone(), v.clone())
            adam_update(p, grads[name], m, v, bias1, bias2, opt.lr, opt.betas, opt.eps, opt.weight_decay, work)
            mask = on.view((-1,) + (1,) * (p.dim() - 1))
            for now, before in zip((p, m, v), keep):
                now.copy_(torch.where(mask, now, before))

    def native_adam(grads: dict[str, torch.Tensor], on: torch.Tensor) -> None:
        fqi_native.adam_step([packed.params[n] for n in packed.names], packed.exp_avg, packed.exp_avg_sq,
                             [grads[n] for n in packed.names], on, packed.adam_steps, opt.lr, opt.betas, opt.eps,
                             opt.weight_decay)

    update = native_adam if native else python_adam

    def one_step() -> torch.Tensor:
        loss, grads = kernel(packed.params, packed.targets)
        update(grads, packed.state.running & torch.isfinite(loss))
        return loss

    return one_step


def fit(net: SharedMultiTaskNet, optimizer: MemberAdam, data: TaskTensors, targets: torch.Tensor,
        active: torch.Tensor, patience: int, tolerance: float,
        max_steps: int | None, options: FitOptions | None = None,
        steps: StepRule = adam_steps) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit every active member (S,) bool to ``targets`` (S, T, N): full-batch steps (``steps``; the
    paper's Adam with its state in ``optimizer`` by default) on the MSE over the union of all tasks' rows
    until the :class:`StopRule` stops it. Returns (steps taken (S,), diverged (S,) bool).

    ``options`` chooses how the steps run (:class:`FitOptions`; None = :data:`REFERENCE`). Every member's
    numbers equal the step-by-step loop's: a member that has stopped is frozen by masking, so steps taken
    after it stopped (between host checks) change nothing.
    """
    options = options or REFERENCE
    kernel_name = resolve_kernel(options.kernel, net, data)
    kernel = step_function(kernel_name, net, data, options.rows_per_tile)
    rule = StopRule.start(active)
    sync = options.sync_every
    repack = 0 if options.repack_every == 0 else -(-options.repack_every // sync) * sync
    use_graph = options.cuda_graph and kernel_name == "fused" and data.weight.device.type == "cuda"
    index = torch.nonzero(rule.running).squeeze(1)
    while index.numel() > 0:
        packed = Packed(net, optimizer, targets, rule, index)
        take = steps(packed, kernel, kernel_name == "native")

        def one_step(packed: Packed = packed, take=take) -> None:
            packed.state.update(take(), patience, tolerance, max_steps)

        step = _graph_of(one_step) if use_graph else one_step
        taken = 0
        while True:
            for _ in range(sync):
                step()
            taken += sync
            if not bool(packed.state.running.any()) or (repack and taken >= repack):
                break
        packed.write_back()
        if not repack:
            break
        index = torch.nonzero(rule.running).squeeze(1)
    return rule.steps, rule.diverged


def _graph_of(one_step: Callable[[], None]) -> Callable[[], None]:
    """``one_step`` captured in a CUDA graph; the warm-up steps on a side stream are real steps."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            one_step()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        one_step()
    return graph.replay
