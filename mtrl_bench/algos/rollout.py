"""The evaluation every learner (and the peer check) scores a policy with: a fixed number of steps per task."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def evaluate(policy: Callable[[np.ndarray], np.ndarray], env, test_steps: int,
             count_unfinished: bool) -> dict[str, np.ndarray]:
    """``test_steps`` steps of ``policy`` (obs (S, T, obs_dim) -> the actions ``env.step`` takes) per task from
    fresh episodes of ``env`` (a lock-step, auto-reset stepper of S seeds x T tasks with ``gammas`` (T,)).

    Returns (S, T) float64 arrays: ``return_discounted`` and ``return_undiscounted``, the means over the
    episodes (0 when there is none), and ``episodes``, their number. The unfinished last episode counts as one
    when ``count_unfinished`` (the authors' DDPG convention) and is dropped otherwise (DQN's).
    """
    obs = env.reset()
    gammas = np.asarray(env.gammas, dtype=np.float64)
    shape = (env.n_seeds, env.n_tasks)
    running_discounted, running_undiscounted = np.zeros(shape), np.zeros(shape)
    discount = np.ones(shape)
    sum_discounted, sum_undiscounted = np.zeros(shape), np.zeros(shape)
    episodes = np.zeros(shape)
    ended = np.ones(shape, dtype=bool)  # no step taken: nothing unfinished
    for _ in range(test_steps):
        _, rewards, terminated, truncated = env.step(policy(obs))
        obs = env.obs
        running_discounted += discount * np.asarray(rewards, dtype=np.float64)
        running_undiscounted += rewards
        discount *= gammas[None, :]
        ended = np.asarray(terminated) | np.asarray(truncated)
        sum_discounted += np.where(ended, running_discounted, 0.0)
        sum_undiscounted += np.where(ended, running_undiscounted, 0.0)
        episodes += ended
        running_discounted[ended], running_undiscounted[ended], discount[ended] = 0.0, 0.0, 1.0
    if count_unfinished:
        sum_discounted += np.where(ended, 0.0, running_discounted)
        sum_undiscounted += np.where(ended, 0.0, running_undiscounted)
        episodes += ~ended
    count = np.maximum(episodes, 1)
    return {"return_discounted": sum_discounted / count, "return_undiscounted": sum_undiscounted / count,
            "episodes": episodes}
