"""The paper's DQN figure: per task, return per epoch of MDQN against single-task DQN.

Drawn by :mod:`analysis.multitask_figures` for :data:`analysis.dqn_tables.STUDY`; this module keeps the DQN names.

One panel per task (columns) and shared width (rows); in each, one line per algorithm: the
interquartile mean over seeds at each epoch with its ``ci`` stratified-bootstrap band
(:func:`analysis.aggregate.stratified_bootstrap_ci`, rliable's scheme). Epoch 0 is the policy
before training. Failed (diverged) runs are left out and counted in a note. Beside each of our lines,
the authors' published curve of the same algorithm and task (:mod:`analysis.reference`: mean over 100
runs, MDQN on all five tasks, width 80) is drawn dashed in the same colour with a hatched grey
Student-t ``ci`` band, over the epochs our runs reached. The score conventions match: both average the
discounted return over the evaluation episodes completed within the test steps. Our own shipped
paper-protocol curves (``analysis/reference/ours/dqn.csv``, :mod:`analysis.ship`) are drawn dotted beside
them when that file exists (``--no-shipped`` leaves them out). Saved as
``dqn_<metric>_per_epoch.{pdf,png}`` (:func:`analysis.plotting.save_figure`); with no DQN rows the
figure says so, so a workflow that declares the file always gets it.

CLI (:mod:`analysis.cli`)::

    python -m analysis.dqn_figures --runs results/tables/all_runs_dqn.csv --outdir results/figures \\
        [--n-boot 2000 --seed 0 --ci 0.95] [--metric return_discounted] [--no-published] \\
        [--no-shipped]

where ``--runs`` takes results files of ``mtrl-bench run dqn`` and/or all-runs tables of ``analysis.aggregate``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import multitask_figures as mf
from analysis.cli import run
from analysis.dqn_tables import STUDY
from analysis.plotting import draw_published


def plot_returns(frame: pd.DataFrame, outdir: str | os.PathLike, metric: str = "return_discounted",
                 n_boot: int = 2000, rng: np.random.Generator | int | None = 0, ci: float = 0.95,
                 published: pd.DataFrame | None = None, shipped: pd.DataFrame | None = None) -> list[Path]:
    """Draw the figure from DQN rows (:func:`analysis.multitask_tables.load_runs`); return its paths.

    ``published``: the authors' summaries (:func:`analysis.reference.load` ``("dqn")``), drawn beside ours
    per algorithm and task up to our last epoch; None draws ours alone.
    """
    return mf.plot_returns(STUDY, frame, outdir, metric, n_boot, rng, ci, published, draw=draw_published,
                           shipped=shipped)


def main(argv: Sequence[str] | None = None) -> int:
    return mf.main(STUDY, "python -m analysis.dqn_figures", argv, draw=draw_published)


if __name__ == "__main__":
    raise SystemExit(run(main))
