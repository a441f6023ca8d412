"""The paper's DQN figure: per task, return per epoch of MDQN against single-task DQN.

One panel per task (columns) and shared width (rows); in each, one line per algorithm: the
interquartile mean over seeds at each epoch with its 95% stratified-bootstrap band
(:func:`analysis.aggregate.stratified_bootstrap_ci`, rliable's scheme). Epoch 0 is the policy
before training. Failed (diverged) runs are left out and counted in a note. Saved as
``dqn_<metric>_per_epoch.{pdf,png}``, atomically (:func:`analysis.figures.save_figure`); with no
DQN rows the figure says so, so a workflow that declares the file always gets it.

CLI: ``python -m analysis.dqn_figures --outdir results/figures [--metric return_discounted]
[--n-boot 2000] [--seed 0] INPUT...`` where each INPUT is a results file of ``mtrl-bench run dqn``
or an all-runs table of ``analysis.aggregate``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis.aggregate import RUN_KEYS, add_bootstrap_arguments, stratified_bootstrap_ci  # noqa: E402
from analysis.dqn_tables import ALGORITHM_LABELS, TASK_LABELS, curves, load_dqn_runs, tasks_in_order  # noqa: E402
from analysis.figures import save_figure  # noqa: E402

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


def plot_returns(frame: pd.DataFrame, outdir: str | os.PathLike, metric: str = "return_discounted",
                 n_boot: int = 2000, rng: np.random.Generator | int | None = 0, ci: float = 0.95) -> list[Path]:
    """Draw the figure from DQN rows (see :func:`analysis.dqn_tables.load_dqn_runs`); return its paths."""
    stem = f"dqn_{metric}_per_epoch"
    values, failed = curves(frame, metric) if not frame.empty else (pd.DataFrame(), pd.DataFrame())
    if values.empty:
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.text(0.5, 0.5, f"no DQN runs with metric {metric!r}", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return save_figure(fig, outdir, stem)
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
            ax.set_title(TASK_LABELS.get(task, task) + (f", width {width}" if len(widths) > 1 else ""), fontsize=10)
            if i == len(widths) - 1:
                ax.set_xlabel("epoch")
            if j == 0:
                ax.set_ylabel(METRIC_LABELS.get(metric, metric))
            ax.legend(fontsize=7, frameon=False)
    n_failed = len(failed.drop_duplicates(RUN_KEYS)) if not failed.empty else 0
    fig.suptitle(f"MDQN vs DQN: IQM over seeds, {ci:.0%} stratified-bootstrap band", fontsize=11)
    if n_failed:
        fig.text(0.99, 0.005, f"{n_failed} failed run(s) excluded", ha="right", va="bottom", fontsize=8, color="0.4")
    fig.tight_layout()
    return save_figure(fig, outdir, stem)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.dqn_figures",
                                     description="MDQN vs DQN: return per epoch per task (PDF and PNG).")
    parser.add_argument("inputs", nargs="+", help="results files of `mtrl-bench run dqn` and/or all-runs tables")
    parser.add_argument("--outdir", required=True, help="output folder, e.g. results/figures")
    parser.add_argument("--metric", default="return_discounted", help=f"one of {', '.join(METRIC_LABELS)}")
    add_bootstrap_arguments(parser)
    args = parser.parse_args(argv)
    frame = load_dqn_runs(args.inputs)
    for path in plot_returns(frame, args.outdir, args.metric, args.n_boot, args.seed, args.ci):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
