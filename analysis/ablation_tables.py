"""Tables of the ablations (beyond the paper): where sharing stops helping.

Pure functions on tidy tables plus a small CLI (:mod:`analysis.cli`: ``similarity``, ``coh-similarity``,
``depth``, ``imbalance``).

Design notes: docs/analysis.md#ablation-tables-readings.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import fit
from analysis.aggregate import stratified_bootstrap_ci
from analysis.cli import add_subcommand
from analysis.cli import run as run_cli
from analysis.table_io import write_table
from analysis.theory_tables import load_tables, rounded, testbed_bound_terms
from mtrl_bench.errors import ConfigError

STUDIES = {  # experiment name -> (error metric, the small default's swept quantity)
    "similarity": ("excess_risk", "dissimilarity"),
    "coh_similarity": ("avi_diff", "spread"),
    "depth": ("excess_risk", None),
    "imbalance": ("excess_risk", "rho"),
}
CURVE = ["algorithm", "width", "n_tasks"]


def sweep_value(variants: pd.Series) -> pd.Series:
    """The swept number of each ``variants`` label ("dissimilarity=0.25" -> 0.25)."""
    parts = variants.astype(str).str.rsplit("=", n=1)
    if not parts.map(len).eq(2).all():
        raise ConfigError(f"variants labels without '=<value>': {sorted(set(variants[parts.map(len) != 2]))[:3]}")
    return parts.str[1].astype(float)


def final_errors(frame: pd.DataFrame, experiment: str, metric: str | None = None) -> pd.DataFrame:
    """Final-step error per (algorithm, width, variants, n_tasks, task, seed) of one study; ``value`` column,
    plus ``sweep`` (the variants' number) for the swept studies."""
    metric = metric or STUDIES[experiment][0]
    rows = frame[(frame["experiment"] == experiment) & (frame["metric"] == metric) & (frame["task"] != "all")]
    if rows.empty:
        raise ConfigError(f"no {experiment} rows with metric {metric!r}: give `mtrl-bench run {experiment}` results")
    keys = ["algorithm", "width", "variants", "n_tasks", "task", "seed"]
    last = rows.groupby(keys)["step"].transform("max")
    out = rows[rows["step"] == last][keys + ["value"]].reset_index(drop=True)
    if STUDIES[experiment][1] is not None:
        out["sweep"] = sweep_value(out["variants"])
    return out


def paired_gains(errors: pd.DataFrame, tasks: str = "all") -> pd.DataFrame:
    """Per-seed multi-task gain (see the module docstring) for every (variants, n_tasks > 1).

    ``errors``: from :func:`final_errors`. The single-task error of a task is its n_tasks == 1 row with
    the same variants and seed, of any algorithm label (FQI's single-task runs are "fqi"); the
    multi-task learner keeps its algorithm (and width). ``tasks``: all, small (task "0") or others (tasks
    1..T-1, the small task's group mates in the testbed's partition of the pool).
    Columns: algorithm, width, variants, [sweep,] n_tasks, seed, single, multi, gain.
    """
    if tasks == "small":
        errors = errors[errors["task"] == "0"]
    elif tasks == "others":
        errors = errors[errors["task"] != "0"]
    single = errors[errors["n_tasks"] == 1]
    multi = errors[errors["n_tasks"] > 1]
    if single.empty or multi.empty:
        raise ConfigError("the gain needs both single-task (T = 1) and multi-task (T > 1) runs")
    join = ["variants", "task", "seed"]
    # The testbed studies have a T = 1 run per (algorithm, width); FQI's single runs are one per task.
    if set(single["algorithm"]) & set(multi["algorithm"]):
        join = ["algorithm", "width", *join]
    single = single.groupby(join, as_index=False)["value"].mean().rename(columns={"value": "single"})
    paired = multi.merge(single, on=join, how="inner").rename(columns={"value": "multi"})
    if tasks == "others":
        paired = paired[paired["task"].astype(int) < paired["n_tasks"]]
    if paired.empty:
        raise ConfigError("no multi-task task has a single-task run of the same task and seed")
    by = ["algorithm", "width", "variants", *(["sweep"] if "sweep" in paired else []), "n_tasks", "seed"]
    out = paired.groupby(by, as_index=False)[["single", "multi"]].mean()
    out["gain"] = out["single"] - out["multi"]
    return out


def gain_summary(gains: pd.DataFrame, n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> pd.DataFrame:
    """Seed means with bootstrap CIs of single, multi and gain per (algorithm, width, variants, n_tasks)."""
    rng = np.random.default_rng(seed)
    by = [c for c in ("algorithm", "width", "variants", "sweep", "n_tasks") if c in gains]
    rows = []
    for key, group in gains.groupby(by, sort=True):
        out = dict(zip(by, key, strict=True))
        for column in ("single", "multi", "gain"):
            mean, low, high = stratified_bootstrap_ci(group[column].to_numpy(float), n_boot, rng, ci, "mean")
            out.update({column: mean, f"{column}_lo": low, f"{column}_hi": high})
        out["n_seeds"] = int(len(group))
        rows.append(out)
    return pd.DataFrame(rows)


def crossing(sweep: np.ndarray, gain: np.ndarray) -> float:
    """Where ``gain`` (at increasing ``sweep`` values) first falls to 0, linearly interpolated; the
    first value when it starts at or below 0; +inf when it never does."""
    if gain[0] <= 0:
        return float(sweep[0])
    for i in range(1, len(sweep)):
        if gain[i] <= 0:
            return float(sweep[i - 1] + (sweep[i] - sweep[i - 1]) * gain[i - 1] / (gain[i - 1] - gain[i]))
    return float("inf")


def breaking_points(gains: pd.DataFrame, summary: pd.DataFrame, n_boot: int = 2000, seed: int = 0,
                    ci: float = 0.95) -> pd.DataFrame:
    """Per (algorithm, width, T): ``first_null`` and ``crossing`` with its seed-bootstrap CI (module docstring)."""
    rng = np.random.default_rng(seed)
    tail = 50.0 * (1.0 - ci)
    rows = []
    for key, curve in summary.groupby(CURVE, sort=True):
        curve = curve.sort_values("sweep")
        null = curve[curve["gain_lo"] <= 0] if curve["gain_lo"].notna().any() else curve[curve["gain"] <= 0]
        per_seed = (gains[(gains[CURVE] == pd.Series(key, index=CURVE)).all(axis=1)]
                    .pivot_table(index="seed", columns="sweep", values="gain").sort_index(axis=1).dropna())
        sweeps = per_seed.columns.to_numpy(float)
        matrix = per_seed.to_numpy(float)
        point = crossing(sweeps, matrix.mean(axis=0))
        low = high = float("nan")
        if n_boot > 0 and len(matrix) >= 2:
            draws = np.array([crossing(sweeps, matrix[rng.integers(0, len(matrix), len(matrix))].mean(axis=0))
                              for _ in range(n_boot)])
            with np.errstate(invalid="ignore"):  # +inf draws (no crossing) order above every finite one
                low, high = np.percentile(draws, [tail, 100.0 - tail], method="lower")
        rows.append({**dict(zip(CURVE, key, strict=True)), "first_null": float(null["sweep"].min()) if len(null)
                     else float("inf"), "crossing": point, "crossing_lo": float(low), "crossing_hi": float(high),
                     "swept_from": float(sweeps.min()), "swept_to": float(sweeps.max()), "n_seeds": len(matrix)})
    return pd.DataFrame(rows)


def similarity_bound(frame: pd.DataFrame, n_samples: int, summary: pd.DataFrame) -> pd.DataFrame:
    """Theorem 3's terms (:func:`analysis.theory_tables.testbed_bound_terms`) per dissimilarity, width and T
    of the per-task-input-map learner, beside its measured mean excess risk (multi-task; T = 1 single)."""
    parts = []
    for variants, rows in frame[frame["experiment"] == "similarity"].groupby("variants"):
        if not (rows["task"] == "all").any():
            continue
        terms = testbed_bound_terms(rows.assign(experiment="testbed"), n_samples)
        parts.append(terms.assign(variants=variants))
    if not parts:
        raise ConfigError("no similarity complexity rows: run the similarity sweep with input_map task")
    terms = pd.concat(parts, ignore_index=True)
    measured = summary[summary["algorithm"] == "erm-task-input-maps"][["variants", "width", "n_tasks", "multi"]]
    single = summary[summary["algorithm"] == "erm-task-input-maps"].groupby(["variants", "width"], as_index=False)[
        "single"].first().assign(n_tasks=1).rename(columns={"single": "multi"})
    measured = pd.concat([single, measured]).rename(columns={"multi": "measured_excess_risk"})
    out = terms.merge(measured, on=["variants", "width", "n_tasks"], how="left")
    out.insert(0, "dissimilarity", sweep_value(out["variants"]))
    return out.drop(columns="variants").sort_values(["dissimilarity", "width", "n_tasks"]).reset_index(drop=True)


def depth_tables(frame: pd.DataFrame, n_boot: int = 2000, seed: int = 0, ci: float = 0.95
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(error per split and T with CIs and the split's width and size, a + b/sqrt(T) fits per split)."""
    errors = final_errors(frame, "depth")
    seed_table = errors.groupby(["algorithm", "n_tasks", "seed"], as_index=False)["value"].mean()
    rng = np.random.default_rng(seed)
    sizes = frame[(frame["experiment"] == "depth") & (frame["metric"] == "n_parameters")]
    sizes = sizes.groupby(["algorithm", "n_tasks"])["value"].first()
    widths = errors.groupby(["algorithm", "n_tasks"])["width"].first()
    rows = []
    for (algorithm, n_tasks), group in seed_table.groupby(["algorithm", "n_tasks"], sort=True):
        mean, low, high = stratified_bootstrap_ci(group["value"].to_numpy(float), n_boot, rng, ci, "mean")
        rows.append({"split": algorithm.removeprefix("split-"), "n_tasks": n_tasks, "width": int(widths[algorithm,
                     n_tasks]), "n_parameters": float(sizes.get((algorithm, n_tasks), np.nan)),
                     "excess_risk": mean, "excess_risk_lo": low, "excess_risk_hi": high, "n_seeds": len(group)})
    fits = fit.fit_table(seed_table, models=["inv_sqrt"], by=["algorithm"], n_boot=n_boot, rng=seed, ci=ci)
    fits.insert(0, "split", fits.pop("algorithm").str.removeprefix("split-"))
    return pd.DataFrame(rows), fits


def imbalance_table(frame: pd.DataFrame, n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> pd.DataFrame:
    """Single- vs multi-task error of the small task and of the others against rho, per learner, width and T."""
    errors = final_errors(frame, "imbalance")
    parts = [gain_summary(paired_gains(errors, group), n_boot, seed, ci).assign(group=group)
             for group in ("small", "others")]
    out = pd.concat(parts, ignore_index=True).rename(columns={"sweep": "rho"})
    return out.drop(columns="variants").sort_values(["algorithm", "width", "n_tasks", "group", "rho"]
                                                    ).reset_index(drop=True)


def _write(table: pd.DataFrame, outdir: str, stem: str, caption: str) -> None:
    display = rounded(table)
    for column in table.columns:  # "inf" (beyond the swept range) rather than a blank cell
        if pd.api.types.is_float_dtype(table[column]):
            display.loc[np.isinf(table[column].to_numpy()), column] = "inf"
    for path in write_table(table, outdir, stem, display, caption):
        print(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.ablation_tables", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="study", required=True)
    sim = add_subcommand(commands, "similarity", "testbed: multi-task gain vs dissimilarity, breaking points, "
                         "Theorem 3's terms")
    sim.add_argument("--n-samples", type=int, default=None, help="training samples per task (default: from the "
                     "runs' provenance)")
    add_subcommand(commands, "coh-similarity", "Car-On-Hill: MFQI gain vs task spread, breaking points")
    add_subcommand(commands, "depth", "error vs T per shared/task-specific layer split")
    add_subcommand(commands, "imbalance", "small task and others, single vs multi-task, vs rho")
    args = parser.parse_args(argv)
    frame = load_tables(args.runs)
    level = f"{args.ci:.0%} bootstrap CIs over seeds ({args.n_boot} resamples)"
    if args.study in ("similarity", "coh-similarity"):
        experiment = args.study.replace("-", "_")
        stem = f"ablation_{experiment}"
        gains = paired_gains(final_errors(frame, experiment))
        summary = gain_summary(gains, args.n_boot, args.seed, args.ci)
        what = "excess risk" if experiment == "similarity" else "final avi_diff"
        _write(summary, args.outdir, f"{stem}_gain", f"Single- vs multi-task {what} and the multi-task gain "
               f"(single - multi, > 0: sharing helps) per dissimilarity and T; {level}.")
        _write(breaking_points(gains, summary, args.n_boot, args.seed, args.ci), args.outdir, f"{stem}_breaking",
               f"Breaking points: first_null = the first swept dissimilarity whose gain CI contains 0; crossing = "
               f"where the mean gain reaches 0 (interpolated), {level}; inf = not within the swept range.")
        if experiment == "similarity":
            n_samples = args.n_samples or _n_samples(args.runs)
            _write(similarity_bound(frame, n_samples, summary), args.outdir, f"{stem}_bound",
                   "Theorem 3's terms (c_i = 1, plug-in complexities; the shape in T is the point, not the level) "
                   "beside the measured excess risk of the per-task-input-map learner, per dissimilarity and T.")
    elif args.study == "depth":
        table, fits = depth_tables(frame, args.n_boot, args.seed, args.ci)
        _write(table, args.outdir, "ablation_depth", f"Excess risk per hidden-layer split (t = task-specific, s = "
               f"shared, input side first) and T, with each split's width and parameter count; {level}.")
        _write(fits, args.outdir, "ablation_depth_fit", f"Fits of excess risk = a + b/sqrt(T) per split; {level}.")
    else:
        _write(imbalance_table(frame, args.n_boot, args.seed, args.ci), args.outdir, "ablation_imbalance",
               f"Final excess risk of the small task (task 0, rho n samples) and of the others, single- vs "
               f"multi-task, and the gain, per rho and T; {level}.")
    return 0


def _n_samples(paths: Sequence[str]) -> int:
    from analysis.theory_figures import _testbed_n_samples

    return _testbed_n_samples(paths)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
