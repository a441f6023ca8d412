"""Tables of a multi-task against single-task experiment (MDQN vs DQN, MDDPG vs DDPG), per task and width.

A :class:`Study` names one such experiment: its ``experiment`` column value, the multi-task and
single-task algorithm names and labels, its tasks' order, labels and (optionally) groups, the epochs the
paper reported and how its published results were obtained. :mod:`analysis.dqn_tables` and
:mod:`analysis.ddpg_tables` are this module applied to their study.

For every run (one seed of one configuration) and task, two numbers summarise its curve of a metric per
epoch (epoch 0 = before training):

* ``auc``: the area under the curve over epochs 0..E by the trapezoidal rule, divided by E -- the
  average score over training, in the metric's units;
* ``final``: the mean over the last ``final_epochs`` trained epochs (the paper reports the last 10;
  fewer when the run has fewer).

Across seeds, each algorithm gets the interquartile mean (IQM) with a stratified-bootstrap interval
(:func:`analysis.aggregate.stratified_bootstrap_ci`, rliable's scheme), and the difference multi - single
gets its own interval from resampling the runs of both algorithms independently (the runs are not
paired). Failed (diverged) runs are excluded and counted. A task or width nobody ran has no row; an
algorithm that did not run a task shows no estimate and 0 seeds.

``<experiment>_vs_published``: ours against the authors' published summaries (:mod:`analysis.reference`)
per algorithm, task and width, at every paper checkpoint our runs reached (``study.paper_epochs``; an epoch
we did not reach is left out) and over our last ``final_epochs`` trained epochs (theirs averaged over the
same epochs, left out if they did not run them). A task they did not run has no row. Per row: means with
Student-t intervals and Welch's test of the difference (:mod:`analysis.vs_published`; for the window the
published spread is an upper bound, so that test is conservative).

Public API
----------
``Study``                                                    one multi- vs single-task experiment
``load_runs(study, paths) -> DataFrame``                     rows of the study's experiment only
``curves(frame, metric) -> (values, failed)``                one value per run, task and epoch
``run_summaries(values, final_epochs) -> DataFrame``         auc and final per run and task
``iqm_difference_ci(a, b, n_boot, rng, ci) -> (point, lo, hi)``
``summary_table(study, frame, ...)``, ``summary_display(study, table, ci)``,
``write_summary(study, frame, outdir, ...)``
``published_comparison(study, frame, published, ...)``, ``published_display(study, table, ci)``,
``write_published_comparison(study, frame, outdir, ...)``
``main(study, prog, argv) -> int``                           the CLI of ``python -m analysis.<experiment>_tables``
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis import reference
from analysis.aggregate import RUN_KEYS, load_any, split_failed, stratified_bootstrap_ci
from analysis.cli import add_published_argument, analysis_parser
from analysis.table_io import format_with_ci, write_table
from analysis.vs_published import COMPARISON_COLUMNS, compare, compare_display, window_summary
from mtrl_bench.random_streams import as_generator

MEASURES = ("auc", "final")


@dataclass(frozen=True)
class Study:
    """One multi-task vs single-task experiment, as its results and the published ones name it.

    ``task_groups``: group -> its tasks in order; when given, tasks are ordered group by group, the summary
    gets a ``group`` column and the figure one row of panels per group (empty: one group of every task).
    ``published_setting`` and ``score_convention`` complete the vs-published caption.
    """

    experiment: str
    multi: str
    single: str
    algorithm_labels: Mapping[str, str]
    task_order: tuple[str, ...]
    task_labels: Mapping[str, str]
    paper_epochs: tuple[int, ...]
    published_setting: str
    score_convention: str
    task_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    metric_labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def algorithms(self) -> tuple[str, str]:
        return self.multi, self.single

    def label(self, algorithm: str) -> str:
        return self.algorithm_labels.get(algorithm, algorithm)

    def task_label(self, task: str) -> str:
        return self.task_labels.get(task, task)

    def tasks_in_order(self, tasks: Iterable[str]) -> list[str]:
        present = set(tasks)
        return [t for t in self.task_order if t in present] + sorted(present - set(self.task_order))

    def group_of(self, task: str) -> str:
        """The task's group ("" without groups or for a task in none of them)."""
        return next((group for group, tasks in self.task_groups.items() if task in tasks), "")


def load_runs(study: Study, paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Rows of the study's experiment from results files (provenance header) and/or all-runs tables."""
    frame = load_any(paths)
    return frame.loc[frame["experiment"] == study.experiment].reset_index(drop=True)


def curves(frame: pd.DataFrame, metric: str = "return_discounted") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(values, failed)``: one ``value`` per run, task and epoch (columns RUN_KEYS, task, step,
    value) from the runs that did not fail, and one row per failed run (RUN_KEYS)."""
    ok, failed = split_failed(frame)
    rows = ok.loc[ok["metric"] == metric, [*RUN_KEYS, "task", "step", "value"]]
    return rows.sort_values([*RUN_KEYS, "task", "step"]).reset_index(drop=True), failed


def _run_summary(group: pd.DataFrame, final_epochs: int) -> pd.Series:
    steps = group["step"].to_numpy(dtype=float)
    values = group["value"].to_numpy(dtype=float)
    span = steps[-1] - steps[0]
    area = float(np.sum((values[1:] + values[:-1]) / 2.0 * np.diff(steps)))
    auc = area / span if span > 0 else float(values[-1])
    trained = group.loc[group["step"] > 0]
    last = trained if not trained.empty else group
    final = float(last.sort_values("step")["value"].tail(final_epochs).mean())
    return pd.Series({"auc": auc, "final": final, "epochs": int(steps[-1])})


def run_summaries(values: pd.DataFrame, final_epochs: int = 10) -> pd.DataFrame:
    """``auc`` and ``final`` per run and task (columns RUN_KEYS, task, auc, final, epochs)."""
    if values.empty:
        return pd.DataFrame(columns=[*RUN_KEYS, "task", *MEASURES, "epochs"])
    grouped = values.groupby([*RUN_KEYS, "task"], sort=True, dropna=False)
    return grouped[["step", "value"]].apply(_run_summary, final_epochs=final_epochs).reset_index()


def iqm_difference_ci(a: Sequence[float], b: Sequence[float], n_boot: int = 2000,
                      rng: np.random.Generator | int | None = 0, ci: float = 0.95) -> tuple[float, float, float]:
    """IQM(a) - IQM(b) and its percentile interval, resampling a's and b's runs independently."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0:
        return math.nan, math.nan, math.nan
    point = float(stats.trim_mean(a, 0.25) - stats.trim_mean(b, 0.25))
    if min(a.size, b.size) < 2 or n_boot <= 0:
        return point, math.nan, math.nan
    rng = as_generator(rng)
    resampled_a = a[rng.integers(0, a.size, size=(n_boot, a.size))]
    resampled_b = b[rng.integers(0, b.size, size=(n_boot, b.size))]
    diffs = stats.trim_mean(resampled_a, 0.25, axis=1) - stats.trim_mean(resampled_b, 0.25, axis=1)
    tail = 50.0 * (1.0 - ci)
    low, high = np.percentile(diffs, [tail, 100.0 - tail])
    return point, float(low), float(high)


def summary_table(study: Study, frame: pd.DataFrame, metric: str = "return_discounted", final_epochs: int = 10,
                  n_boot: int = 2000, rng: np.random.Generator | int | None = 0, ci: float = 0.95) -> pd.DataFrame:
    """One row per (width, task) that ran and measure (auc, final): each algorithm's IQM with its CI
    (``<algorithm>_iqm, _lo, _hi``), the difference multi - single with its CI (``diff, diff_lo, diff_hi``),
    and the seeds used / failed runs excluded. With task groups, ``group`` is the first column."""
    rng = as_generator(rng)
    values, _ = curves(frame, metric)
    summaries = run_summaries(values, final_epochs)
    failed_tasks = frame.loc[frame["failed"].astype(bool), [*RUN_KEYS, "task"]].drop_duplicates()
    rows = []
    for width in sorted(summaries["width"].unique()):
        for task in study.tasks_in_order(summaries["task"].unique()):
            here = summaries.loc[(summaries["width"] == width) & (summaries["task"] == task)]
            if here.empty:
                continue
            for measure in MEASURES:
                row = {"group": study.group_of(task)} if study.task_groups else {}
                row.update({"task": task, "width": width, "measure": measure, "metric": metric})
                scores = {}
                for algorithm in study.algorithms:
                    scores[algorithm] = here.loc[here["algorithm"] == algorithm, measure].to_numpy(dtype=float)
                    point, low, high = (stratified_bootstrap_ci(scores[algorithm], n_boot, rng, ci)
                                        if scores[algorithm].size else (math.nan,) * 3)
                    n_failed = len(failed_tasks.loc[(failed_tasks["algorithm"] == algorithm)
                                                    & (failed_tasks["width"] == width)
                                                    & (failed_tasks["task"] == task)])
                    row.update({f"{algorithm}_iqm": point, f"{algorithm}_lo": low, f"{algorithm}_hi": high,
                                f"{algorithm}_seeds": int(scores[algorithm].size), f"{algorithm}_failed": n_failed})
                diff = iqm_difference_ci(scores[study.multi], scores[study.single], n_boot, rng, ci)
                row.update({"diff": diff[0], "diff_lo": diff[1], "diff_hi": diff[2]})
                rows.append(row)
    return pd.DataFrame(rows)


def summary_display(study: Study, table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """The summary as strings, one estimate with its interval per cell."""
    names = {"auc": "AUC (mean over training)", "final": "final"}
    multi, single = study.label(study.multi), study.label(study.single)
    rows = []
    for r in table.to_dict("records"):
        row = {"group": r["group"]} if "group" in r else {}
        m, s = study.multi, study.single
        row.update({
            "task": study.task_label(r["task"]), "width": r["width"], "measure": names[r["measure"]],
            f"{multi} IQM [{ci:.0%} CI]": format_with_ci(r[f"{m}_iqm"], r[f"{m}_lo"], r[f"{m}_hi"]),
            f"{single} IQM [{ci:.0%} CI]": format_with_ci(r[f"{s}_iqm"], r[f"{s}_lo"], r[f"{s}_hi"]),
            f"{multi} - {single} [{ci:.0%} CI]": format_with_ci(r["diff"], r["diff_lo"], r["diff_hi"]),
            f"seeds ({multi}/{single})": f"{r[f'{m}_seeds']}/{r[f'{s}_seeds']}",
            f"failed ({multi}/{single})": f"{r[f'{m}_failed']}/{r[f'{s}_failed']}",
        })
        rows.append(row)
    return pd.DataFrame(rows)


def write_summary(study: Study, frame: pd.DataFrame, outdir: str | os.PathLike, metric: str = "return_discounted",
                  final_epochs: int = 10, n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> list[Path]:
    """Write ``<experiment>_summary.{csv,md,tex}`` under ``outdir``."""
    table = summary_table(study, frame, metric, final_epochs, n_boot, seed, ci)
    values, _ = curves(frame, metric) if not frame.empty else (pd.DataFrame(columns=["step"]), None)
    shortest = int(values.loc[values["step"] > 0].groupby([*RUN_KEYS, "task"])["step"].count().min()) \
        if (values["step"] > 0).any() else final_epochs
    window = f"{final_epochs} epochs" + (", all trained epochs of a run with fewer" if shortest < final_epochs else "")
    caption = (f"{study.label(study.multi)} vs single-task {study.label(study.single)}, {metric.replace('_', ' ')}: "
               f"area under the curve (trapezoidal, epochs 0..E, divided by E) and final value (mean of the last "
               f"{window}) per run; interquartile mean over seeds with {ci:.0%} stratified-bootstrap "
               f"CIs ({n_boot} resamples); the difference resamples both algorithms' runs independently; failed "
               f"runs excluded.")
    display = summary_display(study, table, ci) if not table.empty else None
    return write_table(table, outdir, f"{study.experiment}_summary", display, caption)


def _window_label(first: int, last: int) -> str:
    return f"epochs {first}-{last} (mean)"


def _ours_at_checkpoints(values: pd.DataFrame, final_epochs: int, epochs: Sequence[int]) -> pd.DataFrame:
    """Per run and task: the value at each of ``epochs`` reached and the mean over its last trained epochs.

    Columns: RUN_KEYS, task, checkpoint (label), first, last (epochs covered), value.
    """
    at = values.loc[values["step"].isin(list(epochs))]
    points = at.assign(checkpoint=at["step"].map(lambda e: f"epoch {e}"), first=at["step"], last=at["step"])
    trained = values.loc[values["step"] > 0].sort_values("step")
    window = trained.groupby([*RUN_KEYS, "task"], sort=True, dropna=False).tail(final_epochs)
    grouped = window.groupby([*RUN_KEYS, "task"], sort=True, dropna=False)["step"]
    window = window.assign(first=grouped.transform("min"), last=grouped.transform("max"))
    means = window.groupby([*RUN_KEYS, "task", "first", "last"], sort=True, dropna=False)["value"].mean()
    means = means.reset_index()
    means["checkpoint"] = [_window_label(f, la) for f, la in zip(means["first"], means["last"])]
    columns = [*RUN_KEYS, "task", "checkpoint", "first", "last", "value"]
    return pd.concat([points[columns], means[columns]], ignore_index=True)


def _theirs_at(published: pd.DataFrame, metric: str, checkpoints: pd.DataFrame) -> pd.DataFrame:
    """Published (algorithm, task, checkpoint) summaries for the (first, last) epoch spans in ``checkpoints``.

    A span the authors did not cover completely is left out.
    """
    rows = []
    spans = checkpoints[["algorithm", "task", "checkpoint", "first", "last"]].drop_duplicates()
    for r in spans.itertuples(index=False):
        points = reference.curve(published, metric, algorithm=r.algorithm, task=r.task)
        points = points.loc[points["step"].between(r.first, r.last)]
        if len(points) != r.last - r.first + 1:
            continue
        mean, std, n_runs = window_summary(points)
        n_tasks = published.loc[(published["algorithm"] == r.algorithm) & (published["task"] == r.task),
                                "n_tasks"].iloc[0]
        rows.append({"algorithm": r.algorithm, "task": r.task, "checkpoint": r.checkpoint, "mean": mean,
                     "std": std, "n_runs": n_runs, "theirs_n_tasks": int(n_tasks)})
    return pd.DataFrame(rows, columns=["algorithm", "task", "checkpoint", "mean", "std", "n_runs", "theirs_n_tasks"])


def published_comparison(study: Study, frame: pd.DataFrame, published: pd.DataFrame,
                         metric: str = "return_discounted", final_epochs: int = 10,
                         epochs: Sequence[int] | None = None, ci: float = 0.95) -> pd.DataFrame:
    """Ours vs the authors' per shared width, algorithm, task and checkpoint our runs reached.

    published: :func:`analysis.reference.load` ``(study.experiment)``; ``epochs`` default
    ``study.paper_epochs``. Columns: ``metric, width, algorithm, n_tasks, theirs_n_tasks, task`` +
    :data:`analysis.vs_published.COMPARISON_COLUMNS` + ``first, last`` (the epochs the checkpoint covers).
    Failed runs are excluded.
    """
    epochs = study.paper_epochs if epochs is None else epochs
    keys = ["algorithm", "task"]
    head = ["metric", "width", "algorithm", "n_tasks", "theirs_n_tasks", "task"]
    values, _ = curves(frame, metric) if not frame.empty else (pd.DataFrame(), None)
    theirs_all = published.loc[(published["experiment"] == study.experiment) & (published["metric"] == metric)]
    if values.empty or theirs_all.empty:
        return pd.DataFrame(columns=[*head, *COMPARISON_COLUMNS, "first", "last"])
    ours = _ours_at_checkpoints(values, final_epochs, epochs)
    theirs = _theirs_at(theirs_all, metric, ours)
    spans = ours[["checkpoint", "first", "last"]].drop_duplicates("checkpoint")
    parts = []
    for (width, n_tasks), group in ours.groupby(["width", "n_tasks"], sort=True):
        table = compare(group[[*keys, "checkpoint", "value"]], theirs, keys, ci)
        if not table.empty:
            parts.append(table.assign(metric=metric, width=width, n_tasks=n_tasks))
    if not parts:
        return pd.DataFrame(columns=[*head, *COMPARISON_COLUMNS, "first", "last"])
    table = pd.concat(parts, ignore_index=True)
    table = table.merge(theirs[[*keys, "checkpoint", "theirs_n_tasks"]], on=[*keys, "checkpoint"], how="left")
    table = table.merge(spans, on="checkpoint", how="left")
    order = {task: i for i, task in enumerate(study.task_order)}
    table["is_window"] = table["first"] != table["last"]  # single epochs first, then the window
    table = table.sort_values(["width", "task", "algorithm", "n_tasks", "is_window", "first"], kind="stable",
                              key=lambda c: c.map(lambda t: order.get(t, len(order))) if c.name == "task" else c)
    return table[[*head, *COMPARISON_COLUMNS, "first", "last"]].reset_index(drop=True)


def published_display(study: Study, table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """The comparison as strings, one estimate with its interval per cell."""
    display = compare_display(table, {"task": "task", "width": "width", "algorithm": "algorithm",
                                      "n_tasks": "T ours", "theirs_n_tasks": "T published"}, ci)
    display["task"] = display["task"].map(study.task_label)
    display["algorithm"] = display["algorithm"].map(study.label)
    return display


def write_published_comparison(study: Study, frame: pd.DataFrame, outdir: str | os.PathLike,
                               metric: str = "return_discounted", final_epochs: int = 10,
                               ci: float = 0.95) -> list[Path]:
    """Write ``<experiment>_vs_published.{csv,md,tex}`` under ``outdir``."""
    table = published_comparison(study, frame, reference.load(study.experiment), metric, final_epochs, ci=ci)
    caption = (f"Ours vs the published results of D'Eramo et al. (2020; {study.published_setting}), "
               f"{metric.replace('_', ' ')} ({study.score_convention}), at the paper's epochs our runs reached "
               f"and over our last {final_epochs} trained epochs (theirs over the same epochs): means with "
               f"{ci:.0%} Student-t CIs, the difference with Welch's {ci:.0%} CI and p-value (for a window the "
               f"published spread is an upper bound: conservative). Failed runs excluded.")
    display = published_display(study, table, ci) if not table.empty else None
    return write_table(table, outdir, f"{study.experiment}_vs_published", display, caption)


def main(study: Study, prog: str, argv: Sequence[str] | None = None) -> int:
    """``python -m analysis.<experiment>_tables``: the summary and, unless --no-published, the comparison."""
    multi, single = study.label(study.multi), study.label(study.single)
    parser = analysis_parser(prog, f"{multi} vs {single} per task, and ours vs the published results "
                                   f"(CSV, Markdown, LaTeX).")
    parser.add_argument("--metric", default="return_discounted", help="metric to summarise")
    parser.add_argument("--final-epochs", type=int, default=10, help="epochs averaged for the final value")
    add_published_argument(parser)
    args = parser.parse_args(argv)
    frame = load_runs(study, args.runs)
    paths = write_summary(study, frame, args.outdir, args.metric, args.final_epochs, args.n_boot, args.seed, args.ci)
    if args.published:
        paths += write_published_comparison(study, frame, args.outdir, args.metric, args.final_epochs, args.ci)
    for path in paths:
        print(path)
    return 0
