"""Table of the DQN experiment: MDQN against single-task DQN, per task and shared width.

The computation is :mod:`analysis.multitask_tables` applied to :data:`STUDY`; this module keeps the DQN names.

For every run (one seed of one configuration) and task, two numbers summarise its curve of
``return_discounted`` per epoch (epoch 0 = before training):

* ``auc``: the area under the curve over epochs 0..E by the trapezoidal rule, divided by E -- the
  average return over training, in return units;
* ``final``: the mean over the last ``final_epochs`` epochs (the paper reports the last 10).

Across seeds, each algorithm gets the interquartile mean (IQM) with a 95% stratified-bootstrap
interval (:func:`analysis.aggregate.stratified_bootstrap_ci`, rliable's scheme), and the difference
MDQN - DQN gets its own interval from resampling the runs of both algorithms independently (the
runs are not paired). Failed (diverged) runs are excluded and counted.

Output ``dqn_summary.{csv,md,tex}``: the CSV keeps full precision, one column per number; the
Markdown and LaTeX versions show "estimate [low, high]".

Output ``dqn_vs_published.{csv,md,tex}``: ours against the authors' published summaries
(:mod:`analysis.reference`; 100 runs of MDQN on all five tasks and of DQN on each, width 80) per
algorithm, task and shared width, at every paper checkpoint our runs reached (epochs
:data:`PAPER_EPOCHS`; an epoch we did not reach is left out) and over our last ``final_epochs`` trained
epochs (the paper's "last 10 epochs" when our runs last 50 epochs; theirs averaged over the same epochs,
left out if they did not run them). Per row: means with Student-t intervals and Welch's test of the
difference (:mod:`analysis.vs_published`; for the window, the published spread is an upper bound, so
that test is conservative). The score conventions match: both average the discounted return over the
evaluation episodes completed within the test steps. Our MDQN may train on fewer tasks than theirs
(columns ``n_tasks`` and ``theirs_n_tasks``).

Public API
----------
``STUDY``                                      the DQN :class:`analysis.multitask_tables.Study`
``load_dqn_runs(paths) -> DataFrame``          results files or all-runs tables, experiment ``dqn`` only
``curves(frame, metric) -> (values, failed)``  one value per run, task and epoch (failed runs dropped)
``run_summaries(curves, final_epochs) -> DataFrame``  auc and final per run and task
``iqm_difference_ci(a, b, n_boot, rng, ci) -> (point, lo, hi)``
``summary_table(frame, metric, final_epochs, n_boot, rng, ci) -> DataFrame``
``write_summary(frame, outdir, ...) -> list[Path]``
``published_comparison(frame, published, metric, final_epochs, epochs=PAPER_EPOCHS, ci) -> DataFrame``
``write_published_comparison(frame, outdir, ...) -> list[Path]``

CLI (:mod:`analysis.cli`)::

    python -m analysis.dqn_tables --runs results/tables/all_runs_dqn.csv --outdir results/tables \\
        [--n-boot 2000 --seed 0 --ci 0.95] [--metric return_discounted] [--final-epochs 10] [--no-published]

where ``--runs`` takes results files of ``mtrl-bench run dqn`` and/or all-runs tables of ``analysis.aggregate``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import multitask_tables as mt
from analysis.cli import run
from analysis.multitask_tables import MEASURES, curves, iqm_difference_ci, run_summaries

__all__ = ["ALGORITHMS", "ALGORITHM_LABELS", "EXPERIMENT", "MEASURES", "PAPER_EPOCHS", "STUDY", "TASK_LABELS",
           "TASK_ORDER", "curves", "iqm_difference_ci", "load_dqn_runs", "main", "published_comparison",
           "published_display", "run_summaries", "summary_display", "summary_table", "tasks_in_order",
           "write_published_comparison", "write_summary"]

EXPERIMENT = "dqn"
ALGORITHMS = ("mdqn", "dqn")
ALGORITHM_LABELS = {"mdqn": "MDQN", "dqn": "DQN"}
TASK_ORDER = ("cartpole", "acrobot", "mountaincar", "car_on_hill", "inverted_pendulum")
TASK_LABELS = {"cartpole": "Cart-Pole", "acrobot": "Acrobot", "mountaincar": "Mountain-Car",
               "car_on_hill": "Car-On-Hill", "inverted_pendulum": "Inverted-Pendulum"}
PAPER_EPOCHS = (0, 10, 20, 30, 40, 50)
"""Epochs at which dqn_vs_published compares (0 = before training), besides the last-epochs window."""

STUDY = mt.Study(
    experiment=EXPERIMENT, multi="mdqn", single="dqn", algorithm_labels=ALGORITHM_LABELS, task_order=TASK_ORDER,
    task_labels=TASK_LABELS, paper_epochs=PAPER_EPOCHS,
    published_setting="100 runs, width 80, MDQN on all five tasks",
    score_convention="both average the evaluation episodes completed within the test steps",
    metric_labels={"return_discounted": "discounted return", "return_undiscounted": "undiscounted return",
                   "td_loss": "TD loss (Huber)", "episodes_completed": "episodes completed"})


def load_dqn_runs(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Rows of experiment ``dqn`` from results files (provenance header) and/or all-runs tables."""
    return mt.load_runs(STUDY, paths)


def tasks_in_order(tasks: Iterable[str]) -> list[str]:
    return STUDY.tasks_in_order(tasks)


def summary_table(frame: pd.DataFrame, metric: str = "return_discounted", final_epochs: int = 10,
                  n_boot: int = 2000, rng: np.random.Generator | int | None = 0, ci: float = 0.95) -> pd.DataFrame:
    """One row per task, shared width and measure (auc, final): each algorithm's IQM with its CI,
    the difference MDQN - DQN with its CI, and the seeds used / failed runs excluded."""
    return mt.summary_table(STUDY, frame, metric, final_epochs, n_boot, rng, ci)


def summary_display(table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """The summary as strings, one estimate with its interval per cell."""
    return mt.summary_display(STUDY, table, ci)


def write_summary(frame: pd.DataFrame, outdir: str | os.PathLike, metric: str = "return_discounted",
                  final_epochs: int = 10, n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> list[Path]:
    """Write ``dqn_summary.{csv,md,tex}`` under ``outdir``."""
    return mt.write_summary(STUDY, frame, outdir, metric, final_epochs, n_boot, seed, ci)


def published_comparison(frame: pd.DataFrame, published: pd.DataFrame, metric: str = "return_discounted",
                         final_epochs: int = 10, epochs: Sequence[int] = PAPER_EPOCHS,
                         ci: float = 0.95) -> pd.DataFrame:
    """Ours vs the authors' per shared width, algorithm, task and checkpoint our runs reached
    (:func:`analysis.multitask_tables.published_comparison`)."""
    return mt.published_comparison(STUDY, frame, published, metric, final_epochs, epochs, ci)


def published_display(table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """The comparison as strings, one estimate with its interval per cell."""
    return mt.published_display(STUDY, table, ci)


def write_published_comparison(frame: pd.DataFrame, outdir: str | os.PathLike, metric: str = "return_discounted",
                               final_epochs: int = 10, ci: float = 0.95) -> list[Path]:
    """Write ``dqn_vs_published.{csv,md,tex}`` under ``outdir``."""
    return mt.write_published_comparison(STUDY, frame, outdir, metric, final_epochs, ci)


def main(argv: Sequence[str] | None = None) -> int:
    return mt.main(STUDY, "python -m analysis.dqn_tables", argv)


if __name__ == "__main__":
    raise SystemExit(run(main))
