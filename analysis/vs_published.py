"""Ours against the authors' published summaries: Welch's t-test and intervals from (mean, std, n).

A window of evaluation points (:func:`window_summary`) is compared conservatively.

Design notes: docs/analysis.md#welchs-test-from-published-summaries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.table_io import format_number, format_p_value, format_with_ci

COMPARISON_COLUMNS = ["checkpoint", "ours_mean", "ours_lo", "ours_hi", "ours_n", "theirs_mean", "theirs_lo",
                      "theirs_hi", "theirs_n", "diff", "diff_lo", "diff_hi", "t", "df", "p_value"]


@dataclass(frozen=True)
class Welch:
    """Welch's test of mean_a - mean_b: the difference, its ``ci`` interval, t, degrees of freedom, p."""

    diff: float
    low: float
    high: float
    t: float
    df: float
    p_value: float


def t_interval(mean, std, n, ci: float = 0.95):
    """Student-t interval of a mean from its runs' std (ddof 1) and count; NaN where n < 2.

    Arguments broadcast (floats or arrays); returns ``(low, high)`` of the same shape.
    """
    mean, std, n = (np.asarray(x, dtype=float) for x in (mean, std, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(0.5 + ci / 2.0, n - 1.0) * std / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)
    low, high = mean - half, mean + half
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def welch_from_stats(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int,
                     ci: float = 0.95) -> Welch:
    """Welch's t-test and interval for mean_a - mean_b from two (mean, std ddof 1, n) summaries.

    NaN everywhere but ``diff`` when a side has fewer than 2 runs; with no spread on either side the
    interval collapses on ``diff`` and t, p are NaN.
    """
    diff = float(mean_a - mean_b)
    if n_a < 2 or n_b < 2 or not (math.isfinite(std_a) and math.isfinite(std_b)):
        return Welch(diff, math.nan, math.nan, math.nan, math.nan, math.nan)
    var_a, var_b = std_a**2 / n_a, std_b**2 / n_b
    se = math.sqrt(var_a + var_b)
    if se == 0.0:
        return Welch(diff, diff, diff, math.nan, math.nan, math.nan)
    df = (var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    t, p_value = stats.ttest_ind_from_stats(mean_a, std_a, n_a, mean_b, std_b, n_b, equal_var=False)
    half = float(stats.t.ppf(0.5 + ci / 2.0, df)) * se
    return Welch(diff, diff - half, diff + half, float(t), float(df), float(p_value))


def welch_vs_published(values: Sequence[float] | np.ndarray, mean: float, std: float, n: int,
                       ci: float = 0.95) -> Welch:
    """Our per-run values (runs,) against a published (mean, std, n): Welch test of ours - theirs."""
    values = np.asarray(values, dtype=float)
    std_ours = float(values.std(ddof=1)) if values.size > 1 else math.nan
    return welch_from_stats(float(values.mean()), std_ours, int(values.size), float(mean), float(std), int(n), ci)


def window_summary(points: pd.DataFrame) -> tuple[float, float, int]:
    """Published summary of the per-run mean over several evaluation points (rows with mean, std, n_runs).

    Returns (mean of means, mean of stds = an upper bound on the std of the window means, smallest n).
    """
    return float(points["mean"].mean()), float(points["std"].mean()), int(points["n_runs"].min())


def compare(ours: pd.DataFrame, theirs: pd.DataFrame, keys: Sequence[str], ci: float = 0.95) -> pd.DataFrame:
    """Ours against theirs at every (keys, checkpoint) present in both.

    ours: one row per run with columns ``keys + ["checkpoint", "value"]``; theirs: one row per
    (keys, checkpoint) with ``mean, std, n_runs``. A checkpoint missing on either side is left out (never
    extrapolated). Columns: ``keys`` + :data:`COMPARISON_COLUMNS` (ours_* / theirs_*: mean and its
    Student-t ``ci`` interval and number of runs; diff = ours - theirs with Welch's interval, t, df, p).
    """
    keys = list(keys)
    index = [*keys, "checkpoint"]
    published = {tuple(row[c] for c in index): row for row in theirs.to_dict("records")}
    rows = []
    for key, group in ours.groupby(index, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        match = published.get(key)
        if match is None:
            continue
        values = group["value"].to_numpy(dtype=float)
        std_ours = float(values.std(ddof=1)) if values.size > 1 else math.nan
        ours_lo, ours_hi = t_interval(values.mean(), std_ours, values.size, ci)
        theirs_lo, theirs_hi = t_interval(match["mean"], match["std"], match["n_runs"], ci)
        test = welch_vs_published(values, match["mean"], match["std"], match["n_runs"], ci)
        rows.append({**dict(zip(index, key)), "ours_mean": float(values.mean()), "ours_lo": ours_lo,
                     "ours_hi": ours_hi, "ours_n": int(values.size), "theirs_mean": float(match["mean"]),
                     "theirs_lo": theirs_lo, "theirs_hi": theirs_hi, "theirs_n": int(match["n_runs"]),
                     "diff": test.diff, "diff_lo": test.low, "diff_hi": test.high, "t": test.t, "df": test.df,
                     "p_value": test.p_value})
    return pd.DataFrame(rows, columns=[*keys, *COMPARISON_COLUMNS])


def compare_display(table: pd.DataFrame, labels: dict[str, str], ci: float = 0.95) -> pd.DataFrame:
    """The comparison as strings; ``labels`` maps each key column to its header (in order)."""
    level = f"{ci:.0%}"
    rows = []
    for r in table.to_dict("records"):
        row = {header: r[column] for column, header in labels.items()}
        row.update({
            "checkpoint": r["checkpoint"],
            f"ours [{level} CI]": format_with_ci(r["ours_mean"], r["ours_lo"], r["ours_hi"]),
            "n ours": r["ours_n"],
            f"published [{level} CI]": format_with_ci(r["theirs_mean"], r["theirs_lo"], r["theirs_hi"]),
            "n published": r["theirs_n"],
            f"ours - published [{level} CI]": format_with_ci(r["diff"], r["diff_lo"], r["diff_hi"]),
            "Welch p": format_p_value(r["p_value"]),
            "df": format_number(r["df"]),
        })
        rows.append(row)
    return pd.DataFrame(rows)
