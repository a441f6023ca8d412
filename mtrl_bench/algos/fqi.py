"""Multi-task Fitted Q-Iteration (MFQI) on the Car-On-Hill family, seeds as a batch dimension.

Pseudo-code (D'Eramo et al. 2020, Sec. 5.1), for S independent runs at once:

    Q_0 = the initial network
    for k = 1..K:
        y_t,i = r_t,i                                            if k = 1
        y_t,i = r_t,i + gamma (1 - absorbing_t,i) max_a' Q_{k-1,t}(s'_t,i, a')   otherwise
        Q_k = fit(Q_{k-1}, {(s_t,i, a_t,i) -> y_t,i} over all tasks t)   # warm-started
        record avi_diff, approx_error and J for every task and run

``fit`` is the paper's rule: full-batch Adam steps on the mean squared error over the union of all
tasks' training transitions until the loss has not improved by more than ``tolerance`` for
``patience`` consecutive steps, capped at ``max_fit_steps`` (None = uncapped, the paper). The
network and the optimiser are warm-started across iterations.

Recorded per iteration k, task and seed:

* ``avi_diff``: mean |Q*(s, a) - Q_k(s, a)| over the paper's 200 test pairs;
* ``approx_error``: mean squared error of Q_k against the iteration's targets on held-out
  transitions (the eps_k of the bounds: ||Q_k - T* Q_{k-1}||^2 estimated on unseen data; exact
  Bellman targets since the dynamics are deterministic);
* ``J``: discounted return of the greedy policy of Q_k from the start state (-0.5, 0);
* ``fit_steps``: the Adam steps the fit took.

A run (seed) whose loss becomes NaN or infinite stops there: it gets a ``diverged`` row per task
and no further metrics, and the other runs go on.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from mtrl_bench.device import resolve_device
from mtrl_bench.errors import ConfigError
from mtrl_bench.nets import NetSpec, SharedMultiTaskNet
from mtrl_bench.optim import MemberAdam
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.datasets import DatasetSpec, Transitions, load_or_generate
from mtrl_bench.tasks.car_on_hill.qstar import paper_test_grid


@dataclass
class FQIConfig:
    """Hyper-parameters of one MFQI job (paper values as defaults, except the step cap)."""

    variants: list[str] = field(default_factory=lambda: ["0"])
    seeds: list[int] = field(default_factory=lambda: [0])
    shared_width: int = 30
    input_width: int = 30
    iterations: int = 50
    learning_rate: float = 1e-3
    patience: int = 100
    tolerance: float = 1e-6
    max_fit_steps: int | None = None
    holdout_fraction: float = 0.1
    gamma: float = coh.GAMMA
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    data_dir: str | None = None
    device: str = "auto"

    def validate(self) -> None:
        if not self.variants:
            raise ConfigError("give at least one Car-On-Hill variant (--variants)")
        if len({coh.variant(v) for v in self.variants}) != len(self.variants):
            raise ConfigError(f"variants repeat a task: {self.variants}")
        if not self.seeds:
            raise ConfigError("the seed list is empty: give at least one seed (--seeds)")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds repeat: {self.seeds}")
        if self.shared_width < 1 or self.input_width < 1:
            raise ConfigError(f"widths must be positive, got shared_width={self.shared_width}, "
                              f"input_width={self.input_width}")
        if self.iterations < 1:
            raise ConfigError(f"iterations must be >= 1, got {self.iterations}")
        if self.max_fit_steps is not None and self.max_fit_steps < 1:
            raise ConfigError(f"max_fit_steps must be >= 1 (or none), got {self.max_fit_steps}")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ConfigError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction}")
        if self.patience < 1 or self.learning_rate <= 0:
            raise ConfigError("patience must be >= 1 and learning_rate > 0")


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


def split_holdout(data: Transitions, fraction: float, seed: int) -> tuple[Transitions, Transitions]:
    """Hold out a random ``fraction`` of whole episodes (so held-out rows are unseen trajectories)."""
    rng = np.random.default_rng(seed)
    episodes = np.unique(data.episode)
    n_held = max(1, int(round(fraction * len(episodes))))
    held = rng.choice(episodes, size=n_held, replace=False)
    is_held = np.isin(data.episode, held)
    return data.subset(np.nonzero(~is_held)[0]), data.subset(np.nonzero(is_held)[0])


def bellman_targets(net: SharedMultiTaskNet | None, data: TaskTensors, gamma: float) -> torch.Tensor:
    """y = r + gamma (1 - absorbing) max_a' Q(s', a') per member: (S, T, N); just r when ``net`` is None."""
    if net is None:
        return data.rewards
    with torch.no_grad():
        next_q = net(data.next_states).max(dim=-1).values
    return data.rewards + gamma * data.not_absorbing * next_q


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


def fit(net: SharedMultiTaskNet, optimizer: MemberAdam, data: TaskTensors, targets: torch.Tensor,
        active: torch.Tensor, patience: int, tolerance: float,
        max_steps: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's fit rule, for every active member at once.

    Full-batch Adam steps on the MSE over the union of all tasks' rows; a member stops once its loss
    has not improved by more than ``tolerance`` for ``patience`` consecutive steps (or after
    ``max_steps``). Returns (steps taken (S,), diverged (S,) bool).
    """
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


def greedy_return(net: SharedMultiTaskNet, params: list[coh.CarOnHillParams], gamma: float) -> np.ndarray:
    """Discounted return (S, T) of the greedy policy from the start state over the horizon."""
    n_members, n_tasks = net.n_members, len(params)
    mass = np.array([p.mass for p in params])[None, :]
    gravity = np.array([p.gravity for p in params])[None, :]
    force = np.array([p.action for p in params])[None, :]
    state = np.broadcast_to(np.array(coh.START_STATE), (n_members, n_tasks, 2)).copy()
    alive = np.ones((n_members, n_tasks), dtype=bool)
    ret = np.zeros((n_members, n_tasks))
    dtype = next(net.parameters()).dtype
    device = next(net.parameters()).device
    with torch.no_grad():
        for t in range(coh.HORIZON):
            obs = torch.as_tensor(state, dtype=dtype, device=device)[:, :, None, :]
            action = net(obs)[:, :, 0, :].argmax(-1).cpu().numpy()
            nxt, reward, absorbing = coh.step(state, action, mass, gravity, force)
            ret += np.where(alive, gamma**t * reward, 0.0)
            alive &= ~absorbing
            state = np.where(alive[..., None], nxt, state)
            if not alive.any():
                break
    return ret


def run_fqi(config: FQIConfig, q_star: dict[str, np.ndarray], log=print) -> tuple[list[dict], dict]:
    """Run MFQI for every seed of ``config`` at once.

    Args:
        q_star: variant name -> (200,) Q* on the paper's test grid (see solvers.car_on_hill_qstar).
    Returns:
        (tidy rows, extra provenance: failed seeds, wall time per iteration).
    """
    config.validate()
    device = resolve_device(config.device)
    dtype = torch.float32
    params = [coh.variant(v) for v in config.variants]
    names = [p.name for p in params]
    missing = [n for n in names if n not in q_star]
    if missing:
        raise ConfigError(f"no Q* table for variants {missing}: run `mtrl-bench qstar` for them first")

    train_sets, held_sets = [], []
    for t, p in enumerate(params):
        data = load_or_generate(p, config.dataset, config.data_dir)
        train, held = split_holdout(data, config.holdout_fraction, seed=config.dataset.seed * 1000 + t)
        train_sets.append(train)
        held_sets.append(held)
    train = TaskTensors.stack(train_sets, device, dtype)
    held = TaskTensors.stack(held_sets, device, dtype)
    grid_states, grid_actions = paper_test_grid()
    grid = torch.as_tensor(grid_states, dtype=dtype, device=device).expand(len(params), -1, -1)
    grid_a = torch.as_tensor(grid_actions, device=device).expand(len(params), -1)
    truth = torch.as_tensor(np.stack([q_star[n] for n in names]), dtype=dtype, device=device)

    spec = NetSpec(n_tasks=len(params), obs_dim=2, n_actions=[coh.N_ACTIONS] * len(params),
                   input_width=config.input_width, shared_widths=(config.shared_width,))
    net = SharedMultiTaskNet(spec, config.seeds, device=device, dtype=dtype)
    optimizer = MemberAdam(net.parameters(), lr=config.learning_rate)
    active = torch.ones(net.n_members, dtype=torch.bool, device=device)

    rows: list[dict] = []
    base = {"experiment": "fqi", "algorithm": "mfqi" if len(params) > 1 else "fqi",
            "variants": "+".join(names), "n_tasks": len(params), "width": config.shared_width}
    failed: dict[int, int] = {}
    iteration_times = []
    previous: SharedMultiTaskNet | None = None
    for k in range(1, config.iterations + 1):
        started = time.time()
        train_targets = bellman_targets(previous, train, config.gamma).expand(net.n_members, -1, -1)
        held_targets = bellman_targets(previous, held, config.gamma).expand(net.n_members, -1, -1)
        steps, diverged = fit(net, optimizer, train, train_targets, active, config.patience,
                              config.tolerance, config.max_fit_steps)
        with torch.no_grad():
            finite = torch.stack([torch.isfinite(p).flatten(1).all(1) for p in net.parameters()]).all(0)
            diverged |= active & ~finite
            q_grid = net(grid).gather(-1, grid_a.expand(net.n_members, -1, -1).unsqueeze(-1)).squeeze(-1)
            avi_diff = (q_grid - truth).abs().mean(-1)  # (S, T)
            approx_error = weighted_mse(net, held, held_targets)
        returns = greedy_return(net, params, config.gamma)
        for s, seed in enumerate(config.seeds):
            if not bool(active[s]):
                continue
            if bool(diverged[s]):
                failed[seed] = k
                rows += [{**base, "task": n, "seed": seed, "step": k, "metric": "diverged", "value": k}
                         for n in names]
                continue
            for t, n in enumerate(names):
                for metric, value in (("avi_diff", avi_diff[s, t]), ("approx_error", approx_error[s, t]),
                                      ("J", returns[s, t]), ("fit_steps", steps[s])):
                    rows.append({**base, "task": n, "seed": seed, "step": k, "metric": metric,
                                 "value": float(value)})
        active &= ~diverged
        iteration_times.append(time.time() - started)
        log(f"fqi: iteration {k}/{config.iterations}: {time.time() - started:.1f} s, fit steps "
            f"{steps.min().item()}-{steps.max().item()}, mean avi_diff {avi_diff[active].mean().item():.4f}"
            if bool(active.any()) else f"fqi: iteration {k}: every seed diverged")
        if not bool(active.any()):
            break
        # The targets of the next iteration come from a frozen copy of Q_k.
        previous = copy.deepcopy(net).requires_grad_(False)
    extra = {"failed_seeds": failed, "iteration_seconds": [round(x, 3) for x in iteration_times],
             "config_resolved": asdict(config)}
    return rows, extra
