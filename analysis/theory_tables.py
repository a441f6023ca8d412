"""Tables where the paper's bounds meet measurements: the AVI bound against MFQI, the testbed fits.

Pure functions on tidy tables plus a small CLI (:mod:`analysis.cli`: ``fqi-bound``, ``testbed-fit``).

Design notes: docs/theory.md#readings-of-the-bound-tables.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import fit
from analysis.aggregate import load_any, split_failed, stratified_bootstrap_ci
from analysis.cli import add_subcommand, print_paths
from analysis.cli import run as run_cli
from analysis.table_io import format_number, write_table
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments.testbed import COMPLEXITY_METRICS
from mtrl_bench.random_streams import as_generator
from mtrl_bench.theory.approx_error import ClassComplexities, approximation_error_bound
from mtrl_bench.theory.avi import multitask_avi_bound

RUN_COLUMNS = ["n_tasks", "width", "seed"]
FQI_DISCOUNT, FQI_MAX_REWARD = 0.95, 1.0
TESTBED_ERROR_METRIC = "excess_risk"
BOUND_TERMS = ("input_maps", "shared_representation", "shared_offset", "heads", "confidence", "total")


def load_tables(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Read results files (with provenance) or all-runs tables into one table, failed runs removed."""
    kept, _ = split_failed(load_any(paths))
    return kept


def fqi_bound_comparison(
    frame: pd.DataFrame,
    concentrability: float = 1.0,
    discount: float = FQI_DISCOUNT,
    max_reward: float = FQI_MAX_REWARD,
) -> pd.DataFrame:
    """Per MFQI run: the AVI bound from the measured eps_avg,k and the measured final avi_diff.

    frame: tidy FQI rows with metrics ``approx_error`` and ``avi_diff`` per (n_tasks, width, seed,
    task, step). Returns one row per run: n_tasks, width, seed, n_iterations, measured_avi_diff,
    bound, propagated_error_term, tail_term, r_star, below_bound (see the module docstring).
    """
    fqi = frame[frame["experiment"] == "fqi"] if "experiment" in frame.columns else frame
    needed = fqi[fqi["metric"].isin(["approx_error", "avi_diff"])]
    if needed.empty:
        raise ConfigError("no FQI rows with metrics approx_error and avi_diff: give MFQI results files")
    task_means = needed.groupby([*RUN_COLUMNS, "metric", "step"], as_index=False)["value"].mean()
    rows = []
    for (n_tasks, width, seed), run in task_means.groupby(RUN_COLUMNS):
        errors = run[run["metric"] == "approx_error"].sort_values("step")
        distances = run[run["metric"] == "avi_diff"].sort_values("step")
        if errors.empty or distances.empty:
            continue
        bound = multitask_avi_bound(errors["value"].to_numpy(), discount, max_reward, concentrability)
        measured = float(distances["value"].iloc[-1])
        rows.append({"n_tasks": int(n_tasks), "width": int(width), "seed": int(seed),
                     "n_iterations": bound.n_iterations, "measured_avi_diff": measured, "bound": bound.total,
                     "propagated_error_term": bound.propagated_error_term, "tail_term": bound.tail_term,
                     "r_star": bound.r_star, "below_bound": measured <= bound.total})
    if not rows:
        raise ConfigError("no FQI run has both approx_error and avi_diff rows")
    return pd.DataFrame(rows)


def fqi_bound_table(comparison: pd.DataFrame, concentrability: float = 1.0, n_boot: int = 2000,
                    rng: np.random.Generator | int | None = 0, ci: float = 0.95) -> pd.DataFrame:
    """Per (width, T): seeds, measured error (mean, sd, CI), bound (mean, CI, min), below_bound in every seed.

    The intervals are percentile intervals of the seed mean from ``n_boot`` bootstrap resamples of the
    seeds (NaN with one seed or ``n_boot == 0``).
    """
    rng = as_generator(rng)
    grouped = comparison.groupby(["width", "n_tasks"], sort=True)
    table = grouped.agg(
        n_seeds=("seed", "nunique"),
        measured_error=("measured_avi_diff", "mean"),
        measured_error_sd=("measured_avi_diff", "std"),
        bound=("bound", "mean"),
        bound_min=("bound", "min"),
        propagated_error_term=("propagated_error_term", "mean"),
        tail_term=("tail_term", "mean"),
        fraction_below=("below_bound", "mean"),
    ).reset_index()
    for column, source in (("measured_error", "measured_avi_diff"), ("bound", "bound")):
        intervals = [stratified_bootstrap_ci(group[source].to_numpy(float), n_boot, rng, ci, statistic="mean")[1:]
                     for _, group in grouped]
        position = table.columns.get_loc(column) + 1
        table.insert(position, f"{column}_hi", [hi for _, hi in intervals])
        table.insert(position, f"{column}_lo", [lo for lo, _ in intervals])
    table["below_bound"] = table["fraction_below"] == 1.0
    table.insert(2, "concentrability", float(concentrability))
    return table


def testbed_seed_table(frame: pd.DataFrame, metric: str = TESTBED_ERROR_METRIC) -> pd.DataFrame:
    """Seed table for :mod:`analysis.fit`: the final-epoch ``metric`` averaged over tasks per run.

    Columns: algorithm, width, n_tasks, seed, value (units: squared target units).
    """
    rows = frame[(frame["experiment"] == "testbed") & (frame["metric"] == metric) & (frame["task"] != "all")]
    if rows.empty:
        raise ConfigError(f"no testbed rows with metric {metric!r}: give `mtrl-bench run testbed` results")
    final = rows[rows["step"] == rows.groupby(["algorithm", "width"])["step"].transform("max")]
    return final.groupby(["algorithm", "width", "n_tasks", "seed"], as_index=False)["value"].mean()


def testbed_bound_terms(
    frame: pd.DataFrame, n_samples: int, delta: float = 0.05, log_numerator: float = 3.0
) -> pd.DataFrame:
    """Theorem 3's terms evaluated from the testbed's plug-in complexities, per (width, T).

    The plug-ins (see :mod:`mtrl_bench.experiments.testbed`) are averaged over seeds, then the bound is
    evaluated with c1..c4 = 1, eps* = 0 and an unrescaled loss (Lipschitz 1, range 1): the level is
    not a certified bound (the constants are unknown and the squared loss is unbounded), the shape
    in T is the point. Columns: width, n_tasks, and :data:`BOUND_TERMS`.
    """
    plug_ins = frame[(frame["experiment"] == "testbed") & (frame["task"] == "all")
                     & frame["metric"].isin(COMPLEXITY_METRICS)]
    if plug_ins.empty:
        raise ConfigError("no testbed complexity rows (task 'all'): run the testbed with --input-map task")
    means = plug_ins.groupby(["width", "n_tasks", "metric"])["value"].mean().unstack("metric")
    rows = []
    for (width, n_tasks), values in means.iterrows():
        complexities = ClassComplexities(**{name: float(values[name]) for name in COMPLEXITY_METRICS})
        bound = approximation_error_bound(int(n_samples), int(n_tasks), delta, complexities,
                                          log_numerator=log_numerator)
        terms = bound.terms()
        rows.append({"width": int(width), "n_tasks": int(n_tasks), **{name: terms[name] for name in BOUND_TERMS}})
    return pd.DataFrame(rows)


def testbed_fit_table(seed_table: pd.DataFrame, n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> pd.DataFrame:
    """Fits of excess risk against T (a + b/sqrt(T) and its rivals) per (algorithm, width), via analysis.fit."""
    return fit.fit_table(seed_table, by=["algorithm", "width"], n_boot=n_boot, rng=seed, ci=ci)


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every float shown to 4 significant digits, for Markdown and LaTeX."""
    display = table.copy()
    for column in display.columns:
        if pd.api.types.is_float_dtype(display[column]):
            display[column] = display[column].map(format_number)
    return display


def add_bound_arguments(parser: argparse.ArgumentParser) -> None:
    """The fqi-bound options of the tables and the figure: --concentrability, --gamma, --rmax."""
    parser.add_argument("--concentrability", type=float, default=1.0, help="constant c (assumption)")
    parser.add_argument("--gamma", type=float, default=FQI_DISCOUNT)
    parser.add_argument("--rmax", type=float, default=FQI_MAX_REWARD)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.theory_tables", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="table", required=True)
    add_bound_arguments(add_subcommand(commands, "fqi-bound", "AVI bound from measured approx_error vs measured "
                                       "avi_diff"))
    fit_parser = add_subcommand(commands, "testbed-fit", "excess risk vs T fits of the testbed")
    fit_parser.add_argument("--metric", default=TESTBED_ERROR_METRIC)
    args = parser.parse_args(argv)
    frame = load_tables(args.runs)
    if args.table == "fqi-bound":
        comparison = fqi_bound_comparison(frame, args.concentrability, args.gamma, args.rmax)
        table = fqi_bound_table(comparison, args.concentrability, args.n_boot, args.seed, args.ci)
        stem = "fqi_bound"
        caption = (f"Theorem 2's AVI bound from the measured approx_error (gamma {args.gamma:g}, Rmax {args.rmax:g}, "
                   f"constant concentrability c = {args.concentrability:g}) against the measured avi_diff at the "
                   f"last iteration, per width and T; {args.ci:.0%} bootstrap CIs of the seed means "
                   f"({args.n_boot} resamples).")
    else:
        table = testbed_fit_table(testbed_seed_table(frame, args.metric), args.n_boot, args.seed, args.ci)
        stem = "testbed_fit"
        caption = (f"Fits of the testbed's {args.metric.replace('_', ' ')} against T (a + b/sqrt(T) and rivals) "
                   f"per learner and width; {args.ci:.0%} stratified-bootstrap CIs ({args.n_boot} resamples).")
    return print_paths(write_table(table, args.outdir, stem, rounded(table), caption), "theory_tables: wrote ")


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
