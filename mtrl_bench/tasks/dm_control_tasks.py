"""dm_control suite tasks as gymnasium environments, run as the paper's authors ran them.

:class:`DMControlEnv` loads ``suite.load(domain, task)`` with the suite's time limit removed (the
episode length is set by the caller's time limit, 1000 steps for the paper's tasks) and flattens the
observation dict into one float64 vector in a fixed key order (checked against the suite, so that a
release that renames or reorders the entries fails loudly instead of silently permuting inputs).
An episode is *terminated* only when the suite's task ends it with discount 0; hopper-stand,
walker-walk, cheetah-run and cartpole-swingup never do, so they are never absorbing.
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
from gymnasium import spaces


def headless_rendering() -> None:
    """Without a display, tell dm_control not to probe GLFW (it warns on import); no task here renders."""
    if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "disable"


class DMControlEnv(gym.Env):
    """``domain``-``task`` of the dm_control suite; observation (sum of entry sizes,) float64 in the
    order ``obs_keys``; actions in the suite's bounds (float32 Box); no time limit of its own.

    ``reset(seed=s)`` reseeds the suite task's random state (initial-state noise) from ``s``;
    ``reset()`` continues it. Whether dm_control imports is checked before, by
    :func:`mtrl_bench.tasks.engines.require_engine`.
    """

    metadata = {"render_modes": []}

    def __init__(self, domain: str, task: str, obs_keys: tuple[str, ...]):
        headless_rendering()
        from dm_control import suite

        self._env = suite.load(domain, task, task_kwargs={"time_limit": float("inf")})
        spec = self._env.observation_spec()
        if tuple(spec) != tuple(obs_keys):
            raise RuntimeError(f"dm_control {domain}-{task} observes {tuple(spec)}, expected {tuple(obs_keys)}")
        self.obs_keys = tuple(obs_keys)
        size = sum(int(np.prod(spec[key].shape)) for key in self.obs_keys)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float64)
        bounds = self._env.action_spec()
        self.action_space = spaces.Box(bounds.minimum.astype(np.float32), bounds.maximum.astype(np.float32),
                                       dtype=np.float32)

    @property
    def physics(self):
        """The suite's MuJoCo physics (to set a state in tests)."""
        return self._env.physics

    @property
    def task(self):
        """The suite's task object (its ``get_reward(physics)``, ``get_observation(physics)``)."""
        return self._env.task

    def flatten(self, observation) -> np.ndarray:
        """The suite's observation dict as one float64 vector in ``obs_keys`` order."""
        return np.concatenate([np.asarray(observation[key], dtype=np.float64).ravel() for key in self.obs_keys])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._env.task.random.seed(int(self.np_random.integers(2**32 - 1)))
        step = self._env.reset()
        return self.flatten(step.observation), {}

    def step(self, action):
        step = self._env.step(np.asarray(action, dtype=np.float64))
        terminated = bool(step.last() and step.discount == 0.0)
        truncated = bool(step.last() and not terminated)
        return self.flatten(step.observation), float(step.reward), terminated, truncated, {}

    def close(self) -> None:
        self._env.close()
