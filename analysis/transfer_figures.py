"""The transfer figure: per held-out task, return per epoch without transfer and for each unfreeze setting.

One panel per target task (columns) and shared width (rows); in each, one line per setting (no transfer
= the learner experiment's single-task runs of that task; then unfrozen at epoch N, frozen throughout):
the interquartile mean over seeds at each epoch with its ``ci`` stratified-bootstrap band
(:func:`analysis.dqn_figures.band_table`). Epoch 0 is the policy after the shared layers were loaded.
Failed (diverged) runs are left out and counted in a note. The authors' published curves of the same
setting and task (:mod:`analysis.reference`; their runs loaded the online network only) are drawn dashed
in the colour of ours, over the epochs our runs reached. Saved as
``transfer_<learner>_<metric>_per_epoch.{pdf,png}``; with no transfer rows the figure says so.

CLI (:mod:`analysis.cli`)::

    python -m analysis.transfer_figures --runs results/tables/all_runs_transfer_dqn.csv --outdir results/figures \\
        --learner dqn [--metric return_discounted] [--n-boot 2000 --seed 0 --ci 0.95] [--no-published]
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
from analysis.cli import add_published_argument, analysis_parser, run  # noqa: E402
from analysis.dqn_figures import METRIC_LABELS, band_table  # noqa: E402
from analysis.plotting import PUBLISHED_LABEL, draw_published, empty_figure, failed_note, save_figure  # noqa: E402
from analysis.transfer_tables import (  # noqa: E402
    LEARNERS,
    NO_TRANSFER,
    load_transfer_runs,
    published_curves,
    setting_label,
    setting_order,
    tasks_in_order,
    their_setting,
    transfer_curves,
)
from analysis.vs_published import t_interval  # noqa: E402


def _colours(settings: Sequence[str]) -> dict[str, tuple]:
    palette = sns.color_palette("deep")
    others = [s for s in settings if s != NO_TRANSFER]
    out = {NO_TRANSFER: (0.35, 0.35, 0.35)}
    out.update({s: palette[i % len(palette)] for i, s in enumerate(others)})
    return out


def plot_transfer(frame: pd.DataFrame, outdir: str | os.PathLike, learner: str = "dqn",
                  metric: str = "return_discounted", n_boot: int = 2000, rng: np.random.Generator | int | None = 0,
                  ci: float = 0.95, published: pd.DataFrame | None = None) -> list[Path]:
    """Draw the figure of ``learner``'s transfer runs (and their baselines) in ``frame``; return its paths."""
    stem = f"transfer_{learner}_{metric}_per_epoch"
    values, failed = transfer_curves(frame, learner, metric)
    if values.empty or (values["setting"] == NO_TRANSFER).all():
        return save_figure(empty_figure(f"no {learner.upper()} transfer runs with metric {metric!r}"), outdir, stem)
    bands = band_table(values.rename(columns={"setting": "algorithm"}).assign(n_tasks=1), n_boot, rng, ci)
    bands = bands.rename(columns={"algorithm": "setting"})
    theirs = published_curves(published, learner, metric) if published is not None else pd.DataFrame()
    their_settings = sorted(set(theirs["setting"])) if not theirs.empty else []
    widths, tasks = sorted(bands["width"].unique()), tasks_in_order(bands["task"].unique())
    settings = setting_order(bands["setting"])
    colours = _colours(settings)
    size = (max(6.0, 4.0 * len(tasks)), 3.0 * len(widths))
    fig, axes = plt.subplots(len(widths), len(tasks), figsize=size, squeeze=False, sharex=True)
    published_drawn = False
    for i, width in enumerate(widths):
        for j, task in enumerate(tasks):
            ax = axes[i, j]
            here = bands.loc[(bands["width"] == width) & (bands["task"] == task)]
            last = int(here["step"].max())
            for setting in settings:
                line = here.loc[here["setting"] == setting]
                if line.empty:
                    continue
                colour = colours[setting]
                ax.plot(line["step"], line["iqm"], color=colour,
                        label=f"{setting_label(setting)} (n={line['n_seeds'].max()})")
                ax.fill_between(line["step"], line["lo"], line["hi"], color=colour, alpha=0.2, linewidth=0)
                match = their_setting(setting, their_settings) if their_settings else None
                if match is None:
                    continue
                points = theirs.loc[(theirs["setting"] == match) & (theirs["task"] == task) & (theirs["step"] <= last)]
                if points.empty:
                    continue
                low, high = t_interval(points["mean"], points["std"], points["n_runs"], ci)
                draw_published(ax, points["step"], points["mean"], low, high,
                               label=None if published_drawn else PUBLISHED_LABEL, colour=colour)
                published_drawn = True
            ax.set_title(task + (f", width {width}" if len(widths) > 1 else ""), fontsize=10)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if i == len(widths) - 1:
                ax.set_xlabel("epoch")
            if j == 0:
                ax.set_ylabel(METRIC_LABELS.get(metric, metric))
            ax.legend(fontsize=6, frameon=False)
    n_failed = len(failed) if not failed.empty else 0
    title = f"Transfer of shared layers ({learner.upper()}): IQM over seeds, {ci:.0%} stratified-bootstrap band"
    if published_drawn:
        title += f"; dashed: published mean, {ci:.0%} t-band"
    fig.suptitle(title, fontsize=11)
    failed_note(fig, n_failed)
    fig.tight_layout()
    return save_figure(fig, outdir, stem)


def main(argv: Sequence[str] | None = None) -> int:
    parser = analysis_parser("python -m analysis.transfer_figures",
                             "Transfer: return per epoch per held-out task and unfreeze setting, beside no transfer "
                             "and the published curves (PDF and PNG).")
    parser.add_argument("--learner", choices=LEARNERS, default="dqn", help="dqn or ddpg (default dqn)")
    parser.add_argument("--metric", default="return_discounted", help="metric to plot")
    add_published_argument(parser)
    args = parser.parse_args(argv)
    frame = load_transfer_runs(args.runs)
    published = reference.load(args.learner) if args.published else None
    for path in plot_transfer(frame, args.outdir, args.learner, args.metric, args.n_boot, args.seed, args.ci,
                              published):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
