"""The continuous-action task groups of the paper's DDPG experiment, on real physics engines.

Groups (:data:`GROUPS`, :func:`get_group`): ``pendulum``, ``pendulum_mujoco``, ``walker``; horizon 1000, gamma 0.99;
:func:`make_task_env`, :class:`MultiTaskView` (the group's padded format), :class:`StabilityGuard`.

Design notes: docs/tasks.md#the-continuous-task-groups.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit

from mtrl_bench.errors import ConfigError
from mtrl_bench.tasks import engines
from mtrl_bench.tasks.spec import TaskSpec, pad_observations

HORIZON = 1000
GAMMA = 0.99


class UnstableSimulationWarning(RuntimeWarning):
    """An episode was ended because its simulation diverged (see :class:`StabilityGuard`)."""


class StabilityGuard(gym.Wrapper):
    """Ends an episode whose simulation diverged instead of crashing or passing NaNs on.

    A step is *unstable* when the action or the returned observation/reward is not finite, the engine
    raised one of ``errors``, or ``check(env)`` names a problem (e.g. :class:`engines.MujocoWarnings`).
    Such a step does not reach the learner as data: it returns the last finite observation, reward 0,
    ``terminated=False``, ``truncated=True`` and ``info["unstable"]`` (the reason); ``unstable_episodes``
    counts them and, when ``warn`` is set, an :class:`UnstableSimulationWarning` is issued. The caller
    resets as after any truncation. A non-finite action never reaches the engine.
    """

    def __init__(self, env: gym.Env, errors: tuple[type[BaseException], ...] = (),
                 check: Callable[[gym.Env], str | None] | None = None, warn: bool = True):
        super().__init__(env)
        self.errors, self.check, self.warn = tuple(errors), check, warn
        self.unstable_episodes = 0
        self._last_obs: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        if not engines.is_finite(obs):
            raise RuntimeError(f"{self.env.unwrapped} reset to a non-finite observation")
        if hasattr(self.check, "reset"):
            self.check.reset(self.env)
        self._last_obs = np.array(obs, copy=True)
        return obs, info

    def _unstable(self, reason: str):
        self.unstable_episodes += 1
        if self.warn:
            warnings.warn(f"unstable simulation in {self.env.unwrapped}: {reason}; the episode was ended",
                          UnstableSimulationWarning, stacklevel=3)
        return self._last_obs.copy(), 0.0, False, True, {"unstable": reason}

    def step(self, action):
        if not engines.is_finite(action):
            return self._unstable("non-finite action")
        try:
            obs, reward, terminated, truncated, info = self.env.step(action)
        except self.errors as exc:
            return self._unstable(f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        if not engines.is_finite(obs, reward):
            return self._unstable("non-finite observation or reward")
        reason = self.check(self.env) if self.check is not None else None
        if reason is not None:
            return self._unstable(reason)
        self._last_obs = np.array(obs, copy=True)
        return obs, float(reward), bool(terminated), bool(truncated), info


class Float32Observation(gym.ObservationWrapper):
    """Observations cast to float32, in an unbounded float32 Box of the same shape."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=env.observation_space.shape, dtype=np.float32)

    def observation(self, observation):
        return np.asarray(observation, dtype=np.float32)


class UnitAction(gym.ActionWrapper):
    """Actions in [-1, 1]^n (float32) mapped linearly onto the wrapped environment's Box bounds; values
    outside [-1, 1] are clipped first (the engines clamp them anyway); NaN passes through to be caught."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        box = env.action_space
        if not isinstance(box, spaces.Box) or not (np.isfinite(box.low).all() and np.isfinite(box.high).all()):
            raise ConfigError(f"action space {box} is not a bounded Box: cannot scale [-1, 1] onto it")
        self._center = (box.high.astype(np.float64) + box.low) / 2.0
        self._scale = (box.high.astype(np.float64) - box.low) / 2.0
        self._identity = bool((self._center == 0.0).all() and (self._scale == 1.0).all())
        self._dtype = box.dtype
        self.action_space = spaces.Box(-1.0, 1.0, shape=box.shape, dtype=np.float32)

    def action(self, action):
        unit = np.minimum(np.maximum(np.asarray(action, dtype=np.float64), -1.0), 1.0)  # keeps NaN
        return unit.astype(self._dtype) if self._identity else (self._center + self._scale * unit).astype(self._dtype)


class MultiTaskView(gym.Wrapper):
    """A task seen in its group's format: observations zero-padded to ``obs_dim`` (float32), actions of
    ``action_dim`` in [-1, 1] of which only the first ``action_mask.sum()`` (the task's own) are passed on;
    the padded dimensions never reach the engine, whatever their values."""

    def __init__(self, env: gym.Env, obs_dim: int, action_dim: int):
        super().__init__(env)
        own_obs, own_action = int(np.prod(env.observation_space.shape)), int(np.prod(env.action_space.shape))
        if own_obs > obs_dim:
            raise ConfigError(f"an observation of dimension {own_obs} does not fit the padding to {obs_dim}")
        if own_action > action_dim:
            raise ConfigError(f"an action of dimension {own_action} does not fit the padding to {action_dim}")
        self.own_action_dim = own_action
        self.action_mask = np.arange(action_dim) < own_action
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(action_dim,), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return pad_observations(obs, self.observation_space.shape[0]), info

    def step(self, action):
        own = np.asarray(action, dtype=np.float32)[:self.own_action_dim]
        obs, reward, terminated, truncated, info = self.env.step(own)
        return pad_observations(obs, self.observation_space.shape[0]), reward, terminated, truncated, info


def wrap_task_env(engine_env: gym.Env, horizon: int = HORIZON, errors: tuple[type[BaseException], ...] = (),
                  check: Callable[[gym.Env], str | None] | None = None, warn: bool = True) -> gym.Env:
    """The standard chain on a bare engine environment (see the module doc): float32 observations,
    the stability guard, a ``horizon``-step time limit, actions in [-1, 1]."""
    env = Float32Observation(engine_env)
    env = StabilityGuard(env, errors=errors, check=check, warn=warn)
    return UnitAction(TimeLimit(env, max_episode_steps=horizon))


@dataclass(frozen=True)
class EngineSource:
    """Where a task comes from: ``engine`` (``pybullet``, ``mujoco``, ``dm_control``), its identifier
    there, and for dm_control the observation entries in the order they are concatenated."""

    engine: str
    ident: str
    obs_keys: tuple[str, ...] = ()


SOURCES: dict[str, EngineSource] = {
    "bullet_inverted_pendulum": EngineSource("pybullet", "InvertedPendulumBulletEnv"),
    "bullet_inverted_double_pendulum": EngineSource("pybullet", "InvertedDoublePendulumBulletEnv"),
    "bullet_inverted_pendulum_swingup": EngineSource("pybullet", "InvertedPendulumSwingupBulletEnv"),
    "mujoco_inverted_pendulum": EngineSource("mujoco", "InvertedPendulum-v5"),
    "mujoco_inverted_double_pendulum": EngineSource("mujoco", "InvertedDoublePendulum-v5"),
    "cartpole_swingup": EngineSource("dm_control", "cartpole-swingup", ("position", "velocity")),
    "hopper_stand": EngineSource("dm_control", "hopper-stand", ("position", "velocity", "touch")),
    "walker_walk": EngineSource("dm_control", "walker-walk", ("orientations", "height", "velocity")),
    "cheetah_run": EngineSource("dm_control", "cheetah-run", ("position", "velocity")),
}
GROUPS: dict[str, tuple[str, ...]] = {
    "pendulum": ("bullet_inverted_pendulum", "bullet_inverted_double_pendulum", "bullet_inverted_pendulum_swingup"),
    "pendulum_mujoco": ("mujoco_inverted_pendulum", "mujoco_inverted_double_pendulum", "cartpole_swingup"),
    "walker": ("hopper_stand", "walker_walk", "cheetah_run"),
}


def _source(name: str) -> EngineSource:
    if name not in SOURCES:
        raise ConfigError(f"unknown continuous task {name!r}; known tasks: {', '.join(SOURCES)}")
    return SOURCES[name]


def make_task_env(name: str, warn: bool = True) -> gym.Env:
    """Task ``name`` as one gymnasium environment: float32 observations of its own size, actions in
    [-1, 1]^action_dim, time limit 1000, unstable episodes ended by :class:`StabilityGuard`."""
    source = _source(name)
    engines.require_engine(source.engine, f"task {name!r}")
    bare = engines.build_engine_env(source.engine, source.ident, source.obs_keys)
    check = engines.MujocoWarnings() if source.engine == "mujoco" else None
    return wrap_task_env(bare, HORIZON, errors=engines.engine_errors(source.engine), check=check, warn=warn)


def _spec(name: str, obs_dim: int, action_dim: int, bound: float = 1.0) -> TaskSpec:
    return TaskSpec(name, obs_dim=obs_dim, horizon=HORIZON, gamma=GAMMA, action_dim=action_dim,
                    action_low=(-bound,) * action_dim, action_high=(bound,) * action_dim,
                    make_env=partial(make_task_env, name))


TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    _spec("bullet_inverted_pendulum", 5, 1),
    _spec("bullet_inverted_double_pendulum", 9, 1),
    _spec("bullet_inverted_pendulum_swingup", 5, 1),
    _spec("mujoco_inverted_pendulum", 4, 1, bound=3.0),
    _spec("mujoco_inverted_double_pendulum", 9, 1),
    _spec("cartpole_swingup", 5, 1),
    _spec("hopper_stand", 15, 4),
    _spec("walker_walk", 24, 6),
    _spec("cheetah_run", 17, 6),
)}


def engine_of(name: str) -> str:
    """The engine (``pybullet``, ``mujoco`` or ``dm_control``) that simulates task ``name``."""
    return _source(name).engine


def require_engines(names: Sequence[str], what: str | None = None) -> None:
    """Import the engines of tasks ``names`` now; a missing one is a one-line :class:`ConfigError`."""
    for engine in dict.fromkeys(engine_of(name) for name in names):
        engines.require_engine(engine, what or f"task {next(n for n in names if engine_of(n) == engine)!r}")


def get_task(name: str) -> TaskSpec:
    """The spec of continuous task ``name`` (no engine import); unknown names list the known ones."""
    _source(name)
    return TASKS[name]


def get_group(name: str, check_engines: bool = True) -> list[TaskSpec]:
    """The specs of group ``name`` in the paper's order; with ``check_engines`` their engines are imported
    now, so that a missing one fails here with its install hint."""
    if name not in GROUPS:
        raise ConfigError(f"unknown task group {name!r}; known groups: {', '.join(GROUPS)}")
    if check_engines:
        require_engines(GROUPS[name], f"group {name!r}")
    return [TASKS[task] for task in GROUPS[name]]
