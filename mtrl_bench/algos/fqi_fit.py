"""The paper's fit rule for (multi-task) FQI: full-batch Adam on the union of all tasks' rows, with
patience-based stopping per member (seed), members as a batch dimension.

``fit`` takes Adam steps for every member until its training loss has not improved by more than
``tolerance`` for ``patience`` consecutive steps (or ``max_steps``). Members are independent: a
stopped or diverged member's parameters and Adam state no longer change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mtrl_bench.algos import fqi_native
from mtrl_bench.algos.fqi_fused import ROWS_PER_TILE as ROWS_PER_TILE_DEFAULT
from mtrl_bench.algos.fqi_fused import FusedFitStep
from mtrl_bench.errors import ConfigError
from mtrl_bench.nets import SharedMultiTaskNet
from mtrl_bench.optim import MemberAdam
from mtrl_bench.tasks.car_on_hill.datasets import Transitions


@dataclass
class TaskTensors:
    """All tasks' transitions padded to one length; ``weight`` is 1 on real rows, 0 on padding."""

    states: torch.Tensor  # (T, N, 2)
    actions: torch.Tensor  # (T, N) long
    rewards: torch.Tensor  # (T, N)
    next_states: torch.Tensor  # (T, N, 2)
    not_absorbing: torch.Tensor  # (T, N)
    weight: torch.Tensor  # (T, N)

    @classmethod
    def stack(cls, sets: list[Transitions], device: torch.device, dtype: torch.dtype) -> TaskTensors:
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


def member_blocks(n_members: int, rows_per_member: int, rows_per_block: int = ROWS_PER_BLOCK) -> list[slice]:
    """Contiguous blocks of members with at most ``rows_per_block`` rows each (at least one member)."""
    size = max(1, rows_per_block // max(1, rows_per_member))
    return [slice(start, min(start + size, n_members)) for start in range(0, n_members, size)]


def fit_blocks(net: SharedMultiTaskNet, data: TaskTensors) -> list[slice]:
    """Member blocks for one fit step: cache-sized on a CPU, all members at once on a GPU."""
    if data.weight.device.type != "cpu":
        return [slice(0, net.n_members)]
    return member_blocks(net.n_members, data.weight.shape[0] * data.weight.shape[1], ROWS_PER_BLOCK)


def fit_step(net: SharedMultiTaskNet, optimizer: MemberAdam, data: TaskTensors, targets: torch.Tensor,
             share: torch.Tensor, running: torch.Tensor, blocks: list[slice]) -> torch.Tensor:
    """One full-batch Adam step of every running member whose loss is finite; returns the losses (S,)
    (0 for members of blocks with no running member).

    The loss of a member is the MSE over the union of all tasks' rows (task MSEs weighted by
    ``share``). Members are independent, so each block's backward gives exactly its members'
    gradients: blocks change the memory footprint, not the result.
    """
    optimizer.zero_grad()
    losses = []
    for block in blocks:
        if not bool(running[block].any()):  # a block of stopped members: nothing to compute
            losses.append(torch.zeros(block.stop - block.start, device=running.device))
            continue
        loss = (weighted_mse(net, data, targets[block], block) * share).sum(-1)
        usable = running[block] & torch.isfinite(loss)
        if bool(usable.any()):
            torch.where(usable, loss, torch.zeros_like(loss)).sum().backward()
        losses.append(loss.detach())
    loss = torch.cat(losses)
    optimizer.step(running & torch.isfinite(loss))
    return loss


FIT_KERNELS = ("autograd", "fused", "native", "auto")


@dataclass(frozen=True)
class FitOptions:
    """How :func:`fit` runs (never what it computes: every choice gives the paper's rule).

    kernel: "autograd" (reference), "fused" (:mod:`mtrl_bench.algos.fqi_fused`, hand-derived
        gradients over row tiles in torch; any device), "native" (:mod:`mtrl_bench.algos.fqi_native`,
        the same gradients as a C kernel compiled for this CPU; float32, one shared layer) or "auto"
        (native where it can run, else fused). All equal the reference to float32 round-off.
    sync_every: steps between host checks of "is any member still running". 1 with the autograd kernel
        and no re-packing is the step-by-step loop; otherwise the stopping rule lives in device tensors.
    repack_every: every this many steps (rounded up to a multiple of ``sync_every``) the running
        members are gathered into a smaller batch, so stopped members stop costing arithmetic; 0 = never.
        Bit-identical results need a batched product whose per-matrix result does not depend on the
        batch size: true of this CPU build's MKL for the products used (tests/test_fqi_fit.py checks
        it; the orientation grad @ [z; 1]^T of the weight gradients matters); a GPU library that picks
        another algorithm for a smaller batch would give results equal to round-off instead.
    cuda_graph: capture one step (kernel, Adam, stopping rule) in a CUDA graph and replay it
        (fused kernel on a CUDA device only; ignored elsewhere).
    rows_per_tile: the fused kernel's tile size (rows of all members and tasks per tile).
    """

    kernel: str = "autograd"
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

    @property
    def step_by_step(self) -> bool:
        return self.kernel == "autograd" and self.sync_every == 1 and self.repack_every == 0


def fit(net: SharedMultiTaskNet, optimizer: MemberAdam, data: TaskTensors, targets: torch.Tensor,
        active: torch.Tensor, patience: int, tolerance: float,
        max_steps: int | None, options: FitOptions | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's fit rule, for every active member at once.

    Full-batch Adam steps on the MSE over the union of all tasks' rows; a member stops once its loss
    has not improved by more than ``tolerance`` for ``patience`` consecutive steps (or after
    ``max_steps``). Returns (steps taken (S,), diverged (S,) bool). ``options`` chooses how the steps
    run (see :class:`FitOptions`); the default is the reference step-by-step loop.
    """
    options = options or FitOptions()
    if options.step_by_step:
        return _fit_step_by_step(net, optimizer, data, targets, active, patience, tolerance, max_steps)
    return _fit_on_device(net, optimizer, data, targets, active, patience, tolerance, max_steps, options)


def _fit_step_by_step(net: SharedMultiTaskNet, optimizer: MemberAdam, data: TaskTensors, targets: torch.Tensor,
                      active: torch.Tensor, patience: int, tolerance: float,
                      max_steps: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference loop: one host check of the stopping rule per step."""
    counts = data.weight.sum(-1)  # (T,)
    share = counts / counts.sum()  # union MSE = task MSEs weighted by their share of rows
    best = torch.full((net.n_members,), float("inf"), device=counts.device, dtype=torch.float64)
    wait = torch.zeros(net.n_members, dtype=torch.long, device=counts.device)
    steps = torch.zeros(net.n_members, dtype=torch.long, device=counts.device)
    diverged = torch.zeros(net.n_members, dtype=torch.bool, device=counts.device)
    running = active.clone()
    blocks = fit_blocks(net, data)
    while bool(running.any()):
        loss = fit_step(net, optimizer, data, targets, share, running, blocks)
        bad = ~torch.isfinite(loss)
        diverged |= bad & running
        running &= ~bad
        if not bool(running.any()):
            break
        steps += running.long()
        current = loss.detach().double()
        improved = current < best - tolerance
        best = torch.where(running & improved, current, best)
        wait = torch.where(improved, torch.zeros_like(wait), wait + 1)
        running &= wait < patience
        if max_steps is not None:
            running &= steps < max_steps
    return steps, diverged


@dataclass
class StopRule:
    """The patience rule's state per member, as device tensors: no host synchronisation per step."""

    best: torch.Tensor  # (S,) float64, best loss so far
    wait: torch.Tensor  # (S,) long, steps since the last improvement
    steps: torch.Tensor  # (S,) long, Adam steps taken
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
        """The step-by-step rule after a step with losses ``loss`` (S,), in place and without branches.

        A step taken when no member runs changes nothing (``steps``, ``best``, ``running`` and
        ``diverged`` move only where ``running``; ``wait`` of a stopped member is never read again).
        """
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


class _Packed:
    """The members ``index`` of a net and its optimiser, gathered into their own (smaller) batch.

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

    @torch.no_grad()
    def adam_step(self, grads: dict[str, torch.Tensor], active: torch.Tensor) -> None:
        """MemberAdam's step, written without host synchronisation: inactive members are masked back.

        The arithmetic of an active member is MemberAdam.step's, operation for operation (checked by
        the tests against the step-by-step loop, which uses MemberAdam itself).
        """
        opt = self.optimizer
        beta1, beta2 = opt.betas
        decay = float(getattr(opt, "weight_decay", 0.0))
        self.adam_steps += active.to(self.adam_steps.dtype)
        bias1 = 1 - beta1 ** self.adam_steps
        bias2 = 1 - beta2 ** self.adam_steps
        for name, m, v in zip(self.names, self.exp_avg, self.exp_avg_sq):
            p, g = self.params[name], grads[name]
            shape = (-1,) + (1,) * (p.dim() - 1)
            on = active.view(shape)
            if decay:
                g = g.add(p, alpha=decay)
            new_m = m * beta1 + g * (1 - beta1)
            new_v = v * beta2 + g * (1 - beta2) * g
            b1 = bias1.clamp(min=1e-30).to(p.dtype).view(shape)
            b2 = bias2.clamp(min=1e-30).to(p.dtype).view(shape)
            denom = new_v.sqrt() / b2.sqrt() + opt.eps
            new_p = p - new_m / b1 / denom * opt.lr
            m.copy_(torch.where(on, new_m, m))
            v.copy_(torch.where(on, new_v, v))
            p.copy_(torch.where(on, new_p, p))

    def adam_step_native(self, grads: dict[str, torch.Tensor], active: torch.Tensor) -> None:
        """:meth:`adam_step` as one compiled call (:func:`mtrl_bench.algos.fqi_native.adam_step`), equal to
        float32 round-off; for the native kernel, whose per-step cost it cuts to one call."""
        opt = self.optimizer
        fqi_native.adam_step([self.params[n] for n in self.names], self.exp_avg, self.exp_avg_sq,
                             [grads[n] for n in self.names], active, self.adam_steps, opt.lr, opt.betas, opt.eps,
                             float(getattr(opt, "weight_decay", 0.0)))

    def write_back(self) -> None:
        with torch.no_grad():
            for name, slot, m, v in zip(self.names, self.slots, self.exp_avg, self.exp_avg_sq):
                self.net.params[name][self.index] = self.params[name]
                self.optimizer.exp_avg[slot][self.index] = m
                self.optimizer.exp_avg_sq[slot][self.index] = v
            self.optimizer.steps[self.index] = self.adam_steps
        self.rule.put(self.index, self.state)


def _autograd_kernel(net: SharedMultiTaskNet, data: TaskTensors, share: torch.Tensor):
    """(params, targets) -> (loss (S,), grads): the reference step's arithmetic on a packed batch."""
    rows = data.weight.shape[0] * data.weight.shape[1]

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


def _fused_kernel(net: SharedMultiTaskNet, data: TaskTensors, rows_per_tile: int):
    fused = FusedFitStep(net, data.states, data.actions, data.weight, rows_per_tile)
    return fused.loss_and_grads


def resolve_kernel(kernel: str, net: SharedMultiTaskNet, data: TaskTensors) -> str:
    """The kernel that runs: "auto" becomes "native" where the compiled kernel can run, else "fused"."""
    if kernel != "auto":
        return kernel
    return "native" if fqi_native.available(net.spec, data.states.device, data.states.dtype) else "fused"


def _native_kernel(net: SharedMultiTaskNet, data: TaskTensors):
    return fqi_native.NativeFitStep(net, data.states, data.actions, data.weight).loss_and_grads


def _fit_on_device(net: SharedMultiTaskNet, optimizer: MemberAdam, data: TaskTensors, targets: torch.Tensor,
                   active: torch.Tensor, patience: int, tolerance: float, max_steps: int | None,
                   options: FitOptions) -> tuple[torch.Tensor, torch.Tensor]:
    """The fit rule with the stopping rule in device tensors (see :class:`FitOptions`).

    Every member's numbers equal the step-by-step loop's: a member that has stopped is frozen by
    masking (its Adam step is masked out), so steps taken after it stopped change nothing.
    """
    counts = data.weight.sum(-1)
    share = counts / counts.sum()
    kernel_name = resolve_kernel(options.kernel, net, data)
    if kernel_name == "fused":
        rows_per_tile = options.rows_per_tile if data.weight.device.type == "cpu" else 1 << 62
        kernel = _fused_kernel(net, data, rows_per_tile)
    elif kernel_name == "native":
        kernel = _native_kernel(net, data)
    else:
        kernel = _autograd_kernel(net, data, share)
    rule = StopRule.start(active)
    sync = options.sync_every
    repack = 0 if options.repack_every == 0 else -(-options.repack_every // sync) * sync
    use_graph = options.cuda_graph and kernel_name == "fused" and data.weight.device.type == "cuda"
    index = torch.nonzero(rule.running).squeeze(1)
    while index.numel() > 0:
        packed = _Packed(net, optimizer, targets, rule, index)

        adam = packed.adam_step_native if kernel_name == "native" else packed.adam_step

        def one_step(packed: _Packed = packed, adam=adam) -> None:
            loss, grads = kernel(packed.params, packed.targets)
            adam(grads, packed.state.running & torch.isfinite(loss))
            packed.state.update(loss, patience, tolerance, max_steps)

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


def _graph_of(one_step):
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
