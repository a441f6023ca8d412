"""Figures of the ablations (beyond the paper), from the tables of :mod:`analysis.ablation_tables`.

Reading them: docs/experiments.md#ablations-where-sharing-stops-helping-beyond-the-paper.

Design notes: docs/analysis.md#ablation-figures.
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

from analysis import ablation_tables as tables  # noqa: E402
from analysis import fit  # noqa: E402
from analysis.cli import add_subcommand, print_paths  # noqa: E402
from analysis.cli import run as run_cli  # noqa: E402
from analysis.plotting import save_figure  # noqa: E402
from analysis.theory_tables import BOUND_TERMS, load_tables  # noqa: E402


def _band(ax, x, mean, low, high, colour, label, marker="o") -> None:
    ax.plot(x, mean, marker=marker, ms=3.5, color=colour, label=label)
    if np.isfinite(low).any():
        ax.fill_between(x, low, high, color=colour, alpha=0.18, lw=0)


def plot_gain(summary: pd.DataFrame, breaking: pd.DataFrame, outdir: str | Path, stem: str, xlabel: str,
              ylabel: str) -> list[Path]:
    """Gain vs dissimilarity per T, with breaking points; panels per (algorithm, width)."""
    panels = summary[["algorithm", "width"]].drop_duplicates().sort_values(["algorithm", "width"]).to_numpy()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.4), squeeze=False)
    counts = sorted(summary["n_tasks"].unique())
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(counts)))
    for ax, (algorithm, width) in zip(axes[0], panels, strict=True):
        for colour, n_tasks in zip(colours, counts, strict=True):
            curve = summary[(summary["algorithm"] == algorithm) & (summary["width"] == width)
                            & (summary["n_tasks"] == n_tasks)].sort_values("sweep")
            if curve.empty:
                continue
            _band(ax, curve["sweep"], curve["gain"], curve["gain_lo"], curve["gain_hi"], colour, f"T = {n_tasks}")
            point = breaking[(breaking["algorithm"] == algorithm) & (breaking["width"] == width)
                             & (breaking["n_tasks"] == n_tasks)]
            if len(point) and np.isfinite(point["crossing"].iloc[0]):
                ax.axvline(point["crossing"].iloc[0], color=colour, ls=":", lw=1.2)
                low, high = point["crossing_lo"].iloc[0], point["crossing_hi"].iloc[0]
                if np.isfinite(low):
                    right = high if np.isfinite(high) else curve["sweep"].max()
                    ax.axvspan(low, right, color=colour, alpha=0.08, lw=0)
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_title(f"{algorithm}, width {width}", fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    fig.suptitle("Multi-task gain (single - multi; > 0 sharing helps) and breaking points (dotted, CI shaded)",
                 fontsize=9)
    fig.tight_layout()
    return save_figure(fig, outdir, stem)


def plot_similarity_theory(bound: pd.DataFrame, outdir: str | Path, stem: str = "ablation_similarity_theory"
                           ) -> list[Path]:
    """Measured excess risk vs T beside Theorem 3's terms, one panel per (dissimilarity, width)."""
    panels = bound[["dissimilarity", "width"]].drop_duplicates().sort_values(["width", "dissimilarity"]).to_numpy()
    columns = min(4, len(panels))
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns, 3.0 * rows), squeeze=False, sharey=True)
    axes = axes.ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    colours = plt.get_cmap("tab10")(np.arange(len(BOUND_TERMS)))
    for ax, (dissimilarity, width) in zip(axes, panels):
        part = bound[(bound["dissimilarity"] == dissimilarity) & (bound["width"] == width)].sort_values("n_tasks")
        ax.plot(part["n_tasks"], part["measured_excess_risk"], "o-", color="k", label="measured excess risk")
        for colour, term in zip(colours, BOUND_TERMS, strict=True):
            if (part[term] > 0).any():
                ax.plot(part["n_tasks"], part[term], "--", color=colour, lw=1.1, label=term.replace("_", " "))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"dissimilarity {dissimilarity:g}, width {int(width)}", fontsize=8)
        ax.set_xlabel("number of tasks T")
        ax.set_ylabel("squared target units")
    axes[0].legend(fontsize=5, loc="upper right")
    fig.suptitle("Theorem 3's terms (c_i = 1; shape in T, not level) beside the measured excess risk", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, outdir, stem)


def plot_depth(table: pd.DataFrame, fits: pd.DataFrame, outdir: str | Path, stem: str = "ablation_depth_vs_T"
               ) -> list[Path]:
    """Excess risk vs T per split with CI bars and the a + b/sqrt(T) fit."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    splits = sorted(table["split"].unique())
    colours = plt.get_cmap("tab10")(np.arange(len(splits)))
    for colour, split in zip(colours, splits, strict=True):
        part = table[table["split"] == split].sort_values("n_tasks")
        widths = "/".join(str(w) for w in part["width"].unique())
        _band(ax, part["n_tasks"], part["excess_risk"], part["excess_risk_lo"], part["excess_risk_hi"], colour,
              f"{split} (J = {widths})")
        row = fits[(fits["split"] == split) & (fits["model"] == "inv_sqrt")]
        if len(row) and np.isfinite(row["a"].iloc[0]):
            grid = np.geomspace(part["n_tasks"].min(), part["n_tasks"].max(), 60)
            ax.plot(grid, fit.predict("inv_sqrt", grid, float(row["a"].iloc[0]), float(row["b"].iloc[0])),
                    color=colour, ls="--", lw=0.9)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("number of tasks T")
    ax.set_ylabel("excess risk (squared target units)")
    ax.set_title("Shared depth: t = task-specific, s = shared hidden layer (input side first)", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, outdir, stem)


def plot_imbalance(table: pd.DataFrame, outdir: str | Path, stem: str = "ablation_imbalance") -> list[Path]:
    """Excess risk vs rho, small task and others, single (black) vs multi-task per T; panels per learner."""
    learners = table[["algorithm", "width"]].drop_duplicates().sort_values(["algorithm", "width"]).to_numpy()
    fig, axes = plt.subplots(len(learners), 2, figsize=(8.4, 3.2 * len(learners)), squeeze=False)
    counts = sorted(table["n_tasks"].unique())
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, len(counts)))
    for row, (algorithm, width) in enumerate(learners):
        for column, group in enumerate(("small", "others")):
            ax = axes[row][column]
            part = table[(table["algorithm"] == algorithm) & (table["width"] == width) & (table["group"] == group)]
            if group == "small":  # task 0 alone: the same for every T
                single = part[part["n_tasks"] == counts[0]].sort_values("rho")
                _band(ax, single["rho"], single["single"], single["single_lo"], single["single_hi"], "k",
                      "single-task", marker="s")
            for colour, n_tasks in zip(colours, counts, strict=True):
                curve = part[part["n_tasks"] == n_tasks].sort_values("rho")
                _band(ax, curve["rho"], curve["multi"], curve["multi_lo"], curve["multi_hi"], colour,
                      f"multi-task, T = {n_tasks}")
                if group == "others":  # tasks 1..T-1 alone, dashed in the T's colour
                    ax.plot(curve["rho"], curve["single"], ls="--", marker="s", ms=3, color=colour,
                            label=f"single-task, the same {n_tasks - 1} tasks")
            ax.set_xscale("log")
            ax.set_xlabel("rho (small task's share of the others' samples)")
            ax.set_ylabel("excess risk")
            name = "small task (task 0)" if group == "small" else "tasks 1..T-1 beside it"
            ax.set_title(f"{name}: {algorithm}, "
                         f"width {width}", fontsize=8)
            ax.legend(fontsize=6)
    fig.tight_layout()
    return save_figure(fig, outdir, stem)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.ablation_figures", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="study", required=True)
    sim = add_subcommand(commands, "similarity", "testbed: gain vs dissimilarity; Theorem 3's terms vs T")
    sim.add_argument("--n-samples", type=int, default=None, help="training samples per task (default: provenance)")
    add_subcommand(commands, "coh-similarity", "Car-On-Hill: MFQI gain vs task spread")
    add_subcommand(commands, "depth", "error vs T per layer split")
    add_subcommand(commands, "imbalance", "small task and others vs rho")
    args = parser.parse_args(argv)
    frame = load_tables(args.runs)
    paths: list[Path] = []
    if args.study in ("similarity", "coh-similarity"):
        experiment = args.study.replace("-", "_")
        gains = tables.paired_gains(tables.final_errors(frame, experiment))
        summary = tables.gain_summary(gains, args.n_boot, args.seed, args.ci)
        breaking = tables.breaking_points(gains, summary, args.n_boot, args.seed, args.ci)
        if experiment == "similarity":
            paths += plot_gain(summary, breaking, args.outdir, "ablation_similarity_gain", "dissimilarity "
                               "(share of each target not common to all tasks)", "gain in excess risk")
            n_samples = args.n_samples or tables._n_samples(args.runs)
            paths += plot_similarity_theory(tables.similarity_bound(frame, n_samples, summary), args.outdir)
        else:
            axis = str(summary["variants"].iloc[0]).split("_spread")[0]
            paths += plot_gain(summary, breaking, args.outdir, "ablation_coh_similarity_gain",
                               f"spread d of the tasks' {'a/m' if axis == 'force' else 'gravity'} "
                               "(relative half-range)", "gain in final avi_diff")
    elif args.study == "depth":
        paths += plot_depth(*tables.depth_tables(frame, args.n_boot, args.seed, args.ci), args.outdir)
    else:
        paths += plot_imbalance(tables.imbalance_table(frame, args.n_boot, args.seed, args.ci), args.outdir)
    return print_paths(paths)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
