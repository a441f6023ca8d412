"""Multi-task Fitted Q-Iteration (MFQI), the learner: seeds as a batch dimension, any task family.

:class:`FQILearner` does one iteration per :meth:`FQILearner.iterate` (targets, then a warm-started fit by
:mod:`mtrl_bench.algos.fqi_fit`); transitions come in as arrays (:class:`mtrl_bench.tasks.family.TransitionData`).

Design notes: docs/fqi.md#the-mfqi-learner.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mtrl_bench.algos.fqi_fit import FitOptions, TaskTensors, fit, weighted_mse
from mtrl_bench.errors import ConfigError
from mtrl_bench.nets import NetSpec, SharedMultiTaskNet
from mtrl_bench.optim import MemberAdam
from mtrl_bench.tasks.family import Policy, TransitionData


def split_holdout(data: TransitionData, fraction: float, seed: int) -> tuple[TransitionData, TransitionData]:
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


FIT_RULES = {"paper": None, "fast": 1e-2}
"""Named fit rules, each full-batch Adam with the same stopping rule (patience, tolerance, cap): "paper"
steps at the configured learning rate (the paper's 1e-3), "fast" at 1e-2, ten times the paper's
(what that costs and what it changes: docs/fqi.md)."""


def rule_learning_rate(fit_rule: str, learning_rate: float) -> float:
    """The Adam step size of ``fit_rule`` (:data:`FIT_RULES`) given the configured ``learning_rate``."""
    if fit_rule not in FIT_RULES:
        raise ConfigError(f"fit_rule must be one of {list(FIT_RULES)}, got {fit_rule!r}")
    fixed = FIT_RULES[fit_rule]
    return learning_rate if fixed is None else fixed


@dataclass(frozen=True)
class FitRule:
    """When a fit stops: ``patience`` steps without an improvement of more than ``tolerance`` (loss
    units), or ``max_steps`` Adam steps (None: no cap). ``learning_rate`` is Adam's step size;
    ``options`` says how the steps run (:class:`~mtrl_bench.algos.fqi_fit.FitOptions`; never what they
    compute; by default the default kernel with a host check after every step)."""

    learning_rate: float
    patience: int
    tolerance: float
    max_steps: int | None
    options: FitOptions = FitOptions()


@dataclass
class Iteration:
    """What one FQI iteration did, per member: Adam steps (S,) long, diverged (S,) bool (this
    iteration, among the members that were active) and the held-out error (S, T) of Q_k against
    this iteration's Bellman targets."""

    fit_steps: torch.Tensor
    diverged: torch.Tensor
    approx_error: torch.Tensor


class FQILearner:
    """MFQI for S members (one per seed) on T tasks, one iteration at a time.

    ``train`` and ``held`` are the tasks' training and held-out transitions (one per task, in the
    task order of ``spec``). A member that diverges is marked inactive by :meth:`end_iteration`
    and no longer changes.
    """

    def __init__(self, spec: NetSpec, seeds: Sequence[int], train: Sequence[TransitionData],
                 held: Sequence[TransitionData], gamma: float, rule: FitRule,
                 device: torch.device, dtype: torch.dtype = torch.float32):
        self.spec, self.gamma, self.rule = spec, gamma, rule
        self.device, self.dtype = device, dtype
        self.train = TaskTensors.stack(list(train), device, dtype)
        self.held = TaskTensors.stack(list(held), device, dtype)
        self.net = SharedMultiTaskNet(spec, seeds, device=device, dtype=dtype)
        self.optimizer = MemberAdam(self.net.parameters(), lr=rule.learning_rate)
        self.active = torch.ones(self.net.n_members, dtype=torch.bool, device=device)
        self.previous: SharedMultiTaskNet | None = None  # frozen Q_{k-1}; None before the first iteration

    @property
    def n_members(self) -> int:
        return self.net.n_members

    def iterate(self) -> Iteration:
        """Fit Q_k to the Bellman targets of Q_{k-1} for every active member."""
        n_members = self.net.n_members
        train_targets = bellman_targets(self.previous, self.train, self.gamma).expand(n_members, -1, -1)
        held_targets = bellman_targets(self.previous, self.held, self.gamma).expand(n_members, -1, -1)
        steps, diverged = fit(self.net, self.optimizer, self.train, train_targets, self.active,
                              self.rule.patience, self.rule.tolerance, self.rule.max_steps, self.rule.options)
        with torch.no_grad():
            finite = torch.stack([torch.isfinite(p).flatten(1).all(1) for p in self.net.parameters()]).all(0)
            diverged |= self.active & ~finite
            approx_error = weighted_mse(self.net, self.held, held_targets)
        return Iteration(steps, diverged, approx_error)

    def end_iteration(self, diverged: torch.Tensor) -> None:
        """Retire the ``diverged`` (S,) members; the next targets come from a frozen copy of Q_k."""
        self.active &= ~diverged
        if bool(self.active.any()):
            self.previous = copy.deepcopy(self.net).requires_grad_(False)

    @torch.no_grad()
    def q_values(self, states: np.ndarray, actions: np.ndarray) -> torch.Tensor:
        """Q_k(s, a) (S, T, N) on per-task pairs: states (T, N, obs_dim), actions (T, N) int."""
        obs = torch.as_tensor(states, dtype=self.dtype, device=self.device)
        chosen = torch.as_tensor(actions, device=self.device).long()
        q = self.net(obs)
        return q.gather(-1, chosen.expand(q.shape[0], -1, -1).unsqueeze(-1)).squeeze(-1)

    def greedy_policy(self) -> Policy:
        """The greedy policy of Q_k: states (S, T, obs_dim) -> actions argmax_a Q_k,t(s, a) (S, T)."""
        net = self.net

        def policy(states: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                obs = torch.as_tensor(states, dtype=self.dtype, device=self.device)[:, :, None, :]
                return net(obs)[:, :, 0, :].argmax(-1).cpu().numpy()

        return policy
