"""Tables where the paper's bounds meet measurements: the AVI bound against MFQI, the testbed fits.

Pure functions on tidy tables plus a small CLI. Readings, stated once:

* FQI (``experiment == "fqi"``): ``approx_error`` at iteration k (k = 1..K) is the held-out mean squared
  error of Q_k against T* Q_{k-1}, i.e. the squared norm ||Q_k - T* Q_{k-1}||^2_nu, which is
  Theorem 2's eps_{k-1} (nu = the held-out transitions' distribution). Per run (n_tasks, width, seed)
  it is averaged over tasks to give eps_avg,0 .. eps_avg,K-1; the bound takes its square root inside
  E^{1/2}. The bound is evaluated with gamma = 0.95, Rmax = 1 (Car-On-Hill's rewards are in {-1, 0, 1})
  and a constant effective concentrability c (default 1) for every task and iteration - an
  ASSUMPTION: the true coefficients cannot be estimated in a continuous MDP and are >= 1.
* The measured side is ``avi_diff`` at the last iteration averaged over tasks: the mean |Q* - Q_K|
  over the 200 test pairs, i.e. ||Q* - Q_K||_{1,rho} with rho uniform on the test grid. Theorem 2 bounds
  ||Q* - Q^{pi_K}||_{1,rho}, the value of the greedy policy, not of the estimate Q_K: the comparison is
  between related but different quantities, and rho differs from nu. The paper also applies
  Theorem 3 per iteration without a union bound, and FQI reuses its data across iterations.
* ``below_bound`` is True for a T when the measured error is below the bound in every seed.

CLI::

    python -m analysis.theory_tables fqi-bound --runs results/runs/fqi/*.csv \\
        --csv results/tables/fqi_bound.csv --markdown results/tables/fqi_bound.md [--concentrability 1]
    python -m analysis.theory_tables testbed-fit --runs results/runs/testbed.csv \\
        --csv results/tables/testbed_fit.csv --markdown results/tables/testbed_fit.md
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from analysis import fit
from analysis.aggregate import load_any, split_failed
from mtrl_bench.experiments.testbed import COMPLEXITY_METRICS
from mtrl_bench.results import atomic_write_text
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
        raise ValueError("no FQI rows with metrics approx_error and avi_diff: give MFQI results files")
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
        raise ValueError("no FQI run has both approx_error and avi_diff rows")
    return pd.DataFrame(rows)


def fqi_bound_table(comparison: pd.DataFrame, concentrability: float = 1.0) -> pd.DataFrame:
    """Per (width, T): seeds, measured error (mean, sd), bound (mean, min), below_bound in every seed."""
    grouped = comparison.groupby(["width", "n_tasks"])
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
    table["below_bound"] = table["fraction_below"] == 1.0
    table.insert(2, "concentrability", float(concentrability))
    return table


def testbed_seed_table(frame: pd.DataFrame, metric: str = TESTBED_ERROR_METRIC) -> pd.DataFrame:
    """Seed table for :mod:`analysis.fit`: the final-epoch ``metric`` averaged over tasks per run.

    Columns: algorithm, width, n_tasks, seed, value (units: squared target units).
    """
    rows = frame[(frame["experiment"] == "testbed") & (frame["metric"] == metric) & (frame["task"] != "all")]
    if rows.empty:
        raise ValueError(f"no testbed rows with metric {metric!r}: give `mtrl-bench run testbed` results")
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
        raise ValueError("no testbed complexity rows (task 'all'): run the testbed with --input-map task")
    means = plug_ins.groupby(["width", "n_tasks", "metric"])["value"].mean().unstack("metric")
    rows = []
    for (width, n_tasks), values in means.iterrows():
        complexities = ClassComplexities(**{name: float(values[name]) for name in COMPLEXITY_METRICS})
        bound = approximation_error_bound(int(n_samples), int(n_tasks), delta, complexities,
                                          log_numerator=log_numerator)
        terms = bound.terms()
        rows.append({"width": int(width), "n_tasks": int(n_tasks), **{name: terms[name] for name in BOUND_TERMS}})
    return pd.DataFrame(rows)


def testbed_fit_table(seed_table: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Fits of excess risk against T (a + b/sqrt(T) and its rivals) per (algorithm, width), via analysis.fit."""
    return fit.fit_table(seed_table, by=["algorithm", "width"], n_boot=n_boot, rng=seed)


def write_table(table: pd.DataFrame, csv_path: str | Path | None, markdown_path: str | Path | None) -> list[Path]:
    """Write ``table`` as CSV and/or Markdown (atomically); return the paths written."""
    written = []
    if csv_path:
        written.append(atomic_write_text(csv_path, table.to_csv(index=False, float_format="%.6g")))
    if markdown_path:
        written.append(atomic_write_text(markdown_path, table.to_markdown(index=False, floatfmt=".4g") + "\n"))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.theory_tables", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="table", required=True)
    fqi_parser = commands.add_parser("fqi-bound", help="AVI bound from measured approx_error vs measured avi_diff")
    fqi_parser.add_argument("--concentrability", type=float, default=1.0, help="constant c (assumption)")
    fqi_parser.add_argument("--gamma", type=float, default=FQI_DISCOUNT)
    fqi_parser.add_argument("--rmax", type=float, default=FQI_MAX_REWARD)
    fit_parser = commands.add_parser("testbed-fit", help="excess risk vs T fits of the testbed")
    fit_parser.add_argument("--metric", default=TESTBED_ERROR_METRIC)
    fit_parser.add_argument("--n-boot", type=int, default=2000)
    fit_parser.add_argument("--seed", type=int, default=0)
    for sub in (fqi_parser, fit_parser):
        sub.add_argument("--runs", nargs="+", required=True, help="results files or all-runs tables")
        sub.add_argument("--csv", help="output CSV")
        sub.add_argument("--markdown", help="output Markdown")
    args = parser.parse_args(argv)
    frame = load_tables(args.runs)
    if args.table == "fqi-bound":
        comparison = fqi_bound_comparison(frame, args.concentrability, args.gamma, args.rmax)
        table = fqi_bound_table(comparison, args.concentrability)
    else:
        table = testbed_fit_table(testbed_seed_table(frame, args.metric), args.n_boot, args.seed)
    for path in write_table(table, args.csv, args.markdown):
        print(f"theory_tables: wrote {path}")
    if not (args.csv or args.markdown):
        print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

