"""What fitted Q-iteration needs from a family of tasks, and the registry of families by name.

The protocol: docs/design.md#the-task-family-protocol-fqi; FQI asks :func:`get_family` by name.

Design notes: docs/tasks.md#what-a-task-family-gives-fqi.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mtrl_bench.errors import ConfigError


class TransitionData(Protocol):
    """One task's transitions, N rows in episode order (Car-On-Hill's ``Transitions`` is one)."""

    states: np.ndarray  # (N, obs_dim) float
    actions: np.ndarray  # (N,) int
    rewards: np.ndarray  # (N,) float
    next_states: np.ndarray  # (N, obs_dim) float
    absorbing: np.ndarray  # (N,) bool: no bootstrapping from next_states
    episode: np.ndarray  # (N,) int: the episode of each row (FQI holds out whole episodes)

    def __len__(self) -> int: ...

    def subset(self, index: np.ndarray) -> TransitionData: ...


@dataclass(frozen=True)
class TestTruth:
    """The exact action values on a test set, per task: states (T, N, obs_dim), actions (T, N) int,
    q_star (T, N) in return units; ``q_star_authors`` (T, N), when given, is the same table in the
    convention of a published reference that stored some values differently (FQI can record its
    ``avi_diff`` against it too, to compare like with like)."""

    states: np.ndarray
    actions: np.ndarray
    q_star: np.ndarray
    q_star_authors: np.ndarray | None = None


Policy = Callable[[np.ndarray], np.ndarray]
"""A greedy policy of S members on T tasks: states (S, T, obs_dim) float64 -> actions (S, T) int."""


class TaskFamily(Protocol):
    """The interface FQI runs on (see the module docstring)."""

    name: str
    gamma: float
    obs_dim: int
    n_actions: int

    def task_names(self, keys: Sequence[str]) -> list[str]:
        """Canonical task names for ``keys`` (names or the family's short keys); a ConfigError for an
        unknown, repeated or empty selection."""
        ...

    def transitions(self, task: str, dataset: Any, data_dir: str | None) -> TransitionData:
        """Task ``task``'s training transitions as ``dataset`` (the family's dataset spec, passed
        through from the config) describes them; cached under ``data_dir`` when it is given."""
        ...

    def held_out_transitions(self, task: str, dataset: Any, data_dir: str | None) -> TransitionData:
        """An independent held-out dataset of task ``task``: the behaviour policy and parameters of
        ``dataset``, drawn with other random numbers (FQI measures ``approx_error`` on it)."""
        ...

    def read_transitions(self, task: str, directory: str) -> TransitionData:
        """Task ``task``'s transitions from files in ``directory`` (FQI's ``dataset_dir``); a family
        that cannot read files raises a ConfigError saying so."""
        ...

    def holdout_seed(self, dataset: Any, task_index: int) -> int:
        """The seed of the held-out episode split (``approx_error_data: split``) of the
        ``task_index``-th task of a run."""
        ...

    def truth(self, tasks: Sequence[str], qstar_dir: str | None) -> TestTruth | None:
        """Q* on the family's test set for ``tasks`` (cached under ``qstar_dir``), or None."""
        ...

    def greedy_return(self, policy: Policy, n_members: int, tasks: Sequence[str], gamma: float) -> np.ndarray:
        """Discounted return (S, T) of ``policy`` for S = ``n_members`` members on ``tasks``."""
        ...


# Families by name: the module that defines each (imported on first use) or a factory.
_MODULES = {"car_on_hill": "mtrl_bench.tasks.car_on_hill.family"}
_FACTORIES: dict[str, Callable[[], TaskFamily]] = {}


def register(name: str, factory: Callable[[], TaskFamily]) -> None:
    """Make ``get_family(name)`` return ``factory()`` (a new family, e.g. one defined in a test)."""
    _FACTORIES[name] = factory


def family_names() -> list[str]:
    return sorted(set(_MODULES) | set(_FACTORIES))


def get_family(name: str) -> TaskFamily:
    """The task family called ``name``; a ConfigError naming the known ones otherwise."""
    if name not in _FACTORIES and name in _MODULES:
        importlib.import_module(_MODULES[name])  # the module registers its family
    if name not in _FACTORIES:
        raise ConfigError(f"unknown task family {name!r}; known families: {', '.join(family_names())}")
    return _FACTORIES[name]()
