"""Tables of the multi-task FQI experiment, each written as CSV, Markdown and LaTeX.

- ``fit.{csv,md,tex}``: for every metric (``avi_diff``, ``approx_error``), shared width and model
  (constant, a + b/sqrt(T), a + b/T, a + b*T^-alpha) the weighted fit of the final-iteration error
  against T (:mod:`analysis.fit`): a, b, alpha-hat with 95% stratified-bootstrap CIs, chi2, AIC,
  AICc, BIC, the model AICc prefers, the share of bootstrap resamples in which each model is
  preferred, seeds used and failed runs excluded.
- ``final_error.{csv,md,tex}``: for every metric, width and T the final-iteration error over seeds:
  IQM with its 95% stratified-bootstrap CI, mean, sd, seeds used and failed runs excluded.

The CSV keeps full precision and one column per number; the Markdown and LaTeX versions show each
estimate with its interval ("0.152 [0.148, 0.157]") rounded to 4 significant digits.

Public API
----------
``final_error_table(frame, metrics=FIT_METRICS, experiment="fqi", n_boot=2000, rng=0, ci=0.95) -> DataFrame``
``fit_results_table(frame, metrics=FIT_METRICS, experiment="fqi", models=MODEL_NAMES, n_boot=2000, rng=0,
ci=0.95) -> DataFrame``
``write_table(table, outdir, stem, display=None) -> list[Path]``   stem.csv, stem.md, stem.tex
``make_all(frame, outdir, experiment="fqi", n_boot=2000, seed=0, ci=0.95) -> list[Path]``

CLI: ``python -m analysis.tables --runs results/tables/all_runs.csv --outdir results/tables
[--experiment fqi] [--n-boot 2000] [--seed 0]``
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import fit
from analysis.aggregate import (
    RUN_KEYS,
    add_bootstrap_arguments,
    aggregate_seeds,
    final_values,
    read_all_runs,
    split_failed,
)
from mtrl_bench.results import atomic_write_text

FIT_METRICS = ("avi_diff", "approx_error")


def _clean(frame: pd.DataFrame, experiment: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    if experiment is not None:
        frame = frame.loc[frame["experiment"] == experiment]
    return split_failed(frame)


def _failed_counts(failed: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    if failed.empty:
        return pd.DataFrame(columns=[*by, "n_failed"])
    return failed.groupby(list(by), sort=True).size().rename("n_failed").reset_index()


def _with_failed(table: pd.DataFrame, failed: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    counts = _failed_counts(failed, by)
    for column in by:
        counts[column] = counts[column].astype(table[column].dtype)
    table = table.merge(counts, on=list(by), how="left")
    table["n_failed"] = table["n_failed"].fillna(0).astype(int)
    return table


def _final_seed_table(ok: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Final-iteration value of each run, for each metric: RUN_KEYS, step, value, metric."""
    parts = []
    for metric in metrics:
        values = final_values(ok, metric)
        if not values.empty:
            parts.append(values.assign(metric=metric))
    if not parts:
        return pd.DataFrame(columns=[*RUN_KEYS, "step", "value", "metric"])
    return pd.concat(parts, ignore_index=True)


def final_error_table(frame: pd.DataFrame, metrics: Sequence[str] = FIT_METRICS,
                      experiment: str | None = "fqi", n_boot: int = 2000,
                      rng: np.random.Generator | int | None = 0, ci: float = 0.95) -> pd.DataFrame:
    """Final-iteration error per metric, width and T over the seeds that did not fail.

    Columns: ``metric, width, n_tasks, step, iqm, iqm_lo, iqm_hi, mean, sd, n_seeds, n_failed, note``.
    ``step`` is the last iteration reached (the largest when runs differ, noted in ``note``).
    """
    ok, failed = _clean(frame, experiment)
    seeds = _final_seed_table(ok, metrics)
    by = ["metric", "width", "n_tasks"]
    columns = [*by, "step", "iqm", "iqm_lo", "iqm_hi", "mean", "sd", "n_seeds", "n_failed", "note"]
    if seeds.empty:
        return pd.DataFrame(columns=columns)
    summary = aggregate_seeds(seeds, by, n_boot=n_boot, rng=rng, ci=ci)
    steps = seeds.groupby(by, sort=True)["step"].agg(["min", "max"]).reset_index()
    summary = summary.merge(steps, on=by, how="left")
    summary["step"] = summary["max"]
    notes = []
    for row in summary.itertuples():
        parts = []
        if row.min != row.max:
            parts.append(f"runs end at iterations {row.min}-{row.max}")
        if row.n_seeds < 2:
            parts.append("one seed: no CI")
        notes.append("; ".join(parts))
    summary["note"] = notes
    summary = _with_failed(summary, failed, ["width", "n_tasks"])
    order = {metric: i for i, metric in enumerate(metrics)}
    summary = summary.sort_values(["metric", "width", "n_tasks"], kind="stable",
                                  key=lambda c: c.map(order) if c.name == "metric" else c)
    return summary[columns].reset_index(drop=True)


def fit_results_table(frame: pd.DataFrame, metrics: Sequence[str] = FIT_METRICS,
                      experiment: str | None = "fqi", models: Sequence[str] = fit.MODEL_NAMES,
                      n_boot: int = 2000, rng: np.random.Generator | int | None = 0,
                      ci: float = 0.95) -> pd.DataFrame:
    """Fits of the final-iteration error against T per metric, width and model.

    See :func:`analysis.fit.fit_table` for the columns.

    Adds ``n_failed`` (failed runs of that width, excluded before fitting).
    """
    ok, failed = _clean(frame, experiment)
    seeds = _final_seed_table(ok, metrics)
    if seeds.empty:
        return pd.DataFrame()
    table = fit.fit_table(seeds[["metric", "width", "n_tasks", "seed", "value"]], models=models,
                          by=["metric", "width"], n_boot=n_boot, rng=rng, ci=ci)
    table = _with_failed(table, failed, ["width"])
    order = {metric: i for i, metric in enumerate(metrics)}
    table = table.sort_values("metric", key=lambda c: c.map(order), kind="stable").reset_index(drop=True)
    return table


# ---------------------------------------------------------------------------------------------
# Display versions for Markdown and LaTeX


def _num(value: float) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "" if value is None or math.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{value:.4g}"


def format_with_ci(value: float, low: float, high: float) -> str:
    """``value [low, high]`` with 4 significant digits; the interval is left out when not finite."""
    if not math.isfinite(value):
        return ""
    if not (math.isfinite(low) and math.isfinite(high)):
        return _num(value)
    return f"{_num(value)} [{_num(low)}, {_num(high)}]"


def fit_display(table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """The fit table as strings: one column per parameter with its CI, criteria rounded."""
    rows = []
    for r in table.to_dict("records"):
        rows.append({
            "metric": r["metric"], "width": r["width"], "model": r["formula"],
            f"a [{ci:.0%} CI]": format_with_ci(r["a"], r["a_lo"], r["a_hi"]),
            f"b [{ci:.0%} CI]": format_with_ci(r["b"], r["b_lo"], r["b_hi"]),
            f"alpha [{ci:.0%} CI]": format_with_ci(r["alpha"], r["alpha_lo"], r["alpha_hi"]),
            "chi2": _num(r["chi2"]), "AIC": _num(r["aic"]), "AICc": _num(r["aicc"]), "BIC": _num(r["bic"]),
            "dAICc": _num(r["delta_aicc"]), "preferred": "yes" if r["preferred"] else "",
            "boot. preferred": _num(r["boot_preferred"]),
            "T points": r["n_points"], "seeds": r["n_seeds"], "failed": r["n_failed"], "note": r["note"],
        })
    return pd.DataFrame(rows)


def final_error_display(table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """The final-error table as strings: IQM with its CI, mean, sd."""
    rows = []
    for r in table.to_dict("records"):
        rows.append({
            "metric": r["metric"], "width": r["width"], "T": r["n_tasks"], "iteration": r["step"],
            f"IQM [{ci:.0%} CI]": format_with_ci(r["iqm"], r["iqm_lo"], r["iqm_hi"]),
            "mean": _num(r["mean"]), "sd": _num(r["sd"]), "seeds": r["n_seeds"], "failed": r["n_failed"],
            "note": r["note"],
        })
    return pd.DataFrame(rows)


def write_table(table: pd.DataFrame, outdir: str | os.PathLike, stem: str,
                display: pd.DataFrame | None = None, caption: str | None = None) -> list[Path]:
    """Write ``stem.csv`` (``table``, full precision), ``stem.md``, ``stem.tex`` (``display``) atomically."""
    outdir = Path(outdir)
    display = table if display is None else display
    csv = atomic_write_text(outdir / f"{stem}.csv", table.to_csv(index=False, float_format="%.9g"))
    markdown = display.to_markdown(index=False) if not display.empty else "(no rows)"
    md = atomic_write_text(outdir / f"{stem}.md", (f"{caption}\n\n" if caption else "") + markdown + "\n")
    latex = display.to_latex(index=False, escape=True, caption=caption, label=f"tab:{stem.replace('_', '-')}")
    tex = atomic_write_text(outdir / f"{stem}.tex", latex)
    return [csv, md, tex]


def make_all(frame: pd.DataFrame, outdir: str | os.PathLike, experiment: str | None = "fqi",
             n_boot: int = 2000, seed: int = 0, ci: float = 0.95) -> list[Path]:
    """Write ``fit.{csv,md,tex}`` and ``final_error.{csv,md,tex}`` under ``outdir``."""
    fits = fit_results_table(frame, experiment=experiment, n_boot=n_boot, rng=seed, ci=ci)
    finals = final_error_table(frame, experiment=experiment, n_boot=n_boot, rng=seed, ci=ci)
    fit_caption = (f"Weighted least-squares fits of the final-iteration error against the number of tasks T "
                   f"(weights 1/SEM^2 over per-T seed means; {ci:.0%} stratified-bootstrap CIs over seeds, "
                   f"{n_boot} resamples; preferred = smallest AICc, or AIC when AICc ranks fewer than two models).")
    final_caption = (f"Final-iteration error per T: interquartile mean over seeds with its {ci:.0%} "
                     f"stratified-bootstrap CI ({n_boot} resamples); failed runs excluded.")
    paths = write_table(fits, outdir, "fit", fit_display(fits, ci) if not fits.empty else None, fit_caption)
    paths += write_table(finals, outdir, "final_error", final_error_display(finals, ci), final_caption)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.tables",
        description="Write the fit and final-error tables (CSV, Markdown, LaTeX).")
    parser.add_argument("--runs", required=True, help="all-runs table from analysis.aggregate")
    parser.add_argument("--outdir", required=True, help="output folder, e.g. results/tables")
    parser.add_argument("--experiment", default="fqi", help="experiment to tabulate (default fqi)")
    add_bootstrap_arguments(parser)
    args = parser.parse_args(argv)
    frame = read_all_runs(args.runs)
    for path in make_all(frame, args.outdir, args.experiment, args.n_boot, args.seed, args.ci):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
