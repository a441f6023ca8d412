"""Tables of the transfer experiment: each unfreeze setting against no transfer, and ours vs the published.

Input: the transfer runs (``experiment`` = ``dqn_transfer`` / ``ddpg_transfer``, one ``algorithm`` per
setting: ``transfer_unfreeze<N>``, ``transfer_frozen``, ``_online`` when loaded into the online network
only) and the learner experiment's single-task runs of the same target tasks (``experiment`` = ``dqn`` /
``ddpg``, ``algorithm`` = ``dqn`` / ``ddpg``): the no-transfer curves (setting ``no_transfer``). Failed
(diverged) runs are excluded and counted.

For every run and target task, the curve of ``return_discounted`` per epoch gives ``auc`` (trapezoidal
area over epochs 0..E divided by E: the mean return over training) and ``final`` (mean of the last
``final_epochs`` epochs), as :mod:`analysis.dqn_tables`. Across seeds: the interquartile mean with a
stratified-bootstrap interval; the difference to no transfer resamples both settings' runs independently
(conservative: seed s of both shares the target's task-layer initialisation and environment streams).

``transfer_<learner>_summary.{csv,md,tex}``: one row per target task, shared width, measure and setting.
``transfer_<learner>_vs_published.{csv,md,tex}``: ours vs the authors' transfer results (DQN: Acrobot,
unfrozen at 0, 10, never, 100 runs; DDPG: InvertedDoublePendulum and hopper-stand, unfrozen at 0 or
never, 40 runs) and their single-task baseline, at epoch 0 and over our last ``final_epochs`` trained
epochs (theirs over the same epochs; their window spread is an upper bound, so the test is
conservative; :mod:`analysis.vs_published`). Their "never" is ``transfer_unfreeze<E+1>``; their runs
loaded the online network only (ours: column ``load_into``).

Public API
----------
``LEARNERS``, ``NO_TRANSFER``, ``SETTING_LABELS``
``transfer_curves(frame, learner, metric) -> (values, failed)``   values: setting, task, width, seed, step, value
``setting_order(settings) -> list``        no transfer first, then unfreeze epochs ascending, frozen last
``summary_table(frame, learner, metric, final_epochs, n_boot, rng, ci) -> DataFrame``
``published_comparison(frame, published, learner, metric, final_epochs, ci) -> DataFrame``
``published_curves(published, learner, metric) -> DataFrame``     theirs: setting, task, step, mean, std, n_runs
``their_setting(setting, their_settings) -> str | None``            the published setting matching ours

CLI (:mod:`analysis.cli`)::

    python -m analysis.transfer_tables --runs results/tables/all_runs_transfer_dqn.csv --outdir results/tables \\
        --learner dqn [--final-epochs 10] [--metric return_discounted] [--n-boot 2000 --seed 0 --ci 0.95] \\
        [--no-published]
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import reference
from analysis.aggregate import load_any, split_failed, stratified_bootstrap_ci
from analysis.cli import add_published_argument, analysis_parser, run
from analysis.dqn_tables import iqm_difference_ci
from analysis.table_io import format_with_ci, write_table
from analysis.vs_published import COMPARISON_COLUMNS, compare, compare_display, window_summary
from mtrl_bench.random_streams import as_generator

LEARNERS = ("dqn", "ddpg")
NO_TRANSFER = "no_transfer"
MEASURES = ("auc", "final")
KEYS = ["setting", "task", "width", "seed"]


def setting_label(setting: str) -> str:
    """``transfer_unfreeze10`` -> "unfrozen at epoch 10"; ``transfer_frozen_online`` -> "frozen (online only)"."""
    if setting == NO_TRANSFER:
        return "no transfer"
    online = setting.endswith("_online")
    base = setting.removesuffix("_online")
    match = re.fullmatch(r"transfer_unfreeze(\d+)", base)
    text = "frozen throughout" if base == "transfer_frozen" else (
        f"unfrozen at epoch {match.group(1)}" if match else setting)
    return text + (" (online only)" if online else "")


def _order_key(setting: str) -> tuple:
    if setting == NO_TRANSFER:
        return (0, 0, setting)
    base = setting.removesuffix("_online")
    match = re.fullmatch(r"transfer_unfreeze(\d+)", base)
    return (1, int(match.group(1)), setting) if match else (2, 0, setting)


def setting_order(settings: Iterable[str]) -> list[str]:
    """No transfer first, then the unfreeze epochs ascending, frozen throughout last."""
    return sorted(set(settings), key=_order_key)


def tasks_in_order(tasks: Iterable[str]) -> list[str]:
    return sorted(set(tasks))


def transfer_curves(frame: pd.DataFrame, learner: str, metric: str = "return_discounted"
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(values, failed)`` of ``learner``'s transfer runs and the single-task runs of their target tasks.

    values: columns ``setting, task, width, seed, step, value``; failed: one row per failed run (same keys
    but step/value). Single-task runs of tasks with no transfer run are left out.
    """
    if learner not in LEARNERS:
        raise ValueError(f"learner must be one of {LEARNERS}")
    columns = [*KEYS, "step", "value"]
    if frame.empty:
        return pd.DataFrame(columns=columns), pd.DataFrame(columns=KEYS)
    moved = frame.loc[frame["experiment"] == f"{learner}_transfer"]
    targets = set(moved["variants"].astype(str))
    alone = frame.loc[(frame["experiment"] == learner) & (frame["algorithm"] == learner)
                      & (frame["n_tasks"] == 1) & frame["variants"].astype(str).isin(targets)]
    parts = [moved.assign(setting=moved["algorithm"]), alone.assign(setting=NO_TRANSFER)]
    both = pd.concat(parts, ignore_index=True)
    if both.empty:
        return pd.DataFrame(columns=columns), pd.DataFrame(columns=KEYS)
    both = both.assign(task=both["variants"].astype(str))
    ok, _ = split_failed(both)
    failed = both.loc[both["failed"].astype(bool), KEYS].drop_duplicates() if "failed" in both.columns else (
        pd.DataFrame(columns=KEYS))
    values = ok.loc[ok["metric"] == metric, columns].sort_values(KEYS + ["step"]).reset_index(drop=True)
    return values, failed.reset_index(drop=True)


def _run_summary(group: pd.DataFrame, final_epochs: int) -> pd.Series:
    group = group.sort_values("step")
    steps, values = group["step"].to_numpy(dtype=float), group["value"].to_numpy(dtype=float)
    span = steps[-1] - steps[0]
    auc = float(np.sum((values[1:] + values[:-1]) / 2.0 * np.diff(steps)) / span) if span > 0 else float(values[-1])
    trained = group.loc[group["step"] > 0]
    final = float((trained if not trained.empty else group)["value"].tail(final_epochs).mean())
    return pd.Series({"auc": auc, "final": final, "epochs": int(steps[-1])})


def run_summaries(values: pd.DataFrame, final_epochs: int = 10) -> pd.DataFrame:
    """``auc`` and ``final`` per run (columns KEYS, auc, final, epochs)."""
    if values.empty:
        return pd.DataFrame(columns=[*KEYS, *MEASURES, "epochs"])
    grouped = values.groupby(KEYS, sort=True)[["step", "value"]]
    return grouped.apply(_run_summary, final_epochs=final_epochs).reset_index()


def summary_table(frame: pd.DataFrame, learner: str, metric: str = "return_discounted", final_epochs: int = 10,
                  n_boot: int = 2000, rng: np.random.Generator | int | None = 0, ci: float = 0.95) -> pd.DataFrame:
    """One row per target task, width, measure and setting: IQM [CI], seeds, failed runs, and the
    difference to no transfer [CI] (NaN on the no-transfer rows, or when there is no baseline)."""
    rng = as_generator(rng)
    values, failed = transfer_curves(frame, learner, metric)
    summaries = run_summaries(values, final_epochs)
    columns = ["task", "width", "measure", "setting", "metric", "iqm", "lo", "hi", "seeds", "failed", "diff",
               "diff_lo", "diff_hi", "epochs"]
    rows = []
    for (task, width), here in summaries.groupby(["task", "width"], sort=True):
        for measure in MEASURES:
            base = here.loc[here["setting"] == NO_TRANSFER, measure].to_numpy(dtype=float)
            for setting in setting_order(here["setting"]):
                scores = here.loc[here["setting"] == setting, measure].to_numpy(dtype=float)
                point, low, high = stratified_bootstrap_ci(scores, n_boot, rng, ci)
                diff = ((math.nan,) * 3 if setting == NO_TRANSFER or base.size == 0
                        else iqm_difference_ci(scores, base, n_boot, rng, ci))
                n_failed = len(failed.loc[(failed["setting"] == setting) & (failed["task"] == task)
                                          & (failed["width"] == width)])
                rows.append({"task": task, "width": width, "measure": measure, "setting": setting, "metric": metric,
                             "iqm": point, "lo": low, "hi": high, "seeds": int(scores.size), "failed": n_failed,
                             "diff": diff[0], "diff_lo": diff[1], "diff_hi": diff[2],
                             "epochs": int(here.loc[here["setting"] == setting, "epochs"].max())})
    return pd.DataFrame(rows, columns=columns)


def summary_display(table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    names = {"auc": "AUC (mean over training)", "final": "final"}
    return pd.DataFrame([{
        "target": r["task"], "width": r["width"], "measure": names[r["measure"]],
        "setting": setting_label(r["setting"]),
        f"IQM [{ci:.0%} CI]": format_with_ci(r["iqm"], r["lo"], r["hi"]),
        f"- no transfer [{ci:.0%} CI]": format_with_ci(r["diff"], r["diff_lo"], r["diff_hi"]),
        "seeds": r["seeds"], "failed": r["failed"]} for r in table.to_dict("records")])


def write_summary(frame: pd.DataFrame, outdir: str | os.PathLike, learner: str, metric: str = "return_discounted",
                  final_epochs: int = 10, n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> list[Path]:
    table = summary_table(frame, learner, metric, final_epochs, n_boot, seed, ci)
    caption = (f"Transfer of the shared layers ({learner.upper()}), {metric.replace('_', ' ')} on each held-out "
               f"task: area under the curve (trapezoidal, epochs 0..E, divided by E) and final value (mean of the "
               f"last {final_epochs} trained epochs) per run; interquartile mean over seeds with {ci:.0%} "
               f"stratified-bootstrap CIs ({n_boot} resamples); the difference to no transfer (the single-task runs) "
               f"resamples both settings' runs independently; failed runs excluded.")
    display = summary_display(table, ci) if not table.empty else None
    return write_table(table, outdir, f"transfer_{learner}_summary", display, caption)


# -- ours vs the published -----------------------------------------------------------------------

def their_setting(setting: str, their_settings: Sequence[str]) -> str | None:
    """The published algorithm matching our setting (their runs loaded the online network only)."""
    base = setting.removesuffix("_online")
    if setting == NO_TRANSFER:
        return NO_TRANSFER
    if base == "transfer_frozen":  # theirs: unfrozen after the last epoch
        numbers = [int(m.group(1)) for s in their_settings if (m := re.fullmatch(r"transfer_unfreeze(\d+)", s))]
        return f"transfer_unfreeze{max(numbers)}" if numbers else None
    return base if base in their_settings else None


def published_curves(published: pd.DataFrame, learner: str, metric: str) -> pd.DataFrame:
    """Their transfer and single-task curves as (setting, task, step, mean, std, n_runs)."""
    moved = published.loc[(published["experiment"] == f"{learner}_transfer") & (published["metric"] == metric)]
    alone = published.loc[(published["experiment"] == learner) & (published["algorithm"] == learner)
                          & (published["metric"] == metric) & published["task"].isin(set(moved["task"]))]
    both = pd.concat([moved.assign(setting=moved["algorithm"]), alone.assign(setting=NO_TRANSFER)], ignore_index=True)
    return both[["setting", "task", "step", "mean", "std", "n_runs"]]


def _window_label(first: int, last: int) -> str:
    return f"epochs {first}-{last} (mean)"


def published_comparison(frame: pd.DataFrame, published: pd.DataFrame, learner: str,
                         metric: str = "return_discounted", final_epochs: int = 10, ci: float = 0.95) -> pd.DataFrame:
    """Ours vs theirs per target task, width and setting, at epoch 0 and over our last ``final_epochs``
    trained epochs (theirs over the same epochs, left out when they did not run them all).

    Columns: ``metric, width, setting, theirs_setting, load_into, task`` + COMPARISON_COLUMNS + ``first, last``.
    """
    head = ["metric", "width", "setting", "theirs_setting", "load_into", "task"]
    empty = pd.DataFrame(columns=[*head, *COMPARISON_COLUMNS, "first", "last"])
    values, _ = transfer_curves(frame, learner, metric)
    theirs_curves = published_curves(published, learner, metric)
    if values.empty or theirs_curves.empty:
        return empty
    their_settings = sorted(set(theirs_curves["setting"]))
    values = values.assign(theirs_setting=values["setting"].map(lambda s: their_setting(s, their_settings)))
    values = values.loc[values["theirs_setting"].notna()]
    keys = ["theirs_setting", "task"]
    # Ours: epoch 0 and the window of the last final_epochs trained epochs, per run.
    start = values.loc[values["step"] == 0].assign(first=0, last=0)
    trained = values.loc[values["step"] > 0].sort_values("step")
    window = trained.groupby(KEYS, sort=True).tail(final_epochs)
    spans = window.groupby(KEYS, sort=True)["step"].agg(["min", "max"]).rename(columns={"min": "first", "max": "last"})
    means = window.groupby([*KEYS, "theirs_setting"], sort=True)["value"].mean().reset_index().merge(
        spans.reset_index(), on=KEYS)
    ours = pd.concat([start[[*KEYS, "theirs_setting", "first", "last", "value"]],
                      means[[*KEYS, "theirs_setting", "first", "last", "value"]]], ignore_index=True)
    ours["checkpoint"] = [f"epoch {f}" if f == la else _window_label(f, la)
                          for f, la in zip(ours["first"], ours["last"])]
    theirs_rows = []
    for r in ours[[*keys, "checkpoint", "first", "last"]].drop_duplicates().itertuples(index=False):
        points = theirs_curves.loc[(theirs_curves["setting"] == r.theirs_setting) & (theirs_curves["task"] == r.task)
                                   & theirs_curves["step"].between(r.first, r.last)]
        if len(points) != r.last - r.first + 1:
            continue
        mean, std, n_runs = window_summary(points)
        theirs_rows.append({"theirs_setting": r.theirs_setting, "task": r.task, "checkpoint": r.checkpoint,
                            "mean": mean, "std": std, "n_runs": n_runs})
    theirs = pd.DataFrame(theirs_rows, columns=[*keys, "checkpoint", "mean", "std", "n_runs"])
    parts = []
    for (width, setting), group in ours.groupby(["width", "setting"], sort=True):
        table = compare(group[[*keys, "checkpoint", "value"]], theirs, keys, ci)
        if not table.empty:
            load_into = "online" if setting.endswith("_online") else (
                "" if setting == NO_TRANSFER else "online_and_target")
            parts.append(table.assign(metric=metric, width=width, setting=setting, load_into=load_into))
    if not parts:
        return empty
    table = pd.concat(parts, ignore_index=True)
    table = table.merge(ours[["checkpoint", "first", "last"]].drop_duplicates("checkpoint"), on="checkpoint")
    table["order"] = table["setting"].map(lambda s: _order_key(s))
    table = table.sort_values(["task", "width", "order", "first", "last"], kind="stable")
    return table[[*head, *COMPARISON_COLUMNS, "first", "last"]].reset_index(drop=True)


def published_display(table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    display = compare_display(table, {"task": "target", "width": "width", "setting": "setting",
                                      "load_into": "ours loaded into"}, ci)
    display["setting"] = display["setting"].map(setting_label)
    return display


def write_published_comparison(frame: pd.DataFrame, outdir: str | os.PathLike, learner: str,
                               metric: str = "return_discounted", final_epochs: int = 10,
                               ci: float = 0.95) -> list[Path]:
    table = published_comparison(frame, reference.load(learner), learner, metric, final_epochs, ci)
    runs = {"dqn": 100, "ddpg": 40}[learner]
    caption = (f"Transfer ({learner.upper()}): ours vs the published results of D'Eramo et al. (2020; {runs} runs, "
               f"their shared layers loaded into the online network only), {metric.replace('_', ' ')} "
               f"({reference.CONVENTIONS[learner]}), at epoch 0 and over our last {final_epochs} trained epochs "
               f"(theirs over the same epochs): means with {ci:.0%} Student-t CIs, the difference with Welch's "
               f"{ci:.0%} CI and p-value (for a window the published spread is an upper bound: conservative). "
               f"Failed runs excluded.")
    display = published_display(table, ci) if not table.empty else None
    return write_table(table, outdir, f"transfer_{learner}_vs_published", display, caption)


def load_transfer_runs(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Results files and/or all-runs tables, in one table (every experiment; :func:`transfer_curves` selects)."""
    return load_any(paths)


def main(argv: Sequence[str] | None = None) -> int:
    parser = analysis_parser("python -m analysis.transfer_tables",
                             "Transfer vs no transfer per held-out task, and ours vs the published (CSV, Markdown, "
                             "LaTeX).")
    parser.add_argument("--learner", choices=LEARNERS, default="dqn", help="dqn or ddpg (default dqn)")
    parser.add_argument("--metric", default="return_discounted", help="metric to summarise")
    parser.add_argument("--final-epochs", type=int, default=10, help="trained epochs averaged for the final value")
    add_published_argument(parser)
    args = parser.parse_args(argv)
    frame = load_transfer_runs(args.runs)
    paths = write_summary(frame, args.outdir, args.learner, args.metric, args.final_epochs, args.n_boot, args.seed,
                          args.ci)
    if args.published:
        paths += write_published_comparison(frame, args.outdir, args.learner, args.metric, args.final_epochs, args.ci)
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
