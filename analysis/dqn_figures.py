"""The paper's DQN figure: per task, return per epoch of MDQN against single-task DQN.

Drawn by :mod:`analysis.multitask_figures` for :data:`analysis.dqn_tables.STUDY`
(``dqn_<metric>_per_epoch.{pdf,png}``).

Design notes: docs/analysis.md#dqn-figure.
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
