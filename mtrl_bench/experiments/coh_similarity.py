"""Task-similarity sweep on Car-On-Hill: MFQI vs single-task FQI on task sets of growing spread.

Not in the paper: T tasks spread around (m = 1, a = 5, g = 9.81) by a relative half-range d along ``axis``
(``force`` or ``gravity``); rows are FQI's with ``variants = "<axis>_spread=<d>"``.

Design notes: docs/experiments.md#car-on-hill-similarity-sweep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mtrl_bench.config import param
from mtrl_bench.errors import ConfigError, no_repeats
from mtrl_bench.experiments import fqi
from mtrl_bench.experiments.runner import Progress, RunResult
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.datasets import DatasetSpec

EXPERIMENT = "coh_similarity"
AXES = ("force", "gravity")
CENTRE = coh.CarOnHillParams(mass=1.0, gravity=9.81, action=5.0)


def label(axis: str, spread: float) -> str:
    """The ``variants`` label of one spread, e.g. ``"force_spread=0.25"``."""
    return f"{axis}_spread={spread:g}"


def task_set(axis: str, spread: float, n_tasks: int) -> list[str]:
    """Names of the T tasks of one spread (see the module docstring); T = 1 is the centre."""
    units = np.linspace(-1.0, 1.0, n_tasks) if n_tasks > 1 else np.zeros(1)
    names = []
    for u in units:
        factor = 1.0 + spread * float(u)
        if axis == "force":
            params = dataclasses.replace(CENTRE, action=round(CENTRE.action * factor, 3))
        else:
            params = dataclasses.replace(CENTRE, gravity=round(CENTRE.gravity * factor, 3))
        names.append(params.name)
    return names


@dataclass(frozen=True)
class Config:
    """Task sets of each spread and T, and the FQI settings every run shares (FQI's defaults: the paper's)."""

    axis: str = param("force", "the parameter the tasks spread over: force (a, hence a/m) or gravity",
                      choices=AXES)
    spreads: tuple[float, ...] = param((0.05, 0.15, 0.25, 0.4), "relative half-ranges d of the varied parameter "
                                       "around the centre (the dissimilarity)", low=0, low_open=True, high=0.9,
                                       nonempty=True)
    task_counts: tuple[int, ...] = param((2, 4), "task counts T (>= 2) of the multi-task sets", low=2,
                                         nonempty=True)
    shared_width: int = param(30, "units of the shared layer h", low=1)
    input_width: int = param(30, "units of each task's input map w_t", low=1)
    iterations: int = param(50, "FQI iterations K", low=1)
    learning_rate: float = param(1e-3, "Adam step size of the fit", low=0, low_open=True)
    patience: int = param(100, "a fit stops after this many Adam steps without improvement", low=1)
    tolerance: float = param(1e-6, "improvement of the training loss that counts (squared return units)", low=0)
    max_fit_steps: int | None = param(None, "cap on Adam steps per iteration (none: uncapped)", low=1)
    holdout_fraction: float = param(0.1, "fraction of each task's episodes held out, in (0, 1)", low=0,
                                    low_open=True, high=1)
    dataset: DatasetSpec = param(help="how each task's transitions are generated", default_factory=DatasetSpec)
    data_dir: str | None = param("results/data/datasets", "dataset cache folder (none: do not cache)")
    qstar_dir: str | None = param("results/data/qstar", "folder of the exact Q* tables (<task>.csv)")

    def __post_init__(self) -> None:
        for name in ("spreads", "task_counts"):
            object.__setattr__(self, name, no_repeats(name, getattr(self, name)))
        for spread in self.spreads:
            for n_tasks in self.task_counts:
                names = task_set(self.axis, spread, n_tasks)
                if len(set(names)) != n_tasks:
                    raise ConfigError(f"spread {spread:g} is too small for {n_tasks} distinct tasks at 3 decimals: "
                                      f"{names}")
        self.fqi_config(task_set(self.axis, self.spreads[0], self.task_counts[0]))  # FQI's own checks

    def fqi_config(self, variants: Sequence[str]) -> fqi.Config:
        """The FQI config of one run on ``variants``."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(fqi.Config) if hasattr(self, f.name)
                  and f.name not in ("variants",)}
        return fqi.Config(variants=list(variants), **shared)

    def task_sets(self) -> dict[tuple[float, int], list[str]]:
        """(spread, T) -> task names, for every spread and T >= 2."""
        return {(d, n): task_set(self.axis, d, n) for d in self.spreads for n in self.task_counts}


def run(config: Config, seeds: Sequence[int], device: torch.device | str = "cpu",
        progress: Progress | None = None) -> RunResult:
    """Every multi-task set once and every distinct task alone once (see the module docstring)."""
    sets = config.task_sets()
    singles = sorted({name for names in sets.values() for name in names})
    own_progress = progress is None
    progress = progress or Progress(EXPERIMENT, (len(sets) + len(singles)) * config.iterations)
    result = RunResult(extra={"task_sets": {f"{label(config.axis, d)} T{n}": names for (d, n), names in sets.items()}})

    def add(part: RunResult, variants: str) -> None:
        for row in part.rows:
            result.rows.append({**row, "experiment": EXPERIMENT, "variants": variants})
        for seed, step in part.failed_seeds.items():
            result.failed_seeds.setdefault(seed, step)

    alone = {name: fqi.run(config.fqi_config([name]), seeds, device, progress) for name in singles}
    for spread in config.spreads:
        members = sorted({name for (d, _), names in sets.items() if d == spread for name in names})
        for name in members:
            add(alone[name], label(config.axis, spread))
        for n_tasks in config.task_counts:
            add(fqi.run(config.fqi_config(sets[spread, n_tasks]), seeds, device, progress), label(config.axis, spread))
    if own_progress:
        progress.close()
    return result
