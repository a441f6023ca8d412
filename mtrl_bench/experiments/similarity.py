"""Task-similarity sweep on the synthetic testbed: multi- vs single-task error against dissimilarity.

Not in the paper: the testbed at each ``dissimilarities`` value; rows are the testbed's with
``variants = "dissimilarity=<delta>"``.

Design notes: docs/experiments.md#testbed-similarity-sweep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mtrl_bench.config import param
from mtrl_bench.errors import ConfigError, no_repeats
from mtrl_bench.experiments import testbed
from mtrl_bench.experiments.runner import Progress, RunResult

EXPERIMENT = "similarity"


@dataclass(frozen=True)
class Config(testbed.SyntheticRegressionConfig):
    """The testbed's fields (its teacher, learner and training) plus the dissimilarities to sweep."""

    dissimilarities: tuple[float, ...] = param((0.0, 0.25, 0.5, 0.75, 1.0), "teacher dissimilarities delta to "
                                               "sweep: 0 identical tasks, 1 unrelated", low=0, high=1,
                                               nonempty=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_sweep(self, "dissimilarities")
        if self.dissimilarity is not None:
            raise ConfigError("give the sweep in dissimilarities and leave dissimilarity unset")


def check_sweep(config: testbed.SyntheticRegressionConfig, name: str) -> None:
    """The sweep field ``name`` as a tuple of distinct values, and ``task_counts`` holding the single-task
    baseline T = 1."""
    object.__setattr__(config, name, no_repeats(name, getattr(config, name)))
    if 1 not in config.task_counts:
        raise ConfigError(f"task_counts must include 1 (the single-task baseline), got {list(config.task_counts)}")


def run(config: Config, seeds: Sequence[int], device: torch.device | str = "cpu",
        progress: Progress | None = None) -> RunResult:
    """One testbed run per dissimilarity (see the module docstring)."""
    return sweep(config, "dissimilarity", config.dissimilarities, EXPERIMENT, "dissimilarity", seeds, device, progress)


def sweep(config: testbed.SyntheticRegressionConfig, field: str, values: Sequence[float], experiment: str,
          label: str, seeds: Sequence[int], device: torch.device | str, progress: Progress | None) -> RunResult:
    """Run the testbed once per value of its field ``field``; rows relabelled ``experiment`` and
    ``variants = "<label>=<value>"`` (e.g. ``rho=0.05``). ``config`` may be a subclass: only the testbed's
    fields are used."""
    own = {f.name: getattr(config, f.name) for f in dataclasses.fields(testbed.SyntheticRegressionConfig)}
    own_progress = progress is None
    progress = progress or Progress(experiment, len(values) * len(config.widths) * config.epochs)
    result = RunResult(extra={"noise_variance": config.noise_std**2})
    for value in values:
        part = testbed.run(testbed.SyntheticRegressionConfig(**{**own, field: value}), seeds, device, progress)
        for row in part.rows:
            row["experiment"], row["variants"] = experiment, f"{label}={value:g}"
        result.rows += part.rows
        for seed, step in part.failed_seeds.items():
            result.failed_seeds.setdefault(seed, step)
    if own_progress:
        progress.close()
    return result
