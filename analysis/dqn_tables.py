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

Public API
----------
``load_dqn_runs(paths) -> DataFrame``          results files or all-runs tables, experiment ``dqn`` only
``curves(frame, metric) -> DataFrame``         one value per run, task and epoch (failed runs dropped)
``run_summaries(curves, final_epochs) -> DataFrame``  auc and final per run and task
``iqm_difference_ci(a, b, n_boot, rng, ci) -> (point, lo, hi)``
``summary_table(frame, metric, final_epochs, n_boot, rng, ci) -> DataFrame``
``write_summary(frame, outdir, ...) -> list[Path]``

CLI: ``python -m analysis.dqn_tables --outdir results/tables [--metric return_discounted]
[--final-epochs 10] [--n-boot 2000] [--seed 0] INPUT...`` where each INPUT is a results file of
``mtrl-bench run dqn`` or an all-runs table of ``analysis.aggregate``.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis.aggregate import RUN_KEYS, add_bootstrap_arguments, load_any, split_failed, stratified_bootstrap_ci
from analysis.tables import format_with_ci, write_table

EXPERIMENT = "dqn"
ALGORITHMS = ("mdqn", "dqn")
ALGORITHM_LABELS = {"mdqn": "MDQN", "dqn": "DQN"}
TASK_ORDER = ("cartpole", "acrobot", "mountaincar", "car_on_hill", "inverted_pendulum")
TASK_LABELS = {"cartpole": "Cart-Pole", "acrobot": "Acrobot", "mountaincar": "Mountain-Car",
               "car_on_hill": "Car-On-Hill", "inverted_pendulum": "Inverted-Pendulum"}
MEASURES = ("auc", "final")


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.dqn_tables",
                                     description="MDQN vs DQN: AUC and final return per task (CSV, Markdown, LaTeX).")
    parser.add_argument("inputs", nargs="+", help="results files of `mtrl-bench run dqn` and/or all-runs tables")
    parser.add_argument("--outdir", required=True, help="output folder, e.g. results/tables")
    parser.add_argument("--metric", default="return_discounted")
    parser.add_argument("--final-epochs", type=int, default=10, help="epochs averaged for the final value")
    add_bootstrap_arguments(parser)
    args = parser.parse_args(argv)
    frame = load_dqn_runs(args.inputs)
    for path in write_summary(frame, args.outdir, args.metric, args.final_epochs, args.n_boot, args.seed, args.ci):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
