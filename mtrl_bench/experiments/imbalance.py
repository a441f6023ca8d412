"""Task imbalance on the synthetic testbed: one task gets a fraction rho of the others' data.

Not in the paper: rows are the testbed's with ``variants = "rho=<rho>"``; the small task is ``task == "0"``.

Design notes: docs/experiments.md#task-imbalance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mtrl_bench.config import param
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments import testbed
from mtrl_bench.experiments.runner import Progress, RunResult
from mtrl_bench.experiments.similarity import check_sweep, sweep

EXPERIMENT = "imbalance"
SMALL_TASK = "0"


@dataclass(frozen=True)
class Config(testbed.SyntheticRegressionConfig):
    """The testbed's fields plus the small task's data fractions to sweep."""

    fractions: tuple[float, ...] = param((0.05, 0.1, 0.25, 0.5, 1.0), "fractions rho of the others' samples that "
                                         "task 0 trains on", low=0, low_open=True, high=1, nonempty=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_sweep(self, "fractions")
        if self.small_task_fraction != 1.0:
            raise ConfigError("give the sweep in fractions and leave small_task_fraction at 1")


def run(config: Config, seeds: Sequence[int], device: torch.device | str = "cpu",
        progress: Progress | None = None) -> RunResult:
    """One testbed run per fraction (see the module docstring)."""
    return sweep(config, "small_task_fraction", config.fractions, EXPERIMENT, "rho", seeds, device, progress)
