"""The task contract shared by every family, and the one input format of a multi-task network.

* :class:`TaskSpec`: a task is *discrete* (``n_actions`` >= 1, one integer action) or *continuous*
  (``action_dim`` >= 1 and per-dimension bounds ``action_low``/``action_high``); ``action_kind`` says
  which. The discrete tasks (:mod:`.multitask`) carry batched numpy physics; engine-backed continuous
  tasks (:mod:`.continuous`) carry ``make_env``.
* :func:`pad_observations`, :func:`action_mask`: observations are zero-padded to the largest dimension
  of the task set, and each task's head is masked to its own actions (or action dimensions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from mtrl_bench.errors import ConfigError


@dataclass(frozen=True)
class TaskSpec:
    """One task: sizes, horizon (steps), discount, its action set and how to simulate it.

    Actions: a discrete task has ``n_actions`` >= 1 (actions 0..n_actions-1) and ``action_dim`` 0; a
    continuous task has ``action_dim`` >= 1, ``n_actions`` 0, and finite bounds ``action_low`` <
    ``action_high`` (tuples of length ``action_dim``, the engine's own units); see ``action_kind``.

    Batched physics (the discrete families of this module):
    ``reset(uniform (..., n_reset_uniforms)) -> states (..., state_dim)``,
    ``step(states, actions, uniform (...)) -> (next_states, rewards, terminated)`` where ``uniform``
    is one draw in [0, 1) per environment and step (used by noisy tasks only),
    ``observe(states) -> (..., obs_dim) float32``; ``observe_start`` for states just reset.
    ``make_reference()`` builds the gymnasium environment this physics reproduces.

    Engine-backed tasks (:mod:`.continuous`): ``make_env()`` builds the task as one gymnasium
    environment (its own time limit ``horizon``, actions in [-1, 1]^action_dim scaled to the bounds).
    """

    name: str
    obs_dim: int
    horizon: int
    gamma: float
    n_actions: int = 0
    action_dim: int = 0
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()
    state_dim: int = 0
    n_reset_uniforms: int = 0
    reset: Callable[[np.ndarray], np.ndarray] | None = None
    step: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple] | None = None
    observe: Callable[[np.ndarray], np.ndarray] | None = None
    make_reference: Callable[[], gym.Env] | None = None
    observe_start: Callable[[np.ndarray], np.ndarray] | None = None
    make_env: Callable[[], gym.Env] | None = None

    def __post_init__(self) -> None:
        if self.n_actions < 1 and self.action_dim < 1:
            raise ConfigError(f"task {self.name!r} has {self.n_actions} actions and action_dim {self.action_dim}: "
                              "a head needs at least one (n_actions if discrete, action_dim if continuous)")
        if self.n_actions >= 1 and self.action_dim != 0:
            raise ConfigError(f"task {self.name!r}: give n_actions (discrete) or action_dim (continuous), not both")
        if self.obs_dim < 1 or self.horizon < 1 or not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(f"task {self.name!r}: obs_dim and horizon must be >= 1 and gamma in [0, 1]")
        if self.action_kind == "discrete":
            if self.action_low or self.action_high:
                raise ConfigError(f"task {self.name!r} is discrete: action bounds belong to continuous tasks")
            return
        low, high = np.asarray(self.action_low, dtype=float), np.asarray(self.action_high, dtype=float)
        if low.shape != (self.action_dim,) or high.shape != (self.action_dim,):
            raise ConfigError(f"task {self.name!r}: action_low and action_high need {self.action_dim} entries each")
        if not (np.isfinite(low).all() and np.isfinite(high).all() and (low < high).all()):
            raise ConfigError(f"task {self.name!r}: action bounds must be finite with low < high")

    @property
    def action_kind(self) -> str:
        """``"discrete"`` (``n_actions`` integer actions) or ``"continuous"`` (``action_dim`` reals)."""
        return "discrete" if self.n_actions >= 1 else "continuous"



def pad_observations(obs: np.ndarray, obs_dim: int) -> np.ndarray:
    """Zero-pad (..., d) observations to (..., obs_dim); d > obs_dim is a :class:`ConfigError`."""
    obs = np.asarray(obs)
    if obs.shape[-1] > obs_dim:
        raise ConfigError(f"an observation of dimension {obs.shape[-1]} does not fit the padding to {obs_dim}")
    padded = np.zeros((*obs.shape[:-1], obs_dim), dtype=np.float32)
    padded[..., :obs.shape[-1]] = obs
    return padded


def action_mask(n_actions: Sequence[int]) -> np.ndarray:
    """(T, max(n_actions)) bool: True where task t has action a. For continuous tasks pass the action
    dimensions: True where task t uses action dimension d (the others are padding, never sent)."""
    counts = [int(n) for n in n_actions]
    if not counts or min(counts) < 1:
        raise ConfigError(f"every task head needs at least one action, got n_actions={counts}")
    return np.arange(max(counts))[None, :] < np.asarray(counts)[:, None]
