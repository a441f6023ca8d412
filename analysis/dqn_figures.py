"""The paper's DQN figure: per task, return per epoch of MDQN against single-task DQN.

One panel per task (columns) and shared width (rows); in each, one line per algorithm: the
interquartile mean over seeds at each epoch with its ``ci`` stratified-bootstrap band
(:func:`analysis.aggregate.stratified_bootstrap_ci`, rliable's scheme). Epoch 0 is the policy
before training. Failed (diverged) runs are left out and counted in a note. Beside each of our lines,
the authors' published curve of the same algorithm and task (:mod:`analysis.reference`: mean over 100
runs, MDQN on all five tasks, width 80) is drawn dashed in the same colour with a hatched grey
Student-t ``ci`` band, over the epochs our runs reached. The score conventions match: both average the
discounted return over the evaluation episodes completed within the test steps. Saved as
``dqn_<metric>_per_epoch.{pdf,png}`` (:func:`analysis.plotting.save_figure`); with no DQN rows the
figure says so, so a workflow that declares the file always gets it.

CLI (:mod:`analysis.cli`)::

    python -m analysis.dqn_figures --runs results/tables/all_runs_dqn.csv --outdir results/figures \\
        [--n-boot 2000 --seed 0 --ci 0.95] [--metric return_discounted] [--no-published]

where ``--runs`` takes results files of ``mtrl-bench run dqn`` and/or all-runs tables of ``analysis.aggregate``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from analysis import reference  # noqa: E402
from analysis.aggregate import RUN_KEYS, stratified_bootstrap_ci  # noqa: E402
from analysis.cli import add_published_argument, analysis_parser, run  # noqa: E402
from analysis.dqn_tables import (  # noqa: E402
    ALGORITHM_LABELS,
    EXPERIMENT,
    TASK_LABELS,
    curves,
    load_dqn_runs,
    tasks_in_order,
)
from analysis.plotting import PUBLISHED_LABEL, draw_published, empty_figure, failed_note, save_figure  # noqa: E402
from analysis.vs_published import t_interval  # noqa: E402

METRIC_LABELS = {"return_discounted": "discounted return", "return_undiscounted": "undiscounted return",
                 "td_loss": "TD loss (Huber)", "episodes_completed": "episodes completed"}
COLOURS = {"mdqn": sns.color_palette("deep")[1], "dqn": sns.color_palette("deep")[0]}


def band_table(values: pd.DataFrame, n_boot: int = 2000, rng: np.random.Generator | int | None = 0,
               ci: float = 0.95) -> pd.DataFrame:
    """IQM and CI over seeds per (width, task, algorithm, n_tasks, step): columns iqm, lo, hi, n_seeds."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    keys = ["width", "task", "algorithm", "n_tasks", "step"]
    rows = []
    for key, group in values.groupby(keys, sort=True):
        point, low, high = stratified_bootstrap_ci(group["value"].to_numpy(dtype=float), n_boot, rng, ci)
        rows.append({**dict(zip(keys, key)), "iqm": point, "lo": low, "hi": high, "n_seeds": len(group)})
    return pd.DataFrame(rows, columns=[*keys, "iqm", "lo", "hi", "n_seeds"])


def _label(algorithm: str, n_tasks: int, several_mdqn: bool) -> str:
    label = ALGORITHM_LABELS.get(algorithm, algorithm)
    return f"{label} (T={n_tasks})" if algorithm == "mdqn" and several_mdqn else label


def _draw_published_line(ax: plt.Axes, published: pd.DataFrame, metric: str, algorithm: str, task: str,
                         last_step: int, ci: float, label: str | None) -> bool:
    """The authors' curve of (algorithm, task) up to ``last_step``; False when they have none."""
    points = reference.curve(published, metric, algorithm=algorithm, task=task)
    points = points.loc[points["step"] <= last_step]
    if points.empty:
        return False
    low, high = t_interval(points["mean"], points["std"], points["n_runs"], ci)
    draw_published(ax, points["step"], points["mean"], low, high, label=label, colour=COLOURS.get(algorithm))
    return True


def plot_returns(frame: pd.DataFrame, outdir: str | os.PathLike, metric: str = "return_discounted",
                 n_boot: int = 2000, rng: np.random.Generator | int | None = 0, ci: float = 0.95,
                 published: pd.DataFrame | None = None) -> list[Path]:
    """Draw the figure from DQN rows (see :func:`analysis.dqn_tables.load_dqn_runs`); return its paths.

    ``published``: the authors' summaries (:func:`analysis.reference.load` ``("dqn")``), drawn beside ours
    per algorithm and task up to our last epoch; None draws ours alone.
    """
    stem = f"dqn_{metric}_per_epoch"
    values, failed = curves(frame, metric) if not frame.empty else (pd.DataFrame(), pd.DataFrame())
    if values.empty:
        return save_figure(empty_figure(f"no DQN runs with metric {metric!r}"), outdir, stem)
    if published is not None:
        published = published.loc[published["experiment"] == EXPERIMENT]
    bands = band_table(values, n_boot, rng, ci)
    widths = sorted(bands["width"].unique())
    tasks = tasks_in_order(bands["task"].unique())
    several_mdqn = bands.loc[bands["algorithm"] == "mdqn", "n_tasks"].nunique() > 1
    fig, axes = plt.subplots(len(widths), len(tasks), figsize=(3.2 * len(tasks), 2.6 * len(widths)),
                             squeeze=False, sharex=True)
    for i, width in enumerate(widths):
        for j, task in enumerate(tasks):
            ax = axes[i, j]
            here = bands.loc[(bands["width"] == width) & (bands["task"] == task)]
            for (algorithm, n_tasks), line in here.groupby(["algorithm", "n_tasks"], sort=True):
                colour = COLOURS.get(algorithm)
                label = _label(algorithm, n_tasks, several_mdqn)
                ax.plot(line["step"], line["iqm"], color=colour, label=f"{label} (n={line['n_seeds'].max()})")
                ax.fill_between(line["step"], line["lo"], line["hi"], color=colour, alpha=0.25, linewidth=0)
            if published is not None:
                last = int(here["step"].max())
                for algorithm in here["algorithm"].unique():
                    text = f"{ALGORITHM_LABELS.get(algorithm, algorithm)} {PUBLISHED_LABEL}"
                    _draw_published_line(ax, published, metric, algorithm, task, last, ci, text)
            ax.set_title(TASK_LABELS.get(task, task) + (f", width {width}" if len(widths) > 1 else ""), fontsize=10)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if i == len(widths) - 1:
                ax.set_xlabel("epoch")
            if j == 0:
                ax.set_ylabel(METRIC_LABELS.get(metric, metric))
            ax.legend(fontsize=6, frameon=False)
    n_failed = len(failed.drop_duplicates(RUN_KEYS)) if not failed.empty else 0
    title = f"MDQN vs DQN: IQM over seeds, {ci:.0%} stratified-bootstrap band"
    if published is not None:
        title += f"; dashed: published mean, {ci:.0%} t-band"
    fig.suptitle(title, fontsize=11)
    failed_note(fig, n_failed)
    fig.tight_layout()
    return save_figure(fig, outdir, stem)


def main(argv: Sequence[str] | None = None) -> int:
    parser = analysis_parser("python -m analysis.dqn_figures",
                             "MDQN vs DQN: return per epoch per task, beside the published curves (PDF and PNG).")
    parser.add_argument("--metric", default="return_discounted", help=f"one of {', '.join(METRIC_LABELS)}")
    add_published_argument(parser)
    args = parser.parse_args(argv)
    frame = load_dqn_runs(args.runs)
    published = reference.load("dqn") if args.published else None
    for path in plot_returns(frame, args.outdir, args.metric, args.n_boot, args.seed, args.ci, published):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
