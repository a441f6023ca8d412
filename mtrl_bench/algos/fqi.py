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

from mtrl_bench.algos.fqi_fit import TaskTensors, fit, weighted_mse
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
