"""Multi-task FQI on a task family (Car-On-Hill variants by default), all seeds in one batch.

The runner around :class:`mtrl_bench.algos.fqi.FQILearner`: it asks the task family
(:mod:`mtrl_bench.tasks.family`) for each task's transitions, holds out a fraction of whole episodes
per task, runs ``iterations`` FQI iterations and records, per iteration k, task and seed:

* ``avi_diff``: mean |Q*(s, a) - Q_k(s, a)| over the family's test pairs (only for a family with a
  truth; for Car-On-Hill the paper's 200 pairs);
* ``approx_error``: mean squared error of Q_k against the iteration's targets on the held-out
  transitions (the eps_k of the bounds: ||Q_k - T* Q_{k-1}||^2 estimated on unseen data);
* ``J``: the family's discounted return of the greedy policy of Q_k;
* ``fit_steps``: the Adam steps the fit took.

A seed whose loss or parameters become non-finite at iteration k stops there: one ``diverged``
row per task with value k, no further rows (:meth:`RunResult.diverged`); the other seeds go on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mtrl_bench.algos.fqi import FitRule, FQILearner, split_holdout
from mtrl_bench.config import param
from mtrl_bench.device import resolve_device
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments.runner import Progress, RunResult, row
from mtrl_bench.nets import NetSpec
from mtrl_bench.tasks.car_on_hill.datasets import DatasetSpec
from mtrl_bench.tasks.family import get_family

EXPERIMENT = "fqi"


@dataclass(frozen=True)
class Config:
    """Hyper-parameters of one MFQI job: the paper's values as defaults (no cap on fit steps)."""

    family: str = param("car_on_hill", "task family the tasks come from")
    variants: list[str] = param(["0"], "the family's tasks, by name or index (Car-On-Hill: 0-15 or "
                                "'1.000_4.000'); several = multi-task FQI, one = FQI", nonempty=True)
    shared_width: int = param(30, "units of the shared layer h", low=1)
    input_width: int = param(30, "units of each task's input map w_t", low=1)
    iterations: int = param(50, "FQI iterations K", low=1)
    learning_rate: float = param(1e-3, "Adam step size of the fit", low=0, low_open=True)
    patience: int = param(100, "a fit stops after this many Adam steps without improvement", low=1)
    tolerance: float = param(1e-6, "an improvement of the training loss counts when larger than this "
                             "(squared return units)", low=0)
    max_fit_steps: int | None = param(None, "cap on Adam steps per iteration (none: the paper's "
                                      "uncapped patience rule)", low=1)
    holdout_fraction: float = param(0.1, "fraction of each task's episodes held out to measure "
                                    "approx_error, in (0, 1)", low=0, low_open=True, high=1)
    gamma: float | None = param(None, "discount factor (none: the family's, Car-On-Hill 0.95)", low=0, high=1)
    dataset: DatasetSpec = param(help="how each task's transitions are generated (the dataset cache key)",
                                 default_factory=DatasetSpec)
    data_dir: str | None = param("results/data/datasets", "dataset cache folder (none: generate, do not cache)")
    qstar_dir: str | None = param("results/data/qstar", "folder of the family's Q* tables "
                                  "(<variant>.csv); missing ones are computed and cached there")

    def __post_init__(self) -> None:
        if self.holdout_fraction >= 1.0:
            raise ConfigError(f"holdout_fraction must be < 1, got {self.holdout_fraction}")
        # Canonical task names, so that the provenance and the rows name each task one way.
        object.__setattr__(self, "variants", get_family(self.family).task_names(list(self.variants)))


def run(config: Config, seeds: Sequence[int], device: torch.device | str = "cpu",
        progress: Progress | None = None) -> RunResult:
    """Run MFQI for every seed at once (see the module docstring); ``progress`` gets one update per
    iteration (one is made, logging to stderr, when None)."""
    seeds = [int(s) for s in seeds]
    device = resolve_device(device) if isinstance(device, str) else device
    family = get_family(config.family)
    tasks = list(config.variants)
    gamma = family.gamma if config.gamma is None else config.gamma

    train_sets, held_sets = [], []
    for t, task in enumerate(tasks):
        data = family.transitions(task, config.dataset, config.data_dir)
        train, held = split_holdout(data, config.holdout_fraction, seed=family.holdout_seed(config.dataset, t))
        train_sets.append(train)
        held_sets.append(held)
    truth = family.truth(tasks, config.qstar_dir)
    spec = NetSpec(n_tasks=len(tasks), obs_dim=family.obs_dim, n_actions=[family.n_actions] * len(tasks),
                   input_width=config.input_width, shared_widths=(config.shared_width,))
    rule = FitRule(config.learning_rate, config.patience, config.tolerance, config.max_fit_steps)
    learner = FQILearner(spec, seeds, train_sets, held_sets, gamma, rule, device)
    q_star = None if truth is None else torch.as_tensor(truth.q_star, dtype=learner.dtype, device=device)

    result = RunResult()
    base = {"experiment": EXPERIMENT, "algorithm": "mfqi" if len(tasks) > 1 else "fqi",
            "variants": "+".join(tasks), "n_tasks": len(tasks), "width": config.shared_width}
    own_progress = progress is None
    progress = progress or Progress(EXPERIMENT, config.iterations)
    iteration_seconds = []
    for k in range(1, config.iterations + 1):
        started = time.time()
        active = learner.active.clone()
        step = learner.iterate()
        metrics: dict[str, np.ndarray] = {}
        if q_star is not None:
            metrics["avi_diff"] = (learner.q_values(truth.states, truth.actions) - q_star).abs().mean(-1).cpu().numpy()
        metrics["approx_error"] = step.approx_error.cpu().numpy()
        metrics["J"] = family.greedy_return(learner.greedy_policy(), learner.n_members, tasks, gamma)
        fit_steps = step.fit_steps.cpu().numpy()
        for s, seed in enumerate(seeds):
            if not bool(active[s]):
                continue
            if bool(step.diverged[s]):
                result.diverged(base, tasks, seed, k)
                continue
            for t, task in enumerate(tasks):
                result.rows += [row(**base, task=task, seed=seed, step=k, metric=name, value=values[s, t])
                                for name, values in metrics.items()]
                result.rows.append(row(**base, task=task, seed=seed, step=k, metric="fit_steps", value=fit_steps[s]))
        learner.end_iteration(step.diverged)
        iteration_seconds.append(time.time() - started)
        progress.update(f"iteration {k}", _score(metrics, fit_steps, learner.active.cpu().numpy()))
        if not bool(learner.active.any()):
            break
    if own_progress:
        progress.close()
    result.extra = {"iteration_seconds": [round(x, 3) for x in iteration_seconds], "gamma": gamma}
    return result


def _score(metrics: dict[str, np.ndarray], fit_steps: np.ndarray, active: np.ndarray) -> str:
    """The progress line's score: mean avi_diff (or approx_error) over the seeds still running."""
    if not active.any():
        return "every seed diverged"
    name = "avi_diff" if "avi_diff" in metrics else "approx_error"
    return (f"mean {name} {metrics[name][active].mean():.4f}, "
            f"fit steps {fit_steps[active].min()}-{fit_steps[active].max()}")
