"""Replay memories for S seeds x T tasks as preallocated tensors.

Ring buffers with one shared cursor; actions int64 (S, T, capacity), or float32 (S, T, capacity, action_dim)
when ``action_dim`` is given; sampling takes indices (S, T, B); a learner gives weight 0 to a transition
stored not valid (``Batch.valid``).

Design notes: docs/learners.md#replay-memories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mtrl_bench.errors import ConfigError


@dataclass
class Batch:
    """Transitions of shape (S, T, B[, obs_dim or action_dim]); ``terminated`` is 1.0 where s' is absorbing."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    valid: torch.Tensor | None = None  # 1.0 where the transition may be learned from


class MultiTaskReplay:
    """Ring buffers of (obs, action, reward, next_obs, terminated) for S seeds x T tasks."""

    def __init__(self, n_seeds: int, n_tasks: int, capacity: int, obs_dim: int,
                 device: torch.device | str = "cpu", action_dim: int | None = None):
        if capacity < 1:
            raise ConfigError(f"replay capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.device = torch.device(device)
        shape = (n_seeds, n_tasks, self.capacity)
        self.obs = torch.zeros(*shape, obs_dim, device=self.device)
        self.next_obs = torch.zeros(*shape, obs_dim, device=self.device)
        if action_dim is None:
            self.actions = torch.zeros(shape, dtype=torch.int64, device=self.device)
        elif action_dim < 1:
            raise ConfigError(f"action_dim must be >= 1 for continuous actions, got {action_dim}")
        else:
            self.actions = torch.zeros(*shape, int(action_dim), device=self.device)
        self.rewards = torch.zeros(shape, device=self.device)
        self.terminated = torch.zeros(shape, device=self.device)
        self.valid = torch.ones(shape, device=self.device)
        self.cursor = 0
        self.size = 0
        self._seed_index = torch.arange(n_seeds, device=self.device)[:, None, None]
        self._task_index = torch.arange(n_tasks, device=self.device)[None, :, None]

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
            terminated: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Store one transition per (seed, task): obs/next_obs (S, T, obs_dim), actions (S, T) int or
        (S, T, action_dim) float, rewards, terminated and ``valid`` (S, T) (default: all valid)."""
        i = self.cursor
        self.obs[:, :, i] = torch.as_tensor(obs, device=self.device)
        self.next_obs[:, :, i] = torch.as_tensor(next_obs, device=self.device)
        self.actions[:, :, i] = torch.as_tensor(actions, dtype=self.actions.dtype, device=self.device)
        self.rewards[:, :, i] = torch.as_tensor(rewards, dtype=torch.float32, device=self.device)
        self.terminated[:, :, i] = torch.as_tensor(terminated, dtype=torch.float32, device=self.device)
        if valid is None:
            self.valid[:, :, i] = 1.0
        else:
            self.valid[:, :, i] = torch.as_tensor(valid, dtype=torch.float32, device=self.device)
        self.cursor = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def indices(self, uniform: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Uniform indices into the filled part from uniforms in [0, 1) of shape (S, T, B)."""
        uniform = torch.as_tensor(uniform, device=self.device)
        return (uniform * self.size).long().clamp_(max=self.size - 1)

    def sample(self, index: torch.Tensor) -> Batch:
        """The transitions at ``index`` (S, T, B) int64, memory by memory."""
        if self.size == 0:
            raise RuntimeError("cannot sample an empty replay memory")
        s, t = self._seed_index, self._task_index
        return Batch(self.obs[s, t, index], self.actions[s, t, index], self.rewards[s, t, index],
                     self.next_obs[s, t, index], self.terminated[s, t, index], self.valid[s, t, index])
