"""The paper's DDPG figure: per task, the score per epoch of MDDPG against single-task DDPG.

Drawn by :mod:`analysis.multitask_figures` for :data:`analysis.ddpg_tables.STUDY`
(``ddpg_<metric>_per_epoch.{pdf,png}``).

Design notes: docs/analysis.md#ddpg-figure.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import multitask_figures as mf
from analysis.cli import run
from analysis.ddpg_tables import STUDY
from analysis.plotting import draw_published


def plot_returns(frame: pd.DataFrame, outdir: str | os.PathLike, metric: str = "return_discounted",
                 n_boot: int = 2000, rng: np.random.Generator | int | None = 0, ci: float = 0.95,
                 published: pd.DataFrame | None = None, shipped: pd.DataFrame | None = None) -> list[Path]:
    """Draw the figure from DDPG rows (:func:`analysis.multitask_tables.load_runs`); return its paths.

    ``published``: :func:`analysis.reference.load` ``("ddpg")``, drawn beside ours where the task matches
    (a note names the groups without); None draws ours alone.
    """
    return mf.plot_returns(STUDY, frame, outdir, metric, n_boot, rng, ci, published, draw=draw_published,
                           unpublished_note=True, shipped=shipped)


def main(argv: Sequence[str] | None = None) -> int:
    return mf.main(STUDY, "python -m analysis.ddpg_figures", argv, draw=draw_published, unpublished_note=True)


if __name__ == "__main__":
    raise SystemExit(run(main))
