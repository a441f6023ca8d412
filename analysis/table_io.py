"""Table helpers every analysis module shares: CSV + Markdown + LaTeX writing and number formatting.

A table is written three times from two frames: ``stem.csv`` from the full-precision frame (one column
per number), ``stem.md`` and ``stem.tex`` from a display frame of strings ("0.152 [0.148, 0.157]",
4 significant digits). Writes are atomic (:func:`mtrl_bench.results.atomic_write_text`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from mtrl_bench.results import atomic_write_text


def format_number(value: float | None) -> str:
    """``value`` with 4 significant digits; empty for None or NaN, ``inf``/``-inf`` for infinities."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


def format_with_ci(value: float, low: float, high: float) -> str:
    """``value [low, high]`` with 4 significant digits; the interval is left out when not finite."""
    if value is None or not math.isfinite(value):
        return ""
    if not (math.isfinite(low) and math.isfinite(high)):
        return format_number(value)
    return f"{format_number(value)} [{format_number(low)}, {format_number(high)}]"


def format_p_value(p: float) -> str:
    """A p-value with 2 significant digits, or ``<1e-04`` below that."""
    if p is None or not math.isfinite(p):
        return ""
    return "<1e-04" if p < 1e-4 else f"{p:.2g}"


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
