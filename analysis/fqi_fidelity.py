"""Fidelity of our MFQI at the paper's settings: ours beside the published means, iteration by iteration.

With our exact Q* (``avi_diff``) and the authors' stored Q* (``avi_diff_authors_qstar``).

Design notes: docs/analysis.md#fqi-fidelity-table.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis import reference
from analysis.aggregate import load_any, split_failed
from analysis.cli import analysis_parser, run
from analysis.fqi_tables import published_comparison, published_display
from analysis.table_io import write_table

METRICS = {"avi_diff": "exact", "avi_diff_authors_qstar": "authors'"}
"""Our metrics compared with the published avi_diff, and the Q* convention each uses."""
STEM = "fqi_fidelity"


def _fit_steps(frame: pd.DataFrame) -> pd.DataFrame:
    """Median, min and max over seeds of the fit steps per (variants, iteration); the value is per seed."""
    ok, _ = split_failed(frame)
    rows = ok.loc[ok["metric"] == "fit_steps"]
    if rows.empty:
        return pd.DataFrame(columns=["variants", "checkpoint", "fit_steps_median", "fit_steps_min", "fit_steps_max"])
    per_seed = rows.groupby(["variants", "step", "seed"], sort=True)["value"].first().reset_index()
    stats = per_seed.groupby(["variants", "step"], sort=True)["value"].agg(["median", "min", "max"]).reset_index()
    return stats.rename(columns={"step": "checkpoint", "median": "fit_steps_median", "min": "fit_steps_min",
                                 "max": "fit_steps_max"})


def fidelity_table(frame: pd.DataFrame, published: pd.DataFrame | None = None, ci: float = 0.95) -> pd.DataFrame:
    """Ours vs published per task set, iteration reached and Q* convention (see the module docstring).

    Columns: ``q_star`` (exact / authors'), ``metric``, ``width``, ``n_tasks``, ``variants``,
    :data:`analysis.vs_published.COMPARISON_COLUMNS` (checkpoint = iteration) and ``fit_steps_median``,
    ``fit_steps_min``, ``fit_steps_max``. Empty when no task set or iteration matches.
    """
    published = reference.load("fqi") if published is None else published
    theirs = published.loc[published["metric"] == "avi_diff"]
    iterations = sorted({int(s) for s in frame.loc[frame["metric"].isin(list(METRICS)), "step"]})
    parts = []
    for metric, convention in METRICS.items():
        if not (frame["metric"] == metric).any():
            continue
        table = published_comparison(frame, theirs.assign(metric=metric), metric, iterations, ci=ci)
        if not table.empty:
            parts.append(table.assign(q_star=convention))
    steps = _fit_steps(frame)
    if not parts:
        return pd.DataFrame(columns=["q_star", "metric", "width", "n_tasks", "variants", "checkpoint",
                                     *steps.columns[2:]])
    table = pd.concat(parts, ignore_index=True).merge(steps, on=["variants", "checkpoint"], how="left")
    front = ["q_star", "metric", "width", "n_tasks", "variants"]
    table = table[[*front, *[c for c in table.columns if c not in front]]]
    return table.sort_values(["width", "n_tasks", "variants", "checkpoint", "metric"], kind="stable")\
        .reset_index(drop=True)


def fidelity_display(table: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """The table as strings: the comparison cells of :func:`published_display` plus Q* and fit steps."""
    display = published_display(table, ci).drop(columns=["width"])
    display.insert(2, "Q*", table["q_star"].to_numpy())
    display["fit steps median [min, max]"] = [
        "" if pd.isna(m) else f"{m:,.0f} [{lo:,.0f}, {hi:,.0f}]"
        for m, lo, hi in zip(table["fit_steps_median"], table["fit_steps_min"], table["fit_steps_max"])]
    return display


def write(paths: Sequence[str | os.PathLike], outdir: str | os.PathLike, ci: float = 0.95) -> str:
    """Read results files, write ``fqi_fidelity.{csv,md,tex}`` under ``outdir``; return the Markdown table."""
    table = fidelity_table(load_any(paths), ci=ci)
    display = fidelity_display(table, ci)
    caption = (f"avi_diff of our MFQI at the paper's settings against the published results of D'Eramo et al. "
               f"(2020; 100 runs, width 30) at every iteration our runs reached: means with {ci:.0%} Student-t CIs, "
               f"the difference with Welch's {ci:.0%} CI and p-value. Q* exact: our avi_diff; Q* authors': ours "
               f"against Q* as the authors stored it (failure values -1 < Q* < 0 one step too deep), the "
               f"convention of their published numbers.")
    write_table(table, outdir, STEM, display, caption)
    return (Path(outdir) / f"{STEM}.md").read_text()


def main(argv: Sequence[str] | None = None) -> int:
    parser = analysis_parser("python -m analysis.fqi_fidelity",
                             "Ours vs the published MFQI avi_diff at every iteration reached (CSV, Markdown, LaTeX).")
    args = parser.parse_args(argv)
    print(write(args.runs, args.outdir, args.ci))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
