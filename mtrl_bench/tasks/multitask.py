"""The five discrete-action tasks of the paper's DQN experiment, padded and masked into one format,
and stepped as arrays over seeds x tasks.

* :data:`TASKS` / :func:`get_task`: one :class:`TaskSpec` per task with the paper's horizon and
  discount (pinned by the stored scores of the paper's published results): ``cartpole`` 500 / 0.99,
  ``acrobot`` 1000 / 0.99, ``mountaincar`` 1000 / 0.99, ``car_on_hill`` (variant 0) 100 / 0.95,
  ``inverted_pendulum`` 3000 / 0.95.
* observations are zero-padded to the largest dimension of the task set and each task's Q-head is
  masked to its own action count (:mod:`.spec`), so that one network sees one input format;
* :class:`BatchedMultiTaskEnv`: S seeds x T tasks stepped in lock-step with numpy arrays (the
  batched physics of :mod:`.classic_control`, :mod:`.car_on_hill.dynamics`, :mod:`.inverted_pendulum`),
  with time limits and automatic resets.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from mtrl_bench.errors import ConfigError, distinct
from mtrl_bench.random_streams import SeedUniforms
from mtrl_bench.tasks import classic_control as classic
from mtrl_bench.tasks import inverted_pendulum
from mtrl_bench.tasks.car_on_hill import dynamics as car_on_hill
from mtrl_bench.tasks.spec import TaskSpec


def _car_on_hill_reset(uniform: np.ndarray) -> np.ndarray:
    return np.broadcast_to(np.asarray(car_on_hill.START_STATE), (*uniform.shape[:-1], 2)).copy()


def _car_on_hill_step(states, actions, uniform):
    params = car_on_hill.VARIANTS[0]
    return car_on_hill.step(states, actions, params.mass, params.gravity, params.action)


def _pendulum_step(states, actions, uniform):
    noise = -inverted_pendulum.FORCE_NOISE + 2.0 * inverted_pendulum.FORCE_NOISE * uniform
    return inverted_pendulum.step(states, actions, noise)


def _as_float32(states: np.ndarray) -> np.ndarray:
    return states.astype(np.float32)


def _ignore_noise(step):
    return lambda states, actions, uniform: step(states, actions)


TASKS: dict[str, TaskSpec] = {
    "cartpole": TaskSpec(
        "cartpole", obs_dim=4, n_actions=2, horizon=500, gamma=0.99, state_dim=4, n_reset_uniforms=4,
        reset=classic.cartpole_reset, step=_ignore_noise(classic.cartpole_step), observe=classic.cartpole_observe,
        make_reference=lambda: gym.make("CartPole-v1", max_episode_steps=500)),
    "acrobot": TaskSpec(
        "acrobot", obs_dim=6, n_actions=3, horizon=1000, gamma=0.99, state_dim=4, n_reset_uniforms=4,
        reset=classic.acrobot_reset, step=_ignore_noise(classic.acrobot_step), observe=classic.acrobot_observe,
        observe_start=classic.acrobot_observe_start,
        make_reference=lambda: gym.make("Acrobot-v1", max_episode_steps=1000)),
    "mountaincar": TaskSpec(
        "mountaincar", obs_dim=2, n_actions=3, horizon=1000, gamma=0.99, state_dim=2, n_reset_uniforms=1,
        reset=classic.mountaincar_reset, step=_ignore_noise(classic.mountaincar_step),
        observe=classic.mountaincar_observe,
        make_reference=lambda: gym.make("MountainCar-v0", max_episode_steps=1000)),
    "car_on_hill": TaskSpec(
        "car_on_hill", obs_dim=2, n_actions=2, horizon=car_on_hill.HORIZON, gamma=car_on_hill.GAMMA,
        state_dim=2, n_reset_uniforms=0, reset=_car_on_hill_reset, step=_car_on_hill_step, observe=_as_float32,
        make_reference=lambda: car_on_hill.CarOnHillEnv()),
    "inverted_pendulum": TaskSpec(
        "inverted_pendulum", obs_dim=2, n_actions=3, horizon=inverted_pendulum.HORIZON,
        gamma=inverted_pendulum.GAMMA, state_dim=2, n_reset_uniforms=1,
        reset=lambda u: inverted_pendulum.reset_states(u[..., 0]), step=_pendulum_step, observe=_as_float32,
        make_reference=lambda: inverted_pendulum.InvertedPendulumEnv()),
}
DQN_TASKS: tuple[str, ...] = tuple(TASKS)


def get_task(name: str) -> TaskSpec:
    """The task called ``name``; an unknown name is a :class:`ConfigError` listing the known ones."""
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[name]


def get_tasks(names: Sequence[str]) -> list[TaskSpec]:
    """Specs of a task set (non-empty, no repeats)."""
    return [get_task(name) for name in distinct(names, "task")]


class BatchedMultiTaskEnv:
    """S seeds x T tasks in lock-step; every (seed, task) holds one running episode.

    ``reset()`` starts every episode and returns the observations (S, T, obs_dim) float32.
    ``step(actions (S, T) int)`` advances all of them and returns ``(next_obs, rewards, terminated,
    truncated)`` with shapes (S, T, obs_dim), (S, T) float64, (S, T) bool, (S, T) bool; ``next_obs``
    are the states the actions led to (what a replay memory stores). Episodes that ended (terminal,
    or ``horizon`` steps reached) are restarted at once, and ``obs`` then holds the observations
    to act on next. Randomness (start states, force noise) comes from per-seed streams keyed by
    ``key`` and the task name, one fixed-size draw per seed, task and step whether used or not.
    """

    def __init__(self, tasks: Sequence[str], seeds: Sequence[int], key: str = "env", obs_dim: int | None = None):
        self.specs = get_tasks(tasks)
        self.seeds = distinct([int(s) for s in seeds], "seed")
        largest = max(spec.obs_dim for spec in self.specs)
        self.obs_dim = largest if obs_dim is None else int(obs_dim)
        if largest > self.obs_dim:
            raise ConfigError(f"an observation of dimension {largest} does not fit the padding to {self.obs_dim}")
        self.n_actions = np.array([spec.n_actions for spec in self.specs])
        self.gammas = np.array([spec.gamma for spec in self.specs])
        self.horizons = np.array([spec.horizon for spec in self.specs])
        self.streams = [SeedUniforms(self.seeds, f"{key}/{spec.name}", spec.n_reset_uniforms + 1)
                        for spec in self.specs]
        n_seeds, n_tasks = len(self.seeds), len(self.specs)
        self.states = [np.zeros((n_seeds, spec.state_dim)) for spec in self.specs]
        self.obs = np.zeros((n_seeds, n_tasks, self.obs_dim), dtype=np.float32)
        self.episode_steps = np.zeros((n_seeds, n_tasks), dtype=np.int64)

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    @property
    def n_tasks(self) -> int:
        return len(self.specs)

    def _start(self, t: int, which: np.ndarray, uniform: np.ndarray) -> None:
        spec = self.specs[t]
        fresh = spec.reset(uniform[which, :spec.n_reset_uniforms])
        self.states[t][which] = fresh
        observe = spec.observe_start or spec.observe
        self.obs[which, t, :spec.obs_dim] = observe(fresh)
        self.episode_steps[which, t] = 0

    def reset(self) -> np.ndarray:
        everyone = np.ones(self.n_seeds, dtype=bool)
        for t in range(self.n_tasks):
            self._start(t, everyone, self.streams[t].next())
        return self.obs.copy()

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions)
        if actions.shape != (self.n_seeds, self.n_tasks):
            raise ValueError(f"actions must have shape {(self.n_seeds, self.n_tasks)}, got {actions.shape}")
        if ((actions < 0) | (actions >= self.n_actions[None, :])).any():
            raise ValueError("an action is outside its task's action set")
        next_obs = np.zeros_like(self.obs)
        self.obs = self.obs.copy()  # a new array each step: callers may keep the previous one
        rewards = np.zeros((self.n_seeds, self.n_tasks))
        terminated = np.zeros((self.n_seeds, self.n_tasks), dtype=bool)
        self.episode_steps += 1
        truncated = self.episode_steps >= self.horizons[None, :]
        for t, spec in enumerate(self.specs):
            uniform = self.streams[t].next()
            nxt, rewards[:, t], terminated[:, t] = spec.step(self.states[t], actions[:, t], uniform[:, -1])
            self.states[t] = nxt
            next_obs[:, t, :spec.obs_dim] = spec.observe(nxt)
            self.obs[:, t] = next_obs[:, t]
            ended = terminated[:, t] | truncated[:, t]
            if ended.any():
                self._start(t, ended, uniform)
        truncated &= ~terminated
        return next_obs, rewards, terminated, truncated
