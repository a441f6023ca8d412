"""The figure of a multi-task against single-task experiment: per task, a metric per epoch, beside the published.

One panel per task and shared width: rows are the widths (with task groups, group by group), columns the
tasks (of the row's group, in the study's order). In each panel, one line per algorithm: the interquartile
mean over seeds at each epoch with its ``ci`` stratified-bootstrap band
(:func:`analysis.aggregate.stratified_bootstrap_ci`, rliable's scheme). Epoch 0 is the policy before
training. Failed (diverged) runs are left out and counted in a note. Beside each of our lines, the authors'
published curve of the same algorithm and task (:mod:`analysis.reference`) is drawn dashed in the same
colour with a hatched grey Student-t ``ci`` band, over the epochs our runs reached; with
``unpublished_note``, a note at the bottom names the groups (or tasks) they did not run. Saved as
``<experiment>_<metric>_per_epoch.{pdf,png}`` (:func:`analysis.plotting.save_figure`); with no rows the
figure says so, so a workflow that declares the file always gets it.

Public API
----------
``band_table(values, n_boot, rng, ci) -> DataFrame``     IQM and CI per width, task, algorithm, n_tasks, epoch
``plot_returns(study, frame, outdir, metric, n_boot, rng, ci, published, draw, unpublished_note) -> [pdf, png]``
``main(study, prog, argv, draw) -> int``                 the CLI of ``python -m analysis.<experiment>_figures``
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
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
from analysis.cli import add_published_argument, analysis_parser  # noqa: E402
from analysis.multitask_tables import Study, curves, load_runs  # noqa: E402
from analysis.plotting import PUBLISHED_LABEL, draw_published, empty_figure, failed_note, save_figure  # noqa: E402
from analysis.vs_published import t_interval  # noqa: E402
from mtrl_bench.random_streams import as_generator  # noqa: E402

UNPUBLISHED_NOTE = "no published counterpart"


def colours(study: Study) -> dict[str, tuple[float, float, float]]:
    """Line colour per algorithm: the multi-task one orange, the single-task one blue."""
    palette = sns.color_palette("deep")
    return {study.multi: palette[1], study.single: palette[0]}


def band_table(values: pd.DataFrame, n_boot: int = 2000, rng: np.random.Generator | int | None = 0,
               ci: float = 0.95) -> pd.DataFrame:
    """IQM and CI over seeds per (width, task, algorithm, n_tasks, step): columns iqm, lo, hi, n_seeds."""
    rng = as_generator(rng)
    keys = ["width", "task", "algorithm", "n_tasks", "step"]
    rows = []
    for key, group in values.groupby(keys, sort=True):
        point, low, high = stratified_bootstrap_ci(group["value"].to_numpy(dtype=float), n_boot, rng, ci)
        rows.append({**dict(zip(keys, key)), "iqm": point, "lo": low, "hi": high, "n_seeds": len(group)})
    return pd.DataFrame(rows, columns=[*keys, "iqm", "lo", "hi", "n_seeds"])


def _published_line(ax: plt.Axes, study: Study, published: pd.DataFrame, metric: str, algorithm: str, task: str,
                    last_step: int, ci: float, label: str | None, draw: Callable) -> bool:
    """The authors' curve of (algorithm, task) up to ``last_step``; False when they have none."""
    points = reference.curve(published, metric, algorithm=algorithm, task=task)
    points = points.loc[points["step"] <= last_step]
    if points.empty:
        return False
    low, high = t_interval(points["mean"], points["std"], points["n_runs"], ci)
    draw(ax, points["step"], points["mean"], low, high, label=label, colour=colours(study).get(algorithm))
    return True


def _panels(study: Study, bands: pd.DataFrame) -> tuple[list[tuple[str, object]], int]:
    """Rows of panels ``(group, width)`` and the number of columns (most tasks of a group that ran)."""
    tasks = study.tasks_in_order(bands["task"].unique())
    groups = list(dict.fromkeys(study.group_of(task) for task in tasks))
    widths = sorted(bands["width"].unique())
    rows = [(group, width) for group in groups for width in widths
            if not bands.loc[(bands["width"] == width) & bands["task"].map(study.group_of).eq(group)].empty]
    n_columns = max(sum(study.group_of(task) == group for task in tasks) for group in groups)
    return rows, n_columns


def plot_returns(study: Study, frame: pd.DataFrame, outdir: str | os.PathLike, metric: str = "return_discounted",
                 n_boot: int = 2000, rng: np.random.Generator | int | None = 0, ci: float = 0.95,
                 published: pd.DataFrame | None = None, draw: Callable = draw_published,
                 unpublished_note: bool = False) -> list[Path]:
    """Draw the figure from the study's rows (see :func:`analysis.multitask_tables.load_runs`); return its paths.

    ``published``: the authors' summaries (:func:`analysis.reference.load`), drawn beside ours per algorithm
    and task up to our last epoch by ``draw`` (:func:`analysis.plotting.draw_published`); None draws ours
    alone. ``unpublished_note``: with ``published``, name at the bottom (:data:`UNPUBLISHED_NOTE`) the
    groups, or without groups the tasks, that have no published curve.
    """
    stem = f"{study.experiment}_{metric}_per_epoch"
    values, failed = curves(frame, metric) if not frame.empty else (pd.DataFrame(), pd.DataFrame())
    name = study.label(study.single)
    if values.empty:
        return save_figure(empty_figure(f"no {name} runs with metric {metric!r}"), outdir, stem)
    if published is not None:
        published = published.loc[published["experiment"] == study.experiment]
    bands = band_table(values, n_boot, rng, ci)
    several_widths = bands["width"].nunique() > 1
    rows, n_columns = _panels(study, bands)
    several_multi = bands.loc[bands["algorithm"] == study.multi, "n_tasks"].nunique() > 1
    line_colours = colours(study)
    unpublished: list[str] = []
    drew_published = False
    fig, axes = plt.subplots(len(rows), n_columns, figsize=(3.2 * n_columns, 2.6 * len(rows)),
                             squeeze=False, sharex=True)
    for i, (group, width) in enumerate(rows):
        tasks = [t for t in study.tasks_in_order(bands["task"].unique()) if study.group_of(t) == group]
        for j in range(n_columns):
            ax = axes[i, j]
            here = bands.loc[(bands["width"] == width) & (bands["task"] == tasks[j])] if j < len(tasks) else None
            if here is None or here.empty:
                ax.set_axis_off()
                continue
            task = tasks[j]
            for (algorithm, n_tasks), line in here.groupby(["algorithm", "n_tasks"], sort=True):
                colour = line_colours.get(algorithm)
                label = study.label(algorithm)
                if algorithm == study.multi and several_multi:
                    label = f"{label} (T={n_tasks})"
                ax.plot(line["step"], line["iqm"], color=colour, label=f"{label} (n={line['n_seeds'].max()})")
                ax.fill_between(line["step"], line["lo"], line["hi"], color=colour, alpha=0.25, linewidth=0)
            if published is not None:
                last = int(here["step"].max())
                drawn = [_published_line(ax, study, published, metric, algorithm, task, last, ci,
                                         f"{study.label(algorithm)} {PUBLISHED_LABEL}", draw)
                         for algorithm in here["algorithm"].unique()]
                drew_published |= any(drawn)
                if not any(drawn):
                    unpublished.append(group or study.task_label(task))
            ax.set_title(study.task_label(task) + (f", width {width}" if several_widths else ""), fontsize=10)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if i == len(rows) - 1:
                ax.set_xlabel("epoch")
            if j == 0:
                ax.set_ylabel((f"{group}\n" if group else "") + study.metric_labels.get(metric, metric))
            ax.legend(fontsize=6, frameon=False)
    n_failed = len(failed.drop_duplicates(RUN_KEYS)) if not failed.empty else 0
    title = f"{study.label(study.multi)} vs {name}: IQM over seeds, {ci:.0%} stratified-bootstrap band"
    if drew_published:
        title += f"; dashed: published mean, {ci:.0%} t-band"
    fig.suptitle(title, fontsize=11)
    failed_note(fig, n_failed)
    if unpublished_note and unpublished:
        fig.text(0.01, 0.005, f"{UNPUBLISHED_NOTE}: {', '.join(dict.fromkeys(unpublished))}", ha="left",
                 va="bottom", fontsize=8, color="0.4")
    fig.tight_layout()
    return save_figure(fig, outdir, stem)


def main(study: Study, prog: str, argv: Sequence[str] | None = None, draw: Callable = draw_published,
         unpublished_note: bool = False) -> int:
    """``python -m analysis.<experiment>_figures``: the figure of one metric, beside the published curves."""
    multi, single = study.label(study.multi), study.label(study.single)
    parser = analysis_parser(prog, f"{multi} vs {single}: return per epoch per task, beside the published "
                                   f"curves (PDF and PNG).")
    parser.add_argument("--metric", default="return_discounted", help=f"one of {', '.join(study.metric_labels)}")
    add_published_argument(parser)
    args = parser.parse_args(argv)
    frame = load_runs(study, args.runs)
    published = reference.load(study.experiment) if args.published else None
    for path in plot_returns(study, frame, args.outdir, args.metric, args.n_boot, args.seed, args.ci, published,
                             draw, unpublished_note):
        print(path)
    return 0
