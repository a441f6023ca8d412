"""Tables of the multi-task FQI experiment, each written as CSV, Markdown and LaTeX.

``fit``, ``final_error``, ``fqi_vs_published``.

Design notes: docs/analysis.md#fqi-tables.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import fit, reference
from analysis.aggregate import RUN_KEYS, aggregate_seeds, final_values, load_any, run_values, split_failed
from analysis.cli import add_published_argument, analysis_parser, print_paths, run
from analysis.table_io import format_number, format_with_ci, write_table
from analysis.vs_published import COMPARISON_COLUMNS, compare, compare_display

EXPERIMENT = "fqi"
FIT_METRICS = ("avi_diff", "approx_error")
PAPER_ITERATIONS = (1, 5, 10, 20, 50)
"""The iterations at which the paper reports avi_diff."""


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
                      experiment: str | None = EXPERIMENT, n_boot: int = 2000,
                      rng: np.random.Generator | int | None = 0, ci: float = 0.95) -> pd.DataFrame:
    """Final-iteration error per metric, width and T over the seeds that did not fail.

    Columns: ``metric, width, n_tasks, step, iqm, iqm_lo, iqm_hi, mean, sd, n_seeds, n_failed, note``.
    ``step`` is the last iteration reached (the largest when runs differ, noted in ``note``).
    """
    ok, failed = split_failed(frame, experiment)
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
                      experiment: str | None = EXPERIMENT, models: Sequence[str] = fit.MODEL_NAMES,
                      n_boot: int = 2000, rng: np.random.Generator | int | None = 0,
                      ci: float = 0.95) -> pd.DataFrame:
    """Fits of the final-iteration error against T per metric, width and model.

    See :func:`analysis.fit.fit_table` for the columns.

    Adds ``n_failed`` (failed runs of that width, excluded before fitting).
    """
    ok, failed = split_failed(frame, experiment)
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


def fit_display(table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """The fit table as strings: one column per parameter with its CI, criteria rounded."""
    return pd.DataFrame([{
        "metric": r["metric"], "width": r["width"], "model": r["formula"],
        f"a [{ci:.0%} CI]": format_with_ci(r["a"], r["a_lo"], r["a_hi"]),
        f"b [{ci:.0%} CI]": format_with_ci(r["b"], r["b_lo"], r["b_hi"]),
        f"alpha [{ci:.0%} CI]": format_with_ci(r["alpha"], r["alpha_lo"], r["alpha_hi"]),
        "chi2": format_number(r["chi2"]), "AIC": format_number(r["aic"]), "AICc": format_number(r["aicc"]),
        "BIC": format_number(r["bic"]),
        "dAICc": format_number(r["delta_aicc"]), "preferred": "yes" if r["preferred"] else "",
        "boot. preferred": format_number(r["boot_preferred"]),
        "T points": r["n_points"], "seeds": r["n_seeds"], "failed": r["n_failed"], "note": r["note"],
    } for r in table.to_dict("records")])


def final_error_display(table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """The final-error table as strings: IQM with its CI, mean, sd."""
    return pd.DataFrame([{
        "metric": r["metric"], "width": r["width"], "T": r["n_tasks"], "iteration": r["step"],
        f"IQM [{ci:.0%} CI]": format_with_ci(r["iqm"], r["iqm_lo"], r["iqm_hi"]),
        "mean": format_number(r["mean"]), "sd": format_number(r["sd"]), "seeds": r["n_seeds"],
        "failed": r["n_failed"],
        "note": r["note"],
    } for r in table.to_dict("records")])


def published_comparison(frame: pd.DataFrame, published: pd.DataFrame, metric: str = "avi_diff",
                         iterations: Sequence[int] = PAPER_ITERATIONS, experiment: str | None = EXPERIMENT,
                         ci: float = 0.95) -> pd.DataFrame:
    """Ours vs the authors' ``metric`` per shared width, task set and paper iteration our runs reached.

    published: :func:`analysis.reference.load` ``("fqi")``. Our value per run is the task-averaged
    ``metric`` at that iteration (:func:`analysis.aggregate.run_values`), failed runs excluded. Columns:
    ``metric, width, n_tasks, variants`` + :data:`analysis.vs_published.COMPARISON_COLUMNS` (checkpoint =
    iteration). A task set the authors did not run, or an iteration our runs did not reach, has no row.
    """
    keys = ["n_tasks", "variants"]
    columns = ["metric", "width", *keys]
    ok, _ = split_failed(frame, experiment)
    values = run_values(ok, metric)
    values = values.loc[values["step"].isin(list(iterations))].rename(columns={"step": "checkpoint"})
    theirs = published.loc[(published["metric"] == metric) & published["step"].isin(list(iterations))]
    theirs = theirs.rename(columns={"step": "checkpoint"})
    parts = []
    for width, ours in values.groupby("width", sort=True):
        table = compare(ours[[*keys, "checkpoint", "value"]], theirs, keys, ci)
        if not table.empty:
            parts.append(table.assign(metric=metric, width=width))
    if not parts:
        return pd.DataFrame(columns=[*columns, *COMPARISON_COLUMNS])
    table = pd.concat(parts, ignore_index=True)
    rest = [c for c in table.columns if c not in columns]
    return table[[*columns, *rest]].sort_values(["width", "n_tasks", "variants", "checkpoint"],
                                                kind="stable").reset_index(drop=True)


def published_display(table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """The comparison as strings, one estimate with its interval per cell."""
    display = compare_display(table, {"width": "width", "n_tasks": "T", "variants": "task set"}, ci)
    return display.rename(columns={"checkpoint": "iteration"})


def make_all(frame: pd.DataFrame, outdir: str | os.PathLike, experiment: str | None = EXPERIMENT,
             n_boot: int = 2000, seed: int = 0, ci: float = 0.95, published: bool = True) -> list[Path]:
    """Write ``fit``, ``final_error`` and (``published``) ``fqi_vs_published`` ``.{csv,md,tex}`` under ``outdir``."""
    fits = fit_results_table(frame, experiment=experiment, n_boot=n_boot, rng=seed, ci=ci)
    finals = final_error_table(frame, experiment=experiment, n_boot=n_boot, rng=seed, ci=ci)
    fit_caption = (f"Weighted least-squares fits of the final-iteration error against the number of tasks T "
                   f"(weights 1/SEM^2 over per-T seed means; {ci:.0%} stratified-bootstrap CIs over seeds, "
                   f"{n_boot} resamples; preferred = smallest AICc, or AIC when AICc ranks fewer than two models).")
    final_caption = (f"Final-iteration error per T: interquartile mean over seeds with its {ci:.0%} "
                     f"stratified-bootstrap CI ({n_boot} resamples); failed runs excluded.")
    paths = write_table(fits, outdir, "fit", fit_display(fits, ci) if not fits.empty else None, fit_caption)
    paths += write_table(finals, outdir, "final_error", final_error_display(finals, ci), final_caption)
    if published:
        comparison = published_comparison(frame, reference.load("fqi"), experiment=experiment, ci=ci)
        caption = (f"avi_diff (mean |Q* - Q_k| over the 200 test pairs, averaged over tasks; the same quantity in "
                   f"both) of ours against the published results of D'Eramo et al. (2020; 100 runs, shared width "
                   f"30) at the paper's iterations {', '.join(map(str, PAPER_ITERATIONS))} that our runs reached: "
                   f"means with {ci:.0%} Student-t CIs, the difference with Welch's {ci:.0%} CI and p-value. "
                   f"Task sets the authors did not run are left out.")
        paths += write_table(comparison, outdir, "fqi_vs_published", published_display(comparison, ci), caption)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = analysis_parser("python -m analysis.fqi_tables",
                             "Write the FQI fit, final-error and published-comparison tables (CSV, Markdown, LaTeX).")
    add_published_argument(parser)
    args = parser.parse_args(argv)
    frame = load_any(args.runs)
    return print_paths(make_all(frame, args.outdir, EXPERIMENT, args.n_boot, args.seed, args.ci, args.published))


if __name__ == "__main__":
    raise SystemExit(run(main))
