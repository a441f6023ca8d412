"""Table of the DQN experiment: MDQN against single-task DQN, per task and shared width.

For every run (one seed of one configuration) and task, two numbers summarise its curve of
``return_discounted`` per epoch (epoch 0 = before training):

* ``auc``: the area under the curve over epochs 0..E by the trapezoidal rule, divided by E -- the
  average return over training, in return units;
* ``final``: the mean over the last ``final_epochs`` epochs (the paper reports the last 10).

Across seeds, each algorithm gets the interquartile mean (IQM) with a 95% stratified-bootstrap
interval (:func:`analysis.aggregate.stratified_bootstrap_ci`, rliable's scheme), and the difference
MDQN - DQN gets its own interval from resampling the runs of both algorithms independently (the
runs are not paired). Failed (diverged) runs are excluded and counted.

Output ``dqn_summary.{csv,md,tex}``: the CSV keeps full precision, one column per number; the
Markdown and LaTeX versions show "estimate [low, high]".

Output ``dqn_vs_published.{csv,md,tex}``: ours against the authors' published summaries
(:mod:`analysis.reference`; 100 runs of MDQN on all five tasks and of DQN on each, width 80) per
algorithm, task and shared width, at every paper checkpoint our runs reached (epochs
:data:`PAPER_EPOCHS`; an epoch we did not reach is left out) and over our last ``final_epochs`` trained
epochs (the paper's "last 10 epochs" when our runs last 50 epochs; theirs averaged over the same epochs,
left out if they did not run them). Per row: means with Student-t intervals and Welch's test of the
difference (:mod:`analysis.vs_published`; for the window, the published spread is an upper bound, so
that test is conservative). The score conventions match: both average the discounted return over the
evaluation episodes completed within the test steps. Our MDQN may train on fewer tasks than theirs
(columns ``n_tasks`` and ``theirs_n_tasks``).

Public API
----------
``load_dqn_runs(paths) -> DataFrame``          results files or all-runs tables, experiment ``dqn`` only
``curves(frame, metric) -> DataFrame``         one value per run, task and epoch (failed runs dropped)
``run_summaries(curves, final_epochs) -> DataFrame``  auc and final per run and task
``iqm_difference_ci(a, b, n_boot, rng, ci) -> (point, lo, hi)``
``summary_table(frame, metric, final_epochs, n_boot, rng, ci) -> DataFrame``
``write_summary(frame, outdir, ...) -> list[Path]``
``published_comparison(frame, published, metric, final_epochs, epochs=PAPER_EPOCHS, ci) -> DataFrame``
``write_published_comparison(frame, outdir, ...) -> list[Path]``

CLI (:mod:`analysis.cli`)::

    python -m analysis.dqn_tables --runs results/tables/all_runs_dqn.csv --outdir results/tables \\
        [--n-boot 2000 --seed 0 --ci 0.95] [--metric return_discounted] [--final-epochs 10] [--no-published]

where ``--runs`` takes results files of ``mtrl-bench run dqn`` and/or all-runs tables of ``analysis.aggregate``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis import reference
from analysis.aggregate import RUN_KEYS, load_any, split_failed, stratified_bootstrap_ci
from analysis.cli import add_published_argument, analysis_parser, run
from analysis.table_io import format_with_ci, write_table
from analysis.vs_published import COMPARISON_COLUMNS, compare, compare_display, window_summary

EXPERIMENT = "dqn"
ALGORITHMS = ("mdqn", "dqn")
ALGORITHM_LABELS = {"mdqn": "MDQN", "dqn": "DQN"}
TASK_ORDER = ("cartpole", "acrobot", "mountaincar", "car_on_hill", "inverted_pendulum")
TASK_LABELS = {"cartpole": "Cart-Pole", "acrobot": "Acrobot", "mountaincar": "Mountain-Car",
               "car_on_hill": "Car-On-Hill", "inverted_pendulum": "Inverted-Pendulum"}
MEASURES = ("auc", "final")
PAPER_EPOCHS = (0, 10, 20, 30, 40, 50)
"""Epochs at which dqn_vs_published compares (0 = before training), besides the last-epochs window."""


def load_dqn_runs(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Rows of experiment ``dqn`` from results files (provenance header) and/or all-runs tables."""
    frame = load_any(paths)
    return frame.loc[frame["experiment"] == EXPERIMENT].reset_index(drop=True)


def tasks_in_order(tasks: Iterable[str]) -> list[str]:
    present = set(tasks)
    return [t for t in TASK_ORDER if t in present] + sorted(present - set(TASK_ORDER))


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
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    resampled_a = a[rng.integers(0, a.size, size=(n_boot, a.size))]
    resampled_b = b[rng.integers(0, b.size, size=(n_boot, b.size))]
    diffs = stats.trim_mean(resampled_a, 0.25, axis=1) - stats.trim_mean(resampled_b, 0.25, axis=1)
    tail = 50.0 * (1.0 - ci)
    low, high = np.percentile(diffs, [tail, 100.0 - tail])
    return point, float(low), float(high)


def summary_table(frame: pd.DataFrame, metric: str = "return_discounted", final_epochs: int = 10,
                  n_boot: int = 2000, rng: np.random.Generator | int | None = 0, ci: float = 0.95) -> pd.DataFrame:
    """One row per task, shared width and measure (auc, final): each algorithm's IQM with its CI,
    the difference MDQN - DQN with its CI, and the seeds used / failed runs excluded."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    values, _ = curves(frame, metric)
    summaries = run_summaries(values, final_epochs)
    failed_tasks = frame.loc[frame["failed"].astype(bool), [*RUN_KEYS, "task"]].drop_duplicates()
    rows = []
    for width in sorted(summaries["width"].unique()):
        for task in tasks_in_order(summaries["task"].unique()):
            here = summaries.loc[(summaries["width"] == width) & (summaries["task"] == task)]
            for measure in MEASURES:
                row = {"task": task, "width": width, "measure": measure, "metric": metric}
                scores = {}
                for algorithm in ALGORITHMS:
                    scores[algorithm] = here.loc[here["algorithm"] == algorithm, measure].to_numpy(dtype=float)
                    point, low, high = (stratified_bootstrap_ci(scores[algorithm], n_boot, rng, ci)
                                        if scores[algorithm].size else (math.nan,) * 3)
                    n_failed = len(failed_tasks.loc[(failed_tasks["algorithm"] == algorithm)
                                                    & (failed_tasks["width"] == width)
                                                    & (failed_tasks["task"] == task)])
                    row.update({f"{algorithm}_iqm": point, f"{algorithm}_lo": low, f"{algorithm}_hi": high,
                                f"{algorithm}_seeds": int(scores[algorithm].size), f"{algorithm}_failed": n_failed})
                diff = iqm_difference_ci(scores["mdqn"], scores["dqn"], n_boot, rng, ci)
                row.update({"diff": diff[0], "diff_lo": diff[1], "diff_hi": diff[2]})
                rows.append(row)
    return pd.DataFrame(rows)


def summary_display(table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """The summary as strings, one estimate with its interval per cell."""
    names = {"auc": "AUC (mean over training)", "final": "final"}
    rows = []
    for r in table.to_dict("records"):
        rows.append({
            "task": TASK_LABELS.get(r["task"], r["task"]), "width": r["width"], "measure": names[r["measure"]],
            f"MDQN IQM [{ci:.0%} CI]": format_with_ci(r["mdqn_iqm"], r["mdqn_lo"], r["mdqn_hi"]),
            f"DQN IQM [{ci:.0%} CI]": format_with_ci(r["dqn_iqm"], r["dqn_lo"], r["dqn_hi"]),
            f"MDQN - DQN [{ci:.0%} CI]": format_with_ci(r["diff"], r["diff_lo"], r["diff_hi"]),
            "seeds (MDQN/DQN)": f"{r['mdqn_seeds']}/{r['dqn_seeds']}",
            "failed (MDQN/DQN)": f"{r['mdqn_failed']}/{r['dqn_failed']}",
        })
    return pd.DataFrame(rows)


def write_summary(frame: pd.DataFrame, outdir: str | os.PathLike, metric: str = "return_discounted",
                  final_epochs: int = 10, n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> list[Path]:
    """Write ``dqn_summary.{csv,md,tex}`` under ``outdir``."""
    table = summary_table(frame, metric, final_epochs, n_boot, seed, ci)
    caption = (f"MDQN vs single-task DQN, {metric.replace('_', ' ')}: area under the curve (trapezoidal, "
               f"epochs 0..E, divided by E) and final value (mean of the last {final_epochs} epochs) per run; "
               f"interquartile mean over seeds with {ci:.0%} stratified-bootstrap CIs ({n_boot} resamples); "
               f"the difference resamples both algorithms' runs independently; failed runs excluded.")
    display = summary_display(table, ci) if not table.empty else None
    return write_table(table, outdir, "dqn_summary", display, caption)


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


def published_comparison(frame: pd.DataFrame, published: pd.DataFrame, metric: str = "return_discounted",
                         final_epochs: int = 10, epochs: Sequence[int] = PAPER_EPOCHS,
                         ci: float = 0.95) -> pd.DataFrame:
    """Ours vs the authors' per shared width, algorithm, task and checkpoint our runs reached.

    published: :func:`analysis.reference.load` ``("dqn")``. Columns: ``metric, width, algorithm, n_tasks,
    theirs_n_tasks, task`` + :data:`analysis.vs_published.COMPARISON_COLUMNS` + ``first, last`` (the epochs
    the checkpoint covers). Failed runs are excluded.
    """
    keys = ["algorithm", "task"]
    head = ["metric", "width", "algorithm", "n_tasks", "theirs_n_tasks", "task"]
    values, _ = curves(frame, metric) if not frame.empty else (pd.DataFrame(), None)
    theirs_all = published.loc[(published["experiment"] == EXPERIMENT) & (published["metric"] == metric)]
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
    order = {task: i for i, task in enumerate(TASK_ORDER)}
    table["is_window"] = table["first"] != table["last"]  # single epochs first, then the window
    table = table.sort_values(["width", "task", "algorithm", "n_tasks", "is_window", "first"], kind="stable",
                              key=lambda c: c.map(lambda t: order.get(t, len(order))) if c.name == "task" else c)
    return table[[*head, *COMPARISON_COLUMNS, "first", "last"]].reset_index(drop=True)


def published_display(table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """The comparison as strings, one estimate with its interval per cell."""
    display = compare_display(table, {"task": "task", "width": "width", "algorithm": "algorithm",
                                      "n_tasks": "T ours", "theirs_n_tasks": "T published"}, ci)
    display["task"] = display["task"].map(lambda t: TASK_LABELS.get(t, t))
    display["algorithm"] = display["algorithm"].map(lambda a: ALGORITHM_LABELS.get(a, a))
    return display


def write_published_comparison(frame: pd.DataFrame, outdir: str | os.PathLike, metric: str = "return_discounted",
                               final_epochs: int = 10, ci: float = 0.95) -> list[Path]:
    """Write ``dqn_vs_published.{csv,md,tex}`` under ``outdir``."""
    table = published_comparison(frame, reference.load("dqn"), metric, final_epochs, ci=ci)
    caption = (f"Ours vs the published results of D'Eramo et al. (2020; 100 runs, width 80, MDQN on all five "
               f"tasks), {metric.replace('_', ' ')} (both average the evaluation episodes completed within the "
               f"test steps), at the paper's epochs our runs reached and over our last {final_epochs} trained "
               f"epochs (theirs over the same epochs): means with {ci:.0%} Student-t CIs, the difference with "
               f"Welch's {ci:.0%} CI and p-value (for a window the published spread is an upper bound: "
               f"conservative). Failed runs excluded.")
    display = published_display(table, ci) if not table.empty else None
    return write_table(table, outdir, "dqn_vs_published", display, caption)


def main(argv: Sequence[str] | None = None) -> int:
    parser = analysis_parser("python -m analysis.dqn_tables",
                             "MDQN vs DQN per task, and ours vs the published results (CSV, Markdown, LaTeX).")
    parser.add_argument("--metric", default="return_discounted", help="metric to summarise")
    parser.add_argument("--final-epochs", type=int, default=10, help="epochs averaged for the final value")
    add_published_argument(parser)
    args = parser.parse_args(argv)
    frame = load_dqn_runs(args.runs)
    paths = write_summary(frame, args.outdir, args.metric, args.final_epochs, args.n_boot, args.seed, args.ci)
    if args.published:
        paths += write_published_comparison(frame, args.outdir, args.metric, args.final_epochs, args.ci)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
