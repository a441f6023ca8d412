"""Tables of a comparison study: algorithms (or settings) x tasks x epochs, each against a baseline.

A :class:`Study` writes ``<experiment>_summary`` and ``<experiment>_vs_published``; the pipeline:
docs/analysis.md#one-comparison-pipeline.

Design notes: docs/analysis.md#comparison-tables-auc-final-intervals.
"""

from __future__ import annotations

import argparse
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
from analysis.cli import add_published_argument, analysis_parser, print_paths
from analysis.table_io import format_with_ci, write_table
from analysis.vs_published import (
    COMPARISON_COLUMNS,
    Welch,
    compare,
    compare_display,
    welch_from_stats,
    window_summary,
)
from mtrl_bench.random_streams import as_generator

MEASURES = ("auc", "final")
MEASURE_NAMES = {"auc": "AUC (mean over training)", "final": "final"}


@dataclass(frozen=True)
class Study:
    """One comparison, as its results and the published ones name it.

    ``experiment``: the runs' ``experiment`` value and the output files' stem. ``algorithms``: a fixed pair
    ``(multi, single)`` in drawing order, or empty when the algorithms are whatever ran
    (:meth:`algorithms_in_order` orders them); ``baseline``: the algorithm every other is compared with.
    ``task_groups``: group -> its tasks in order; when given, tasks are ordered group by group, the summary
    gets a ``group`` column and the figure one row of panels per group. ``rows_by``: the nesting of the
    summary's rows (and of its bootstrap draws). ``axis``: the algorithm column's name in the tables.
    ``published``/``shipped``: the names of the authors' and of our shipped reference
    (:func:`analysis.reference.load`, :func:`analysis.reference.load_shipped`); default ``experiment``.
    ``title`` heads the figure and captions; ``published_setting`` and ``score_convention`` complete the
    vs-published caption.
    """

    experiment: str
    baseline: str
    title: str
    algorithm_labels: Mapping[str, str]
    task_order: tuple[str, ...]
    task_labels: Mapping[str, str]
    paper_epochs: tuple[int, ...]
    published_setting: str
    score_convention: str
    algorithms: tuple[str, ...] = ()
    task_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    metric_labels: Mapping[str, str] = field(default_factory=dict)
    rows_by: tuple[str, str] = ("width", "task")
    axis: str = "algorithm"
    published: str = ""
    shipped: str = ""

    @property
    def published_name(self) -> str:
        return self.published or self.experiment

    @property
    def shipped_name(self) -> str:
        return self.shipped or self.experiment

    @property
    def is_pair(self) -> bool:
        """A fixed (multi, single) pair: the summary has one column group per algorithm."""
        return len(self.algorithms) == 2

    def label(self, algorithm: str) -> str:
        return self.algorithm_labels.get(algorithm, algorithm)

    def task_label(self, task: str) -> str:
        return self.task_labels.get(task, task)

    def tasks_in_order(self, tasks: Iterable[str]) -> list[str]:
        present = set(tasks)
        return [t for t in self.task_order if t in present] + sorted(present - set(self.task_order))

    def algorithms_in_order(self, present: Iterable[str]) -> list[str]:
        """The study's algorithms (a fixed pair, even where one did not run), else those present, sorted."""
        return list(self.algorithms) if self.algorithms else sorted(set(present))

    def group_of(self, task: str) -> str:
        """The task's group ("" without groups or for a task in none of them)."""
        return next((group for group, tasks in self.task_groups.items() if task in tasks), "")

    def select(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The study's rows of a table of runs, the algorithm axis in column ``algorithm``."""
        if frame.empty or "experiment" not in frame.columns:
            return frame
        return frame.loc[frame["experiment"] == self.experiment].reset_index(drop=True)

    def reference_rows(self, summaries: pd.DataFrame, metric: str) -> pd.DataFrame:
        """The rows of a reference (:mod:`analysis.reference`: the authors' or ours shipped) this study
        compares with, its algorithms named as in the reference."""
        return summaries.loc[(summaries["experiment"] == self.experiment) & (summaries["metric"] == metric)]

    def their_algorithm(self, algorithm: str, theirs: Iterable[str]) -> str | None:
        """The reference's algorithm that our ``algorithm`` is compared with (None: no counterpart)."""
        return algorithm if algorithm in set(theirs) else None

    def comparison_columns(self, table: pd.DataFrame) -> pd.DataFrame:
        """The vs-published table's key columns, in order (before :data:`COMPARISON_COLUMNS`)."""
        return table[["metric", "width", "algorithm", "n_tasks", "theirs_n_tasks", "task"]]

    def comparison_labels(self) -> dict[str, str]:
        """Key column -> header in the vs-published display."""
        return {"task": "task", "width": "width", "algorithm": "algorithm", "n_tasks": "T ours",
                "theirs_n_tasks": "T published"}


def load_runs(study: Study, paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """The study's rows (:meth:`Study.select`) of results files (provenance header) and/or all-runs tables."""
    return study.select(load_any(paths))


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


def _panels(study: Study, summaries: pd.DataFrame) -> list[tuple[object, str]]:
    """The (width, task) pairs in the order of the summary's rows (``study.rows_by``)."""
    widths = sorted(summaries["width"].unique())
    tasks = study.tasks_in_order(summaries["task"].unique())
    if study.rows_by == ("task", "width"):
        return [(width, task) for task in tasks for width in widths]
    return [(width, task) for width in widths for task in tasks]


def _estimates(study: Study, frame: pd.DataFrame, metric: str, final_epochs: int, n_boot: int,
               rng: np.random.Generator | int | None, ci: float) -> list[dict]:
    """One record per (width, task) that ran, measure and algorithm: IQM [CI], seeds, failed runs excluded,
    the difference to the baseline [CI] (NaN for the baseline itself or without one) and the last epoch."""
    rng = as_generator(rng)
    frame = study.select(frame)
    if frame.empty:
        return []
    values, _ = curves(frame, metric)
    summaries = run_summaries(values, final_epochs)
    flags = frame["failed"].astype(bool) if "failed" in frame.columns else pd.Series(False, index=frame.index)
    failed = frame.loc[flags, [*RUN_KEYS, "task"]].drop_duplicates()
    records: list[dict] = []
    for width, task in _panels(study, summaries):
        here = summaries.loc[(summaries["width"] == width) & (summaries["task"] == task)]
        if here.empty:
            continue
        algorithms = study.algorithms_in_order(here["algorithm"])
        for measure in MEASURES:
            scores: dict[str, np.ndarray] = {}
            waiting: list[dict] = []  # records whose baseline is not estimated yet
            for algorithm in algorithms:
                runs = here.loc[here["algorithm"] == algorithm]
                scores[algorithm] = runs[measure].to_numpy(dtype=float)
                point, low, high = (stratified_bootstrap_ci(scores[algorithm], n_boot, rng, ci)
                                    if scores[algorithm].size else (math.nan,) * 3)
                n_failed = len(failed.loc[(failed["algorithm"] == algorithm) & (failed["width"] == width)
                                          & (failed["task"] == task)])
                record = {"group": study.group_of(task), "task": task, "width": width, "measure": measure,
                          "algorithm": algorithm, "metric": metric, "iqm": point, "lo": low, "hi": high,
                          "seeds": int(scores[algorithm].size), "failed": n_failed, "diff": math.nan,
                          "diff_lo": math.nan, "diff_hi": math.nan,
                          "epochs": int(runs["epochs"].max()) if not runs.empty else math.nan}
                records.append(record)
                if algorithm == study.baseline:
                    waiting, ready = [], waiting
                elif study.baseline in scores:
                    ready = [record]
                else:
                    waiting.append(record)
                    ready = []
                for other in ready:
                    diff = iqm_difference_ci(scores[other["algorithm"]], scores[study.baseline], n_boot, rng, ci)
                    other.update({"diff": diff[0], "diff_lo": diff[1], "diff_hi": diff[2]})
    return records


def _pair_table(study: Study, records: list[dict]) -> pd.DataFrame:
    """One row per (width, task, measure): ``<algorithm>_iqm, _lo, _hi, _seeds, _failed`` per algorithm of
    the pair, then the difference multi - single (``diff, diff_lo, diff_hi``)."""
    rows = []
    for start in range(0, len(records), 2):
        pair = records[start:start + 2]
        first = pair[0]
        row = {"group": first["group"]} if study.task_groups else {}
        row.update({key: first[key] for key in ("task", "width", "measure", "metric")})
        for r in pair:
            a = r["algorithm"]
            row.update({f"{a}_iqm": r["iqm"], f"{a}_lo": r["lo"], f"{a}_hi": r["hi"], f"{a}_seeds": r["seeds"],
                        f"{a}_failed": r["failed"]})
        multi = next(r for r in pair if r["algorithm"] != study.baseline)
        row.update({"diff": multi["diff"], "diff_lo": multi["diff_lo"], "diff_hi": multi["diff_hi"]})
        rows.append(row)
    return pd.DataFrame(rows)


def summary_table(study: Study, frame: pd.DataFrame, metric: str = "return_discounted", final_epochs: int = 10,
                  n_boot: int = 2000, rng: np.random.Generator | int | None = 0, ci: float = 0.95) -> pd.DataFrame:
    """The study's summary of ``frame`` (rows chosen by :meth:`Study.select`).

    A pair: one row per (width, task) that ran and measure (auc, final), each algorithm's IQM with its CI
    (``<algorithm>_iqm, _lo, _hi``), seeds used and failed runs excluded (``_seeds, _failed``), and the
    difference multi - single with its CI (``diff, diff_lo, diff_hi``). Otherwise one row per task, width,
    measure and algorithm (column ``study.axis``): ``iqm, lo, hi, seeds, failed, diff, diff_lo, diff_hi``
    (the difference to the baseline) and ``epochs``. With task groups, ``group`` is the first column.
    """
    records = _estimates(study, frame, metric, final_epochs, n_boot, rng, ci)
    if study.is_pair:
        return _pair_table(study, records)
    columns = ["task", "width", "measure", "algorithm", "metric", "iqm", "lo", "hi", "seeds", "failed", "diff",
               "diff_lo", "diff_hi", "epochs"]
    table = pd.DataFrame(records, columns=["group", *columns] if study.task_groups else columns)
    return table.rename(columns={"algorithm": study.axis})


def summary_display(study: Study, table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """The summary as strings, one estimate with its interval per cell."""
    level = f"{ci:.0%}"
    baseline = study.label(study.baseline)
    rows = []
    for r in table.to_dict("records"):
        row = {"group": r["group"]} if "group" in r else {}
        row.update({"task": study.task_label(r["task"]), "width": r["width"], "measure": MEASURE_NAMES[r["measure"]]})
        if study.is_pair:
            m = next(a for a in study.algorithms if a != study.baseline)
            s, multi = study.baseline, study.label(m)
            row.update({
                f"{multi} IQM [{level} CI]": format_with_ci(r[f"{m}_iqm"], r[f"{m}_lo"], r[f"{m}_hi"]),
                f"{baseline} IQM [{level} CI]": format_with_ci(r[f"{s}_iqm"], r[f"{s}_lo"], r[f"{s}_hi"]),
                f"{multi} - {baseline} [{level} CI]": format_with_ci(r["diff"], r["diff_lo"], r["diff_hi"]),
                f"seeds ({multi}/{baseline})": f"{r[f'{m}_seeds']}/{r[f'{s}_seeds']}",
                f"failed ({multi}/{baseline})": f"{r[f'{m}_failed']}/{r[f'{s}_failed']}",
            })
        else:
            row.update({
                study.axis: study.label(r[study.axis]),
                f"IQM [{level} CI]": format_with_ci(r["iqm"], r["lo"], r["hi"]),
                f"- {baseline} [{level} CI]": format_with_ci(r["diff"], r["diff_lo"], r["diff_hi"]),
                "seeds": r["seeds"], "failed": r["failed"],
            })
        rows.append(row)
    return pd.DataFrame(rows)


def write_summary(study: Study, frame: pd.DataFrame, outdir: str | os.PathLike, metric: str = "return_discounted",
                  final_epochs: int = 10, n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> list[Path]:
    """Write ``<experiment>_summary.{csv,md,tex}`` under ``outdir``."""
    table = summary_table(study, frame, metric, final_epochs, n_boot, seed, ci)
    frame = study.select(frame)
    values, _ = curves(frame, metric) if not frame.empty else (pd.DataFrame(columns=["step"]), None)
    shortest = int(values.loc[values["step"] > 0].groupby([*RUN_KEYS, "task"])["step"].count().min()) \
        if (values["step"] > 0).any() else final_epochs
    window = f"{final_epochs} epochs" + (", all trained epochs of a run with fewer" if shortest < final_epochs else "")
    caption = (f"{study.title}, {metric.replace('_', ' ')}: area under the curve (trapezoidal, epochs 0..E, divided "
               f"by E) and final value (mean of the last {window}) per run; interquartile mean over seeds with "
               f"{ci:.0%} stratified-bootstrap CIs ({n_boot} resamples); the difference to "
               f"{study.label(study.baseline)} resamples both sides' runs independently; failed runs excluded.")
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


def _theirs_at(rows: pd.DataFrame, metric: str, checkpoints: pd.DataFrame) -> pd.DataFrame:
    """Reference (theirs, task, checkpoint) summaries for the (first, last) epoch spans in ``checkpoints``
    (columns theirs, task, checkpoint, first, last). A span the reference did not cover completely is left out.
    """
    found = []
    spans = checkpoints[["theirs", "task", "checkpoint", "first", "last"]].drop_duplicates()
    for r in spans.itertuples(index=False):
        points = reference.curve(rows, metric, algorithm=r.theirs, task=r.task)
        points = points.loc[points["step"].between(r.first, r.last)]
        if len(points) != r.last - r.first + 1:
            continue
        mean, std, n_runs = window_summary(points)
        n_tasks = rows.loc[(rows["algorithm"] == r.theirs) & (rows["task"] == r.task), "n_tasks"].iloc[0]
        found.append({"theirs": r.theirs, "task": r.task, "checkpoint": r.checkpoint, "mean": mean, "std": std,
                      "n_runs": n_runs, "theirs_n_tasks": int(n_tasks)})
    return pd.DataFrame(found, columns=["theirs", "task", "checkpoint", "mean", "std", "n_runs", "theirs_n_tasks"])


_KEY_COLUMNS = ["metric", "width", "algorithm", "theirs", "n_tasks", "theirs_n_tasks", "task"]


def _comparison(study: Study, table: pd.DataFrame) -> pd.DataFrame:
    head = study.comparison_columns(table[_KEY_COLUMNS]).reset_index(drop=True)
    return pd.concat([head, table[[*COMPARISON_COLUMNS, "first", "last"]].reset_index(drop=True)], axis=1)


def published_comparison(study: Study, frame: pd.DataFrame, published: pd.DataFrame,
                         metric: str = "return_discounted", final_epochs: int = 10,
                         epochs: Sequence[int] | None = None, ci: float = 0.95) -> pd.DataFrame:
    """Ours vs the authors' per shared width, algorithm, task and checkpoint our runs reached.

    published: :func:`analysis.reference.load` ``(study.published_name)``; ``epochs`` default
    ``study.paper_epochs``. Columns: the study's key columns (:meth:`Study.comparison_columns`) +
    :data:`analysis.vs_published.COMPARISON_COLUMNS` + ``first, last`` (the epochs the checkpoint covers).
    Failed runs are excluded.
    """
    epochs = study.paper_epochs if epochs is None else epochs
    empty = _comparison(study, pd.DataFrame(columns=[*_KEY_COLUMNS, *COMPARISON_COLUMNS, "first", "last"]))
    frame = study.select(frame)
    values, _ = curves(frame, metric) if not frame.empty else (pd.DataFrame(), None)
    theirs_all = study.reference_rows(published, metric)
    if values.empty or theirs_all.empty:
        return empty
    ours = _ours_at_checkpoints(values, final_epochs, epochs)
    available = set(theirs_all["algorithm"])
    ours["theirs"] = ours["algorithm"].map(lambda algorithm: study.their_algorithm(algorithm, available))
    ours = ours.loc[ours["theirs"].notna()]
    theirs = _theirs_at(theirs_all, metric, ours)
    spans = ours[["checkpoint", "first", "last"]].drop_duplicates("checkpoint")
    keys = ["theirs", "task"]
    parts = []
    for (width, algorithm, n_tasks), group in ours.groupby(["width", "algorithm", "n_tasks"], sort=True):
        table = compare(group[[*keys, "checkpoint", "value"]], theirs, keys, ci)
        if not table.empty:
            parts.append(table.assign(metric=metric, width=width, algorithm=algorithm, n_tasks=n_tasks))
    if not parts:
        return empty
    table = pd.concat(parts, ignore_index=True)
    table = table.merge(theirs[[*keys, "checkpoint", "theirs_n_tasks"]], on=[*keys, "checkpoint"], how="left")
    table = table.merge(spans, on="checkpoint", how="left")
    task_rank = {task: i for i, task in enumerate(study.tasks_in_order(table["task"]))}
    algorithm_rank = {a: i for i, a in enumerate(study.algorithms_in_order(table["algorithm"]))}
    table["task_rank"] = table["task"].map(task_rank)
    table["algorithm_rank"] = table["algorithm"].map(lambda a: algorithm_rank.get(a, len(algorithm_rank)))
    table["is_window"] = table["first"] != table["last"]  # single epochs first, then the window
    order = [{"task": "task_rank"}.get(key, key) for key in study.rows_by]
    table = table.sort_values([*order, "algorithm_rank", "n_tasks", "is_window", "first", "last"], kind="stable")
    return _comparison(study, table)


def published_display(study: Study, table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """The comparison as strings, one estimate with its interval per cell."""
    labels = study.comparison_labels()
    display = compare_display(table, labels, ci)
    display[labels["task"]] = display[labels["task"]].map(study.task_label)
    display[labels[study.axis]] = display[labels[study.axis]].map(study.label)
    return display


def write_published_comparison(study: Study, frame: pd.DataFrame, outdir: str | os.PathLike,
                               metric: str = "return_discounted", final_epochs: int = 10,
                               ci: float = 0.95, note: str = "") -> list[Path]:
    """Write ``<experiment>_vs_published.{csv,md,tex}`` under ``outdir``; ``note`` ends its caption."""
    published = reference.load(study.published_name)
    table = published_comparison(study, frame, published, metric, final_epochs, ci=ci)
    caption = (f"{study.title}: ours vs the published results of D'Eramo et al. (2020; {study.published_setting}), "
               f"{metric.replace('_', ' ')} ({study.score_convention}), at the paper's epochs our runs reached "
               f"and over our last {final_epochs} trained epochs (theirs over the same epochs): means with "
               f"{ci:.0%} Student-t CIs, the difference with Welch's {ci:.0%} CI and p-value (for a window the "
               f"published spread is an upper bound: conservative). Failed runs excluded." + note)
    display = published_display(study, table, ci) if not table.empty else None
    return write_table(table, outdir, f"{study.experiment}_vs_published", display, caption)


def _sign(low: float, high: float) -> str:
    """"+" / "-" when the interval excludes 0, "0" when it holds it, "" without an interval."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return ""
    return "+" if low > 0 else ("-" if high < 0 else "0")


def effect_table(study: Study, frame: pd.DataFrame, published: pd.DataFrame, metric: str = "return_discounted",
                 final_epochs: int = 10, n_boot: int = 2000, rng: np.random.Generator | int | None = 0,
                 ci: float = 0.95) -> pd.DataFrame:
    """The effect of each algorithm against the baseline (MDQN - DQN, a setting - no transfer) on the final
    value, ours and theirs, per task and width: does it have the same sign?

    Ours: the IQM difference of :func:`summary_table` (measure ``final``) with its bootstrap CI. Theirs:
    the difference of the published means over their last ``final_epochs`` epochs with Welch's CI (the
    window spread an upper bound: conservative). Sign: "+" / "-" when the CI excludes 0, else "0".
    Columns: task, width, algorithm, theirs, ours_diff, ours_lo, ours_hi, ours_sign, theirs_diff,
    theirs_lo, theirs_hi, theirs_sign, agree ("yes": the same sign and not "0"; "neither": both "0", no
    effect resolved on either side; "no": otherwise; empty without both).
    """
    records = [r for r in _estimates(study, frame, metric, final_epochs, n_boot, rng, ci)
               if r["measure"] == "final" and r["algorithm"] != study.baseline and r["seeds"]]
    rows_ref = study.reference_rows(published, metric)
    available = set(rows_ref["algorithm"])
    baseline = study.their_algorithm(study.baseline, available)
    rows = []
    for r in records:
        theirs = study.their_algorithm(r["algorithm"], available)
        sides = [reference.curve(rows_ref, metric, algorithm=a, task=r["task"]) if a else pd.DataFrame()
                 for a in (theirs, baseline)]
        welch = Welch(*(math.nan,) * 6)
        if all(not side.empty for side in sides):
            (m_a, s_a, n_a), (m_b, s_b, n_b) = (window_summary(side.tail(final_epochs)) for side in sides)
            welch = welch_from_stats(m_a, s_a, n_a, m_b, s_b, n_b, ci)
        ours_sign, theirs_sign = _sign(r["diff_lo"], r["diff_hi"]), _sign(welch.low, welch.high)
        rows.append({"task": r["task"], "width": r["width"], "algorithm": r["algorithm"], "theirs": theirs or "",
                     "ours_diff": r["diff"], "ours_lo": r["diff_lo"], "ours_hi": r["diff_hi"], "ours_sign": ours_sign,
                     "theirs_diff": welch.diff, "theirs_lo": welch.low, "theirs_hi": welch.high,
                     "theirs_sign": theirs_sign,
                     "agree": "" if not (ours_sign and theirs_sign) else
                     ("neither" if ours_sign == theirs_sign == "0" else
                      "yes" if ours_sign == theirs_sign else "no")})
    return pd.DataFrame(rows, columns=["task", "width", "algorithm", "theirs", "ours_diff", "ours_lo", "ours_hi",
                                       "ours_sign", "theirs_diff", "theirs_lo", "theirs_hi", "theirs_sign", "agree"])


def write_effect(study: Study, frame: pd.DataFrame, outdir: str | os.PathLike, metric: str = "return_discounted",
                 final_epochs: int = 10, n_boot: int = 2000, seed: int = 0, ci: float = 0.95,
                 note: str = "") -> list[Path]:
    """Write ``<experiment>_effect.{csv,md,tex}`` (:func:`effect_table`) under ``outdir``; ``note`` ends its
    caption."""
    table = effect_table(study, frame, reference.load(study.published_name), metric, final_epochs, n_boot, seed, ci)
    level = f"{ci:.0%}"
    display = pd.DataFrame([{
        "task": study.task_label(r["task"]), "width": r["width"], study.axis: study.label(r["algorithm"]),
        f"ours - {study.label(study.baseline)} [{level} CI]": format_with_ci(r["ours_diff"], r["ours_lo"],
                                                                             r["ours_hi"]),
        f"published [{level} CI]": format_with_ci(r["theirs_diff"], r["theirs_lo"], r["theirs_hi"]),
        "sign ours / published": f"{r['ours_sign'] or '?'} / {r['theirs_sign'] or '?'}", "agree": r["agree"],
    } for r in table.to_dict("records")])
    caption = (f"{study.title}: the effect against {study.label(study.baseline)} on the final value "
               f"({metric.replace('_', ' ')}, last {final_epochs} trained epochs), ours (IQM difference, {level} "
               f"bootstrap CI, {n_boot} resamples) and published (difference of means over their last {final_epochs} "
               f"epochs, Welch's {level} CI, conservative); sign + / - when the CI excludes 0, else 0." + note)
    return write_table(table, outdir, f"{study.experiment}_effect", display if not table.empty else None, caption)


def tables_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The tables CLI's options: :func:`analysis.cli.analysis_parser` + --metric, --final-epochs, --no-published."""
    parser = analysis_parser(prog, description)
    parser.add_argument("--metric", default="return_discounted", help="metric to summarise")
    parser.add_argument("--final-epochs", type=int, default=10, help="trained epochs averaged for the final value")
    add_published_argument(parser)
    return parser


def write_tables(study: Study, args: argparse.Namespace) -> int:
    """Write the summary and, unless --no-published, the comparison; print their paths."""
    frame = load_runs(study, args.runs)
    paths = write_summary(study, frame, args.outdir, args.metric, args.final_epochs, args.n_boot, args.seed, args.ci)
    if args.published:
        paths += write_published_comparison(study, frame, args.outdir, args.metric, args.final_epochs, args.ci)
    return print_paths(paths)


def main(study: Study, prog: str, argv: Sequence[str] | None = None) -> int:
    """``python -m analysis.<experiment>_tables``: the summary and, unless --no-published, the comparison."""
    parser = tables_parser(prog, f"{study.title} per task, and ours vs the published results (CSV, Markdown, "
                                 f"LaTeX).")
    return write_tables(study, parser.parse_args(argv))
