"""The figure of a comparison study: per task, a metric per epoch of each algorithm, beside the references.

``<experiment>_<metric>_per_epoch``: one panel per task and shared width, IQM with bootstrap band.

Design notes: docs/analysis.md#the-comparison-figure.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from analysis import reference  # noqa: E402
from analysis.aggregate import RUN_KEYS, aggregate_seeds  # noqa: E402
from analysis.cli import add_published_argument, analysis_parser, print_paths  # noqa: E402
from analysis.multitask_tables import Study, curves, load_runs  # noqa: E402
from analysis.plotting import (  # noqa: E402
    PUBLISHED_LABEL,
    STYLES,
    draw_published,
    draw_reference,
    empty_figure,
    failed_note,
    save_figure,
    shipped_label,
)

UNPUBLISHED_NOTE = "no published counterpart"
BAND_KEYS = ["width", "task", "algorithm", "n_tasks", "step"]


def colours(study: Study, algorithms: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """Line colour per algorithm: the baseline blue, the others the next colours of seaborn's "deep"
    palette in the study's order (MDQN/MDDPG orange)."""
    palette = sns.color_palette("deep")
    others = [a for a in study.algorithms_in_order(algorithms) if a != study.baseline]
    return {study.baseline: palette[0], **{a: palette[(i + 1) % len(palette)] for i, a in enumerate(others)}}


def _panels(study: Study, bands: pd.DataFrame) -> tuple[list[tuple[str, object]], int]:
    """Rows of panels ``(group, width)`` and the number of columns (most tasks of a group that ran)."""
    tasks = study.tasks_in_order(bands["task"].unique())
    groups = list(dict.fromkeys(study.group_of(task) for task in tasks))
    widths = sorted(bands["width"].unique())
    rows = [(group, width) for group in groups for width in widths
            if not bands.loc[(bands["width"] == width) & bands["task"].map(study.group_of).eq(group)].empty]
    n_columns = max(sum(study.group_of(task) == group for task in tasks) for group in groups)
    return rows, n_columns


def _reference_line(ax: plt.Axes, study: Study, rows: pd.DataFrame, metric: str, algorithm: str, task: str,
                    width, last_step: int, ci: float, colour, kind: str, draw: Callable,
                    epoch_scale: float = 1.0) -> str | None:
    """One reference curve (the authors' or ours shipped) of (algorithm, task) beside ours, in its colour;
    its legend text, or None when there is none. The authors' epoch e is drawn at our epoch e x ``epoch_scale``."""
    theirs = study.their_algorithm(algorithm, rows["algorithm"].unique())
    if theirs is None:
        return None
    if kind == "authors":
        points, label = reference.curve(rows, metric, algorithm=theirs, task=task), PUBLISHED_LABEL
        points = points.assign(step=points["step"] * epoch_scale)
    else:
        points = reference.shipped_curve(rows, metric, width, algorithm=theirs, task=task)
        label = shipped_label(points, width)
    return label if draw_reference(ax, points, last_step, ci, None, colour, kind, draw) else None


def plot_returns(study: Study, frame: pd.DataFrame, outdir: str | os.PathLike, metric: str = "return_discounted",
                 n_boot: int = 2000, rng: np.random.Generator | int | None = 0, ci: float = 0.95,
                 published: pd.DataFrame | None = None, draw: Callable = draw_published,
                 unpublished_note: bool = False, shipped: pd.DataFrame | None = None,
                 published_epoch_scale: float = 1.0) -> list[Path]:
    """Draw the figure from the study's rows of ``frame`` (:meth:`Study.select`); return its paths.

    ``published``: the authors' summaries (:func:`analysis.reference.load`), ``shipped``: ours at the paper's
    protocol (:func:`analysis.reference.load_shipped`); each drawn beside ours per algorithm and task up to
    our last epoch by ``draw`` (:func:`analysis.plotting.draw_published`); None leaves it out.
    ``unpublished_note``: with ``published``, name at the bottom (:data:`UNPUBLISHED_NOTE`) the groups, or
    without groups the tasks, that have no published curve. ``published_epoch_scale``: our epochs per
    published epoch (:func:`analysis.reference.published_epoch_scale`; e.g. 10 for a protocol of 1,000-step
    epochs against the paper's 10,000): the published curves are drawn at equal environment steps.
    """
    stem = f"{study.experiment}_{metric}_per_epoch"
    frame = study.select(frame)
    values, failed = curves(frame, metric) if not frame.empty else (pd.DataFrame(), pd.DataFrame())
    if values.empty:
        return save_figure(empty_figure(f"no {study.title} runs with metric {metric!r}"), outdir, stem)
    references = [(kind, study.reference_rows(rows, metric)) for kind, rows in
                  (("authors", published), ("ours", shipped)) if rows is not None]
    bands = aggregate_seeds(values, BAND_KEYS, n_boot, rng, ci)
    several_widths = bands["width"].nunique() > 1
    rows, n_columns = _panels(study, bands)
    task_counts = bands.groupby("algorithm")["n_tasks"].nunique()
    line_colours = colours(study, bands["algorithm"].unique())
    unpublished: list[str] = []
    drawn = {"authors": False, "ours": False}
    fig, axes = plt.subplots(len(rows), n_columns, figsize=(max(3.2 * n_columns, 6.4), 2.6 * len(rows)),
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
            algorithms = [a for a in study.algorithms_in_order(here["algorithm"]) if a in set(here["algorithm"])]
            last = int(here["step"].max())
            for algorithm in algorithms:
                for n_tasks, line in here.loc[here["algorithm"] == algorithm].groupby("n_tasks", sort=True):
                    label = study.label(algorithm) + (f" (T={n_tasks})" if task_counts[algorithm] > 1 else "")
                    ax.plot(line["step"], line["iqm"], color=line_colours[algorithm],
                            label=f"{label} (n={line['n_seeds'].max()})")
                    ax.fill_between(line["step"], line["iqm_lo"], line["iqm_hi"], color=line_colours[algorithm],
                                    alpha=0.25, linewidth=0)
            handles, labels = ax.get_legend_handles_labels()
            for kind, reference_rows in references:
                found = [_reference_line(ax, study, reference_rows, metric, algorithm, task, width, last, ci,
                                         line_colours[algorithm], kind, draw, published_epoch_scale)
                         for algorithm in algorithms]
                found = [label for label in found if label]
                drawn[kind] |= bool(found)
                if found:  # one neutral entry per kind; the colour says whose curve it is
                    handles.append(Line2D([], [], **STYLES[kind][0]))
                    labels.append(found[0])
                elif kind == "authors":
                    unpublished.append(group or study.task_label(task))
            ax.set_title(study.task_label(task) + (f", width {width}" if several_widths else ""), fontsize=10)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if i == len(rows) - 1:
                ax.set_xlabel("epoch")
            if j == 0:
                ax.set_ylabel((f"{group}\n" if group else "") + study.metric_labels.get(metric, metric))
            ax.legend(handles, labels, fontsize=6, frameon=False)
    n_failed = len(failed.drop_duplicates(RUN_KEYS)) if not failed.empty else 0
    notes = [f"dashed: published mean, {ci:.0%} t-band"] if drawn["authors"] else []
    if drawn["authors"] and published_epoch_scale != 1:
        notes[0] += f", at equal environment steps (one published epoch = {published_epoch_scale:g} of ours)"
    notes += [f"dotted: ours at the paper's protocol (shipped), {ci:.0%} t-band"] if drawn["ours"] else []
    title = f"{study.title}: IQM over seeds, {ci:.0%} stratified-bootstrap band"
    if notes:
        title += "\n" + "; ".join(notes)
    fig.suptitle(title, fontsize=11)
    failed_note(fig, n_failed)
    if unpublished_note and unpublished:
        fig.text(0.01, 0.005, f"{UNPUBLISHED_NOTE}: {', '.join(dict.fromkeys(unpublished))}", ha="left",
                 va="bottom", fontsize=8, color="0.4")
    fig.tight_layout()
    return save_figure(fig, outdir, stem)


def figures_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The figure CLI's options: :func:`analysis.cli.analysis_parser` + --metric, --no-published, --no-shipped."""
    parser = analysis_parser(prog, description)
    parser.add_argument("--metric", default="return_discounted", help="metric to plot")
    add_published_argument(parser)
    return parser


def draw_figure(study: Study, args: argparse.Namespace, draw: Callable = draw_published,
                unpublished_note: bool = False) -> int:
    """Draw the figure the parsed ``args`` ask for, beside the references they keep; print its paths."""
    frame = load_runs(study, args.runs)
    published = reference.load(study.published_name) if args.published else None
    shipped = reference.load_shipped(study.shipped_name) if args.shipped else None
    return print_paths(plot_returns(study, frame, args.outdir, args.metric, args.n_boot, args.seed, args.ci,
                                    published, draw, unpublished_note, shipped))


def main(study: Study, prog: str, argv: Sequence[str] | None = None, draw: Callable = draw_published,
         unpublished_note: bool = False) -> int:
    """``python -m analysis.<experiment>_figures``: the figure of one metric, beside the references."""
    parser = figures_parser(prog, f"{study.title}: a metric per epoch per task, beside the published curves "
                                  f"and our shipped paper-protocol curves (PDF and PNG).")
    return draw_figure(study, parser.parse_args(argv), draw, unpublished_note)
