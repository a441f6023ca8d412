"""Figures of the multi-task FQI experiment (seaborn style, each saved as PDF and PNG).

Each takes the all-runs table of :mod:`analysis.aggregate` and returns the paths it wrote.

Design notes: docs/analysis.md#fqi-figures.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from scipy import stats  # noqa: E402

from analysis import fit, reference  # noqa: E402
from analysis.aggregate import aggregate_seeds, final_values, load_any, run_values, split_failed  # noqa: E402
from analysis.cli import add_published_argument, analysis_parser, print_paths, run  # noqa: E402
from analysis.plotting import (  # noqa: E402
    PUBLISHED_LABEL,
    PUBLISHED_STYLE,
    SHIPPED_STYLE,
    draw_published,
    draw_reference,
    empty_figure,
    failed_note,
    save_figure,
)
from mtrl_bench.random_streams import as_generator  # noqa: E402

EXPERIMENT = "fqi"
PUBLISHED_METRICS = ("avi_diff",)
"""Metrics whose published curves are comparable with ours (the authors' J is not, for T > 1)."""
METRIC_LABELS = {
    "avi_diff": r"$\|Q^* - Q_k\|$ (mean abs., test grid)",
    "approx_error": r"$\|Q_k - \mathcal{T}^* Q_{k-1}\|^2$ (held-out MSE)",
    "J": r"$J^{\pi_k}$ (discounted return from $(-0.5, 0)$)",
}
METRIC_TITLES = {"avi_diff": "Distance to Q*", "approx_error": "Approximation error", "J": "Return J"}


def _label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def _t_palette(n_tasks: Sequence[int]) -> dict[int, tuple]:
    colours = sns.color_palette("viridis", n_colors=max(len(n_tasks), 1))
    return {t: colours[i] for i, t in enumerate(sorted(n_tasks))}


def _width_title(width) -> str:
    return f"shared width {width}"


def _task_set(values: pd.DataFrame, width, n_tasks) -> str | None:
    """Our ``variants`` string of the runs at (width, T), or None when they do not share one."""
    sets = values.loc[(values["width"] == width) & (values["n_tasks"] == n_tasks), "variants"].unique()
    return str(sets[0]) if len(sets) == 1 else None


def _reference_lines(ax: plt.Axes, metric: str, variants: str | None, n_tasks: int, width, last_step: int,
                     ci: float, colour, published: pd.DataFrame | None, shipped: pd.DataFrame | None) -> set[str]:
    """The authors' and our shipped curve of task set ``variants`` up to ``last_step``; the kinds drawn."""
    if variants is None:
        return set()
    drawn = set()
    if published is not None:
        points = reference.curve(published, metric, variants=variants, n_tasks=int(n_tasks))
        if draw_reference(ax, points, last_step, ci, None, colour, "authors", draw_published):
            drawn.add("authors")
    if shipped is not None:
        points = reference.shipped_curve(shipped, metric, width, variants=variants, n_tasks=int(n_tasks))
        if draw_reference(ax, points, last_step, ci, None, colour, "ours", draw_published):
            drawn.add("ours")
    return drawn


def plot_per_iteration(frame: pd.DataFrame, outdir: str | os.PathLike, metric: str = "avi_diff",
                       experiment: str | None = EXPERIMENT, n_boot: int = 2000,
                       rng: np.random.Generator | int | None = 0, ci: float = 0.95,
                       stem: str | None = None, published: pd.DataFrame | None = None,
                       shipped: pd.DataFrame | None = None) -> list[Path]:
    """``metric`` against the FQI iteration: one line per T (IQM over seeds, ``ci`` bootstrap band).

    One panel per shared width; writes ``{stem}.pdf/.png`` (default ``{experiment}_{metric}_per_iteration``).
    ``published``: the authors' summaries (:func:`analysis.reference.load`); a line whose task set they
    ran gets their mean and ``ci`` band beside it, up to our last iteration; ``shipped``: ours at the paper's
    protocol (:func:`analysis.reference.load_shipped`), likewise (dotted). None leaves a reference out.
    """
    stem = stem or f"{experiment or 'all'}_{metric}_per_iteration"
    ok, failed = split_failed(frame, experiment)
    values = run_values(ok, metric)
    if values.empty:
        return save_figure(empty_figure(f"no '{metric}' rows in the results"), outdir, stem)
    summary = aggregate_seeds(values, ["width", "n_tasks", "step"], n_boot=n_boot, rng=rng, ci=ci)
    widths = sorted(summary["width"].unique())
    palette = _t_palette(summary["n_tasks"].unique())
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(widths), figsize=(4.2 * len(widths), 3.4), sharey=True, squeeze=False)
    drawn: set[str] = set()
    for ax, width in zip(axes[0], widths, strict=True):
        panel = summary.loc[summary["width"] == width]
        for n_tasks, line in panel.groupby("n_tasks", sort=True):
            colour = palette[n_tasks]
            n_seeds = int(line["n_seeds"].min())
            label = f"T = {n_tasks}  ({n_seeds} seeds)"
            ax.plot(line["step"], line["iqm"], color=colour, lw=1.6, label=label)
            if line["iqm_lo"].notna().any():
                ax.fill_between(line["step"], line["iqm_lo"], line["iqm_hi"], color=colour, alpha=0.2, lw=0)
            if metric in PUBLISHED_METRICS:
                drawn |= _reference_lines(ax, metric, _task_set(values, width, n_tasks), n_tasks, width,
                                          int(line["step"].max()), ci, colour, published, shipped)
        ax.set_title(_width_title(width))
        ax.set_xlabel("FQI iteration k")
        ax.set_ylabel(_label(metric) if ax is axes[0, 0] else "")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    legend_title = f"tasks (IQM, {ci:.0%} CI)"
    # Every panel's T lines in one legend, plus one neutral entry for the dashed published curves.
    entries = {}
    for ax in axes[0]:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(text, handle)
    if "authors" in drawn:
        entries[f"{PUBLISHED_LABEL}:\nsame T, mean, {ci:.0%} t-band"] = Line2D([], [], **PUBLISHED_STYLE)
    if "ours" in drawn:
        n_seeds = int(shipped.loc[shipped["metric"] == metric, "n_runs"].min())
        entries[f"ours, paper protocol, {n_seeds} seeds:\nsame T, mean, {ci:.0%} t-band"] = Line2D(
            [], [], **SHIPPED_STYLE)
    axes[0, -1].legend(entries.values(), entries.keys(), title=legend_title, fontsize=8, title_fontsize=8,
                       frameon=True)
    fig.suptitle(f"Multi-task FQI: {METRIC_TITLES.get(metric, metric)} per iteration", y=1.02)
    failed_note(fig, len(failed))
    fig.tight_layout()
    return save_figure(fig, outdir, stem)


def _mean_interval(values: np.ndarray, ci: float) -> tuple[float, float]:
    """Seed mean and the half-width of its Student-t interval (NaN for one seed)."""
    if values.size < 2:
        return float(values.mean()), math.nan
    sem = values.std(ddof=1) / math.sqrt(values.size)
    return float(values.mean()), float(stats.t.ppf(0.5 + ci / 2, values.size - 1) * sem)


def _fit_panel(ax: plt.Axes, seeds: pd.DataFrame, model: str, n_boot: int, rng: np.random.Generator,
               ci: float, colour) -> None:
    """Runs, seed means with CIs and the fitted curve with its band, for one metric and width."""
    t_values = np.sort(seeds["n_tasks"].unique()).astype(float)
    jitter = rng.uniform(-0.06, 0.06, size=len(seeds))
    ax.scatter(seeds["n_tasks"] * 2.0**jitter, seeds["value"], s=8, color="0.55", alpha=0.45, lw=0,
               label="runs", zorder=2)
    points = [_mean_interval(seeds.loc[seeds["n_tasks"] == t, "value"].to_numpy(float), ci) for t in t_values]
    means = np.array([p[0] for p in points])
    half = np.array([p[1] for p in points])
    ax.errorbar(t_values, means, yerr=np.where(np.isfinite(half), half, 0.0), fmt="o", color="black", ms=4,
                capsize=3, lw=1.2, label=f"seed mean ± {ci:.0%} CI", zorder=4)
    spec = fit.MODELS[model]
    result = fit.fit_all_models(seeds[["n_tasks", "seed", "value"]], models=[model]).iloc[0]
    if t_values.size == 1:
        # One T: nothing to fit; widen the axes around the single column of points.
        ax.set_xlim(t_values[0] / 2, t_values[0] * 2)
        low, high = seeds["value"].min(), seeds["value"].max()
        pad = 0.05 * (abs(high) or 1.0) if high - low < 1e-12 * (abs(high) or 1.0) else 0.1 * (high - low)
        ax.set_ylim(low - pad, high + pad)
    if not math.isfinite(result["a"]):
        ax.text(0.5, 0.95, f"no fit: needs >= {spec.min_distinct_t} distinct T", transform=ax.transAxes,
                ha="center", va="top", fontsize=8)
        return
    grid = np.geomspace(t_values.min(), t_values.max(), 120)
    ax.plot(grid, fit.predict(model, grid, result["a"], result["b"], result["alpha"]), color=colour, lw=1.8,
            label=f"fit {spec.formula.replace('sqrt(T)', '√T')}", zorder=3)
    boot = fit.bootstrap_fits(seeds[["n_tasks", "seed", "value"]], model, n_boot=n_boot, rng=rng)
    if n_boot > 0 and (seeds.groupby("n_tasks").size() >= 2).any():
        low, high = fit.curve_band(boot, model, grid, ci)
        ax.fill_between(grid, low, high, color=colour, alpha=0.2, lw=0, label=f"fit {ci:.0%} band")
    rivals = fit.fit_all_models(seeds[["n_tasks", "seed", "value"]])
    preferred = rivals.loc[rivals["preferred"], "formula"]
    by_aic = rivals["note"].str.contains("chosen by AIC").any()
    winner = "a constant" if len(preferred) and preferred.iloc[0] == "a" else "".join(preferred.head(1))
    verdict = (f"\n{'AIC' if by_aic else 'AICc'} prefers {winner.replace('sqrt(T)', '√T')}"
               if len(preferred) else "\ntoo few T for a model choice")
    ax.text(0.97, 0.95, f"a = {result['a']:.3g}, b = {result['b']:.3g}{verdict}", transform=ax.transAxes,
            ha="right", va="top", fontsize=7.5, bbox={"boxstyle": "round", "fc": "white", "ec": "0.8"})


def plot_final_vs_tasks(frame: pd.DataFrame, outdir: str | os.PathLike,
                        metrics: Sequence[str] = ("avi_diff", "approx_error"), model: str = "inv_sqrt",
                        experiment: str | None = "fqi", n_boot: int = 2000,
                        rng: np.random.Generator | int | None = 0, ci: float = 0.95,
                        stem: str | None = None) -> list[Path]:
    """Final-iteration error against T: one row of panels per metric, one column per width.

    Writes ``{stem}.pdf/.png`` (default ``{experiment}_final_error_vs_T``).
    """
    stem = stem or f"{experiment or 'all'}_final_error_vs_T"
    rng = as_generator(rng)
    ok, failed = split_failed(frame, experiment)
    finals = {metric: final_values(ok, metric) for metric in metrics}
    present = [m for m in metrics if not finals[m].empty]
    if not present:
        return save_figure(empty_figure(f"none of {list(metrics)} in the results"), outdir, stem)
    widths = sorted(pd.concat([finals[m]["width"] for m in present]).unique())
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(len(present), len(widths), figsize=(4.2 * len(widths), 3.3 * len(present)),
                             squeeze=False, sharex=True)
    colours = sns.color_palette("deep")
    for row, metric in enumerate(present):
        for col, width in enumerate(widths):
            ax = axes[row, col]
            seeds = finals[metric].loc[finals[metric]["width"] == width]
            if seeds.empty:
                ax.text(0.5, 0.5, "no runs", transform=ax.transAxes, ha="center")
                continue
            _fit_panel(ax, seeds, model, n_boot, rng, ci, colours[row % len(colours)])
            t_values = np.sort(seeds["n_tasks"].unique())
            ax.set_xscale("log", base=2)
            ax.set_xticks(t_values, [str(int(t)) for t in t_values])
            ax.minorticks_off()
            step = int(seeds["step"].max())
            ax.set_title(f"{METRIC_TITLES.get(metric, metric)}, {_width_title(width)}, iteration {step}",
                         fontsize=9)
            ax.set_ylabel(_label(metric) if col == 0 else "")
            ax.set_xlabel("number of tasks T" if row == len(present) - 1 else "")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.suptitle("Multi-task FQI: final-iteration error against the number of tasks T", y=1.01)
    failed_note(fig, len(failed))
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(labels), fontsize=8,
               frameon=False)
    return save_figure(fig, outdir, stem)


def make_all(frame: pd.DataFrame, outdir: str | os.PathLike, experiment: str = EXPERIMENT, n_boot: int = 2000,
             seed: int = 0, ci: float = 0.95, published: bool = True, shipped: bool = True) -> list[Path]:
    """The three FQI figures; each draws from its own generator seeded by ``seed``.

    ``published``: draw the authors' avi_diff curves beside ours (:mod:`analysis.reference`); ``shipped``:
    draw ours at the paper's protocol too, when ``analysis/reference/ours/fqi.csv`` exists.
    """
    authors = reference.load("fqi") if published else None
    ours = reference.load_shipped("fqi") if shipped else None
    paths = plot_per_iteration(frame, outdir, "avi_diff", experiment, n_boot, seed, ci, published=authors,
                               shipped=ours)
    paths += plot_final_vs_tasks(frame, outdir, experiment=experiment, n_boot=n_boot, rng=seed, ci=ci)
    paths += plot_per_iteration(frame, outdir, "J", experiment, n_boot, seed, ci)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = analysis_parser("python -m analysis.fqi_figures",
                             "Draw the FQI figures (PDF and PNG) from results files or an all-runs table.")
    add_published_argument(parser)
    args = parser.parse_args(argv)
    paths = make_all(load_any(args.runs), args.outdir, EXPERIMENT, args.n_boot, args.seed, args.ci, args.published,
                     args.shipped)
    return print_paths(paths)


if __name__ == "__main__":
    raise SystemExit(run(main))
