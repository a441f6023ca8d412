"""Multi-task FQI on a task family (Car-On-Hill variants by default), all seeds in one batch.

The runner around :class:`mtrl_bench.algos.fqi.FQILearner`; rows per iteration k, task and seed: ``avi_diff``
(families with a truth), ``avi_diff_authors_qstar`` (optional), ``approx_error``, ``J``, ``fit_steps``.

Design notes: docs/experiments.md#the-fqi-runner.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mtrl_bench.algos import fqi_native
from mtrl_bench.algos.fqi import FIT_RULES, FitRule, FQILearner, rule_learning_rate, split_holdout
from mtrl_bench.algos.fqi_fit import DEFAULT_KERNEL, FIT_KERNELS, ROWS_PER_TILE_DEFAULT, FitOptions
from mtrl_bench.config import param
from mtrl_bench.device import resolve_device
from mtrl_bench.errors import ConfigError, warn
from mtrl_bench.experiments.runner import Progress, RunResult, row
from mtrl_bench.nets import NetSpec
from mtrl_bench.tasks.car_on_hill.datasets import DatasetSpec
from mtrl_bench.tasks.family import TaskFamily, TransitionData, get_family

EXPERIMENT = "fqi"
APPROX_ERROR_DATA = ("held_out_set", "split")


@dataclass(frozen=True)
class Config:
    """Hyper-parameters of one MFQI job: the paper's values as defaults (no cap on fit steps)."""

    family: str = param("car_on_hill", "task family the tasks come from")
    variants: list[str] = param(["0"], "the family's tasks, by name or index (Car-On-Hill: 0-15 or "
                                "'1.000_4.000'); several = multi-task FQI, one = FQI", nonempty=True)
    shared_width: int = param(30, "units of the shared layer h", low=1)
    input_width: int = param(30, "units of each task's input map w_t", low=1)
    iterations: int = param(50, "FQI iterations K", low=1)
    learning_rate: float = param(1e-3, "Adam step size of the fit (fit_rule paper)", low=0, low_open=True)
    fit_rule: str = param("paper", "paper: Adam at learning_rate (the paper: 1e-3); fast: Adam at 1e-2, ten times the "
                          "paper's step, the same stopping rule (learning_rate must then be 1e-3 or 1e-2)",
                          choices=tuple(FIT_RULES))
    patience: int = param(100, "a fit stops after this many Adam steps without improvement", low=1)
    tolerance: float = param(1e-6, "an improvement of the training loss counts when larger than this "
                             "(squared return units)", low=0)
    max_fit_steps: int | None = param(None, "cap on Adam steps per iteration (none: the paper's "
                                      "uncapped patience rule)", low=1)
    approx_error_data: str = param("held_out_set", "where approx_error (the bounds' eps_k) is measured: "
                                   "'held_out_set' = an independent dataset of the same behaviour policy, the fit "
                                   "sees every training transition (the paper); 'split' = holdout_fraction of each "
                                   "task's episodes, withheld from the fit", choices=APPROX_ERROR_DATA)
    holdout_fraction: float = param(0.1, "split: fraction of each task's episodes held out to measure "
                                    "approx_error, in (0, 1)", low=0, low_open=True, high=1)
    gamma: float | None = param(None, "discount factor (none: the family's, Car-On-Hill 0.95)", low=0, high=1)
    record_authors_qstar: bool = param(False, "also record avi_diff_authors_qstar: avi_diff against Q* in the "
                                       "authors' stored convention (Car-On-Hill: failure values -1 < Q* < 0 one step "
                                       "too deep)")
    dataset: DatasetSpec = param(help="how each task's transitions are generated (the dataset cache key)",
                                 default_factory=DatasetSpec)
    dataset_dir: str | None = param(None, "folder of the authors' transition files <variant name>.pkl (read only "
                                    "files you trust); when set, FQI trains on them instead of generated data")
    data_dir: str | None = param("results/data/datasets", "dataset cache folder (none: generate, do not cache)")
    qstar_dir: str | None = param("results/data/qstar", "folder of the family's Q* tables "
                                  "(<variant>.csv); missing ones are computed and cached there")
    fit_kernel: str = param(DEFAULT_KERNEL, "fit step arithmetic: auto (the default: native where it can run, "
                            "else fused), autograd (the reference), fused (hand-derived gradients in torch, any "
                            "device) or native (the same as a C kernel compiled for this CPU, fastest; one shared "
                            "layer, needs a C compiler); all equal to float32 round-off", choices=FIT_KERNELS)
    fit_sync_every: int = param(1, "fit steps between host checks of the stopping rule (1 with autograd and no "
                                "re-packing = the step-by-step loop)", low=1)
    fit_repack_every: int = param(0, "fit steps between re-packings of the still running seeds into a smaller "
                                  "batch (0 = never)", low=0)
    fit_cuda_graph: bool = param(False, "replay each fit step as a CUDA graph (fused kernel on a CUDA device only)")
    fit_rows_per_tile: int = param(ROWS_PER_TILE_DEFAULT, "fused kernel on a CPU: rows per tile", low=1)

    def __post_init__(self) -> None:
        if self.holdout_fraction >= 1.0:
            raise ConfigError(f"holdout_fraction must be < 1, got {self.holdout_fraction}")
        if self.approx_error_data not in APPROX_ERROR_DATA:
            raise ConfigError(f"approx_error_data must be one of {list(APPROX_ERROR_DATA)}, got "
                              f"{self.approx_error_data!r}")
        if (self.dataset_dir is not None and self.approx_error_data == "held_out_set"
                and getattr(self.dataset, "policy", "epsilon_greedy") != "epsilon_greedy"):
            raise ConfigError("with dataset_dir, approx_error is measured on generated held-out data of "
                              f"dataset.policy ({self.dataset.policy!r}, not the authors' kind): set "
                              "dataset.policy: epsilon_greedy, or approx_error_data: split")
        self.fit_options()  # FitOptions' own checks
        if getattr(self.dataset, "seed_per_run", False) and self.dataset_dir is not None:
            raise ConfigError("dataset.seed_per_run redraws generated training data per run; with dataset_dir the "
                              "training data are the files: drop one of the two")
        fixed = FIT_RULES.get(self.fit_rule)
        if fixed is not None and self.learning_rate not in (1e-3, fixed):
            raise ConfigError(f"fit_rule {self.fit_rule} steps at {fixed:g}, not at learning_rate "
                              f"{self.learning_rate:g}: leave learning_rate out or choose fit_rule: paper")
        # Canonical task names, so that the provenance and the rows name each task one way.
        object.__setattr__(self, "variants", get_family(self.family).task_names(list(self.variants)))


    def fit_options(self) -> FitOptions:
        return FitOptions(kernel=self.fit_kernel, sync_every=self.fit_sync_every, repack_every=self.fit_repack_every,
                          cuda_graph=self.fit_cuda_graph, rows_per_tile=self.fit_rows_per_tile)

    def discount(self) -> float:
        """gamma, or the task family's when none is set."""
        return get_family(self.family).gamma if self.gamma is None else self.gamma


def task_data(config: Config, family: TaskFamily,
              tasks: Sequence[str]) -> tuple[list[TransitionData], list[TransitionData], dict]:
    """Per task, the training and the held-out transitions (see the module docstring), and a
    provenance dict naming them with their row counts."""
    train_sets, held_sets = [], []
    for t, task in enumerate(tasks):
        if config.dataset_dir is not None:
            data = family.read_transitions(task, config.dataset_dir)
        else:
            data = family.transitions(task, config.dataset, config.data_dir)
        if config.approx_error_data == "split":
            train, held = split_holdout(data, config.holdout_fraction, seed=family.holdout_seed(config.dataset, t))
        else:
            train, held = data, family.held_out_transitions(task, config.dataset, config.data_dir)
        train_sets.append(train)
        held_sets.append(held)
    source = "generated (dataset)" if config.dataset_dir is None else f"files in {config.dataset_dir}"
    if config.approx_error_data == "split":
        held_source = f"split: {config.holdout_fraction:g} of the training episodes, withheld from the fit"
    else:
        held_source = "held_out_set: generated (dataset), independent stream"
    record = {"training_data": source, "approx_error_data": held_source,
              "train_rows": {task: len(d) for task, d in zip(tasks, train_sets)},
              "held_out_rows": {task: len(d) for task, d in zip(tasks, held_sets)}}
    return train_sets, held_sets, record


def run(config: Config, seeds: Sequence[int], device: torch.device | str = "cpu",
        progress: Progress | None = None,
        on_iteration: Callable[[int, RunResult], None] | None = None) -> RunResult:
    """Run MFQI for every seed at once (see the module docstring); ``progress`` gets one update per
    iteration (one is made, logging to stderr, when None). ``on_iteration(k, result)``, when given, is
    called after iteration k with the rows so far (e.g. to write partial results of a long run).

    With ``dataset.seed_per_run`` every seed s is its own run on the dataset of seed ``dataset.seed + s``
    (one after another; seed s's numbers are those of a run of s alone on that draw)."""
    seeds = [int(s) for s in seeds]
    if getattr(config.dataset, "seed_per_run", False):
        return _run_seed_per_run(config, seeds, device, progress, on_iteration)
    device = resolve_device(device) if isinstance(device, str) else device
    family = get_family(config.family)
    tasks = list(config.variants)
    gamma = config.discount()

    spec = NetSpec(n_tasks=len(tasks), obs_dim=family.obs_dim, n_actions=[family.n_actions] * len(tasks),
                   input_width=config.input_width, shared_widths=(config.shared_width,))
    if config.fit_cuda_graph and device.type != "cuda":  # a speed option only: the numbers do not change
        warn(f"fit_cuda_graph has no effect on {device.type}: CUDA graphs need a CUDA device (and fit_kernel fused)")
    if config.fit_kernel == "native":  # fail now, before any dataset or Q* work
        fqi_native.require(spec, device, torch.float32)
    train_sets, held_sets, data_record = task_data(config, family, tasks)
    truth = family.truth(tasks, config.qstar_dir)
    rule = FitRule(rule_learning_rate(config.fit_rule, config.learning_rate), config.patience, config.tolerance,
                   config.max_fit_steps, config.fit_options())
    learner = FQILearner(spec, seeds, train_sets, held_sets, gamma, rule, device)
    q_star = None if truth is None else torch.as_tensor(truth.q_star, dtype=learner.dtype, device=device)
    q_star_authors = None
    if config.record_authors_qstar and truth is not None and truth.q_star_authors is not None:
        q_star_authors = torch.as_tensor(truth.q_star_authors, dtype=learner.dtype, device=device)

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
            q_k = learner.q_values(truth.states, truth.actions)
            metrics["avi_diff"] = (q_k - q_star).abs().mean(-1).cpu().numpy()
            if q_star_authors is not None:
                metrics["avi_diff_authors_qstar"] = (q_k - q_star_authors).abs().mean(-1).cpu().numpy()
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
        result.extra = {"iteration_seconds": [round(x, 3) for x in iteration_seconds], "gamma": gamma,
                        **data_record}
        if on_iteration is not None:
            on_iteration(k, result)
        if not bool(learner.active.any()):
            break
    if own_progress:
        progress.close()
    return result


def _run_seed_per_run(config: Config, seeds: list[int], device: torch.device | str, progress: Progress | None,
                      on_iteration: Callable[[int, RunResult], None] | None) -> RunResult:
    """:func:`run` for each seed on its own dataset draw; rows and provenance of all seeds together."""
    done = RunResult()
    draws = {}
    for seed in seeds:
        spec = dataclasses.replace(config.dataset, seed=config.dataset.seed + seed, seed_per_run=False)
        draws[str(seed)] = spec.seed

        def partial(k: int, result: RunResult, done: RunResult = done) -> None:
            if on_iteration is not None:
                merged = RunResult(rows=done.rows + result.rows,
                                   failed_seeds={**done.failed_seeds, **result.failed_seeds},
                                   extra={**result.extra, "dataset_seed_per_run": dict(draws)})
                on_iteration(k, merged)

        one = run(dataclasses.replace(config, dataset=spec), [seed], device, progress, partial)
        done.rows += one.rows
        done.failed_seeds.update(one.failed_seeds)
        done.extra = {**one.extra, "dataset_seed_per_run": dict(draws)}
    return done


def _score(metrics: dict[str, np.ndarray], fit_steps: np.ndarray, active: np.ndarray) -> str:
    """The progress line's score: mean avi_diff (or approx_error) over the seeds still running."""
    if not active.any():
        return "every seed diverged"
    name = "avi_diff" if "avi_diff" in metrics else "approx_error"
    return (f"mean {name} {metrics[name][active].mean():.4f}, "
            f"fit steps {fit_steps[active].min()}-{fit_steps[active].max()}")
