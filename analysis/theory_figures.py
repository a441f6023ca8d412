"""Figures where the paper's bounds meet measurements (seaborn, each saved as PDF and PNG).

CLI (:mod:`analysis.cli`): ``testbed``, ``fqi-bound``.

Design notes: docs/theory.md#the-bound-figures.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis import fit  # noqa: E402
from analysis.aggregate import stratified_bootstrap_ci  # noqa: E402
from analysis.cli import add_subcommand, print_paths, run  # noqa: E402
from analysis.plotting import save_figure  # noqa: E402
from analysis.theory_tables import (  # noqa: E402
    BOUND_TERMS,
    add_bound_arguments,
    fqi_bound_comparison,
    load_tables,
    testbed_bound_terms,
    testbed_seed_table,
)
from mtrl_bench.errors import ConfigError  # noqa: E402
from mtrl_bench.results import read_results  # noqa: E402

TERM_LABELS = {
    "input_maps": "A: input maps",
    "shared_representation": "B: shared h",
    "shared_offset": "C: offset of H",
    "heads": "D: heads",
    "confidence": "E: confidence",
    "total": "Theorem 3 total",
}
FIT_MODEL = "inv_sqrt"


def plot_testbed(
    seed_table: pd.DataFrame, bound_terms: pd.DataFrame | None, outdir: str | Path, n_boot: int = 2000,
    seed: int = 0, stem: str = "testbed_excess_risk_vs_T", ci: float = 0.95,
) -> list[Path]:
    """Excess risk vs T per (algorithm, width) with the a + b/sqrt(T) fit and the bound's terms.

    seed_table: from :func:`analysis.theory_tables.testbed_seed_table`; bound_terms: from
    :func:`analysis.theory_tables.testbed_bound_terms` (drawn on the task-input-map panels) or None.
    """
    sns.set_theme(style="whitegrid", context="paper")
    panels = seed_table[["algorithm", "width"]].drop_duplicates().sort_values(["algorithm", "width"])
    algorithms = list(dict.fromkeys(panels["algorithm"]))
    widths = sorted(panels["width"].unique())
    fig, axes = plt.subplots(len(algorithms), len(widths), figsize=(4.2 * len(widths), 3.4 * len(algorithms)),
                             squeeze=False, sharex=True)
    palette = sns.color_palette("colorblind", len(BOUND_TERMS))
    fits = fit.fit_table(seed_table, models=[FIT_MODEL], by=["algorithm", "width"], n_boot=n_boot, rng=seed, ci=ci)
    for row, algorithm in enumerate(algorithms):
        for column, width in enumerate(widths):
            ax = axes[row][column]
            runs = seed_table[(seed_table["algorithm"] == algorithm) & (seed_table["width"] == width)]
            if runs.empty:
                ax.set_visible(False)
                continue
            _draw_measured(ax, runs, fits, algorithm, width, n_boot, seed, ci)
            if bound_terms is not None and algorithm == "erm-task-input-maps":
                terms = bound_terms[bound_terms["width"] == width].sort_values("n_tasks")
                for colour, term in zip(palette, BOUND_TERMS, strict=True):
                    if (terms[term] > 0).any():
                        ax.plot(terms["n_tasks"], terms[term], "--", color=colour, lw=1.2, label=TERM_LABELS[term])
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{algorithm}, width {width}")
            ax.set_xlabel("number of tasks T")
            ax.set_ylabel("excess risk (squared target units)")
            ax.legend(fontsize=5, loc="upper right", framealpha=0.6)
    fig.suptitle("Testbed: measured excess risk, fitted a + b/sqrt(T), and Theorem 3's terms (c_i = 1)")
    fig.tight_layout()
    return save_figure(fig, outdir, stem)


def _draw_measured(ax, runs: pd.DataFrame, fits: pd.DataFrame, algorithm: str, width: int, n_boot: int,
                   seed: int, ci: float = 0.95) -> None:
    summary = fit.seed_means(runs[["n_tasks", "seed", "value"]])
    positive = runs[runs["value"] > 0]
    ax.scatter(positive["n_tasks"], positive["value"], s=8, color="0.6", alpha=0.6, label="runs")
    ax.errorbar(summary["n_tasks"], summary["mean"], yerr=summary["sem"], fmt="o", color="k", ms=4,
                capsize=2, label="seed mean ± SEM")
    row = fits[(fits["algorithm"] == algorithm) & (fits["width"] == width) & (fits["model"] == FIT_MODEL)]
    if row.empty or not np.isfinite(row["a"].iloc[0]):
        return
    grid = np.geomspace(summary["n_tasks"].min(), summary["n_tasks"].max(), 100)
    a, b = float(row["a"].iloc[0]), float(row["b"].iloc[0])
    label = f"a + b/√T, â = {a:.3g}, {ci:.0%} CI [{row['a_lo'].iloc[0]:.3g}, {row['a_hi'].iloc[0]:.3g}]"
    ax.plot(grid, fit.predict(FIT_MODEL, grid, a, b), color="C3", lw=1.5, label=label)
    if n_boot > 0:
        boot = fit.bootstrap_fits(runs[["n_tasks", "seed", "value"]], FIT_MODEL, n_boot=n_boot, rng=seed)
        low, high = fit.curve_band(boot, FIT_MODEL, grid, ci)
        ax.fill_between(grid, low, high, color="C3", alpha=0.2, lw=0)


def _mean_bars(runs: pd.DataFrame, column: str, n_boot: int, rng: np.random.Generator, ci: float) -> pd.DataFrame:
    """Per T: the seed mean of ``column`` and the distances to its bootstrap interval (NaN-free, for errorbar)."""
    rows = []
    for n_tasks, group in runs.groupby("n_tasks", sort=True):
        mean, low, high = stratified_bootstrap_ci(group[column].to_numpy(float), n_boot, rng, ci, statistic="mean")
        rows.append({"n_tasks": n_tasks, "mean": mean, "below": mean - low if np.isfinite(low) else 0.0,
                     "above": high - mean if np.isfinite(high) else 0.0})
    return pd.DataFrame(rows)


def plot_fqi_bound(comparison: pd.DataFrame, outdir: str | Path, concentrability: float = 1.0,
                   stem: str = "fqi_avi_bound_vs_T", n_boot: int = 2000, seed: int = 0,
                   ci: float = 0.95) -> list[Path]:
    """AVI bound (from measured approx_error) vs measured avi_diff at the last iteration, per width.

    comparison: from :func:`analysis.theory_tables.fqi_bound_comparison`. Seed means carry ``ci``
    bootstrap intervals (``n_boot`` resamples of the seeds).
    """
    rng = np.random.default_rng(seed)
    sns.set_theme(style="whitegrid", context="paper")
    widths = sorted(comparison["width"].unique())
    fig, axes = plt.subplots(1, len(widths), figsize=(4.4 * len(widths), 3.4), squeeze=False)
    for ax, width in zip(axes[0], widths, strict=True):
        runs = comparison[comparison["width"] == width]
        tails = runs.groupby("n_tasks")["tail_term"].mean().reset_index()
        measured = _mean_bars(runs, "measured_avi_diff", n_boot, rng, ci)
        bound = _mean_bars(runs, "bound", n_boot, rng, ci)
        ax.scatter(runs["n_tasks"], runs["measured_avi_diff"], s=8, color="0.6", alpha=0.6)
        ax.errorbar(measured["n_tasks"], measured["mean"], yerr=[measured["below"], measured["above"]], fmt="o-",
                    color="k", capsize=2, label=r"measured $\|Q^*-Q_K\|_{1,\rho}$ (avi_diff)")
        ax.scatter(runs["n_tasks"], runs["bound"], s=8, color="C0", alpha=0.4)
        ax.errorbar(bound["n_tasks"], bound["mean"], yerr=[bound["below"], bound["above"]], fmt="s-", color="C0",
                    capsize=2, label=f"Theorem 2 bound (c = {concentrability:g})")
        ax.plot(tails["n_tasks"], tails["tail_term"], ":", color="C1", label=r"its $\gamma^K R_{max}$ term")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("number of tasks T")
        ax.set_ylabel("task-averaged error (value units)")
        ax.set_title(f"MFQI, width {width}")
        ax.legend(fontsize=6)
    fig.suptitle(f"AVI bound from measured approximation errors vs measured distance to Q* (seed means, {ci:.0%} CI)")
    fig.tight_layout()
    return save_figure(fig, outdir, stem)


def _testbed_n_samples(paths: Sequence[str]) -> int:
    """n (samples per task) from the first testbed results file's provenance."""
    for path in paths:
        try:
            _, prov = read_results(path)
        except ValueError:
            continue
        config = prov.get("config", {})
        if "n_samples" in config:
            return int(config["n_samples"])
    raise ConfigError("cannot find n_samples in the provenance of --runs: pass --n-samples")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.theory_figures", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="figure", required=True)
    testbed_parser = add_subcommand(commands, "testbed", "excess risk vs T with fit and Theorem 3 terms")
    testbed_parser.add_argument("--metric", default="excess_risk")
    testbed_parser.add_argument("--n-samples", type=int, default=None, help="n (default: from provenance)")
    testbed_parser.add_argument("--delta", type=float, default=0.05)
    add_bound_arguments(add_subcommand(commands, "fqi-bound", "AVI bound vs measured avi_diff per T"))
    args = parser.parse_args(argv)
    frame = load_tables(args.runs)
    if args.figure == "testbed":
        n_samples = args.n_samples or _testbed_n_samples(args.runs)
        seed_table = testbed_seed_table(frame, args.metric)
        has_plug_ins = ((frame["experiment"] == "testbed") & (frame["task"] == "all")).any()
        terms = testbed_bound_terms(frame, n_samples, args.delta) if has_plug_ins else None
        paths = plot_testbed(seed_table, terms, args.outdir, args.n_boot, args.seed, ci=args.ci)
    else:
        comparison = fqi_bound_comparison(frame, args.concentrability, args.gamma, args.rmax)
        paths = plot_fqi_bound(comparison, args.outdir, args.concentrability, n_boot=args.n_boot, seed=args.seed,
                               ci=args.ci)
    return print_paths(paths, "theory_figures: wrote ")


if __name__ == "__main__":
    raise SystemExit(run(main))
