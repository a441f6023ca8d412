"""Figure helpers every analysis module shares: atomic PDF/PNG saving, placeholders, the published band.

:func:`save_figure`, :func:`empty_figure`, :func:`draw_reference` (the one reference-curve drawer).

Design notes: docs/analysis.md#figure-helpers.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.vs_published import t_interval  # noqa: E402
from mtrl_bench.results import atomic_write  # noqa: E402

FORMATS = ("pdf", "png")
PUBLISHED_LABEL = "published (authors)"
PUBLISHED_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1.1}
PUBLISHED_BAND_STYLE = {"facecolor": "0.5", "alpha": 0.15, "hatch": "///", "edgecolor": "0.45", "linewidth": 0}
SHIPPED_STYLE = {"color": "black", "linestyle": ":", "linewidth": 1.5}
SHIPPED_BAND_STYLE = {"facecolor": "0.3", "alpha": 0.10, "hatch": "...", "edgecolor": "0.5", "linewidth": 0}
STYLES = {"authors": (PUBLISHED_STYLE, PUBLISHED_BAND_STYLE), "ours": (SHIPPED_STYLE, SHIPPED_BAND_STYLE)}
"""Line and band style per kind of reference: the authors' published curve, ours shipped."""


def save_figure(fig: plt.Figure, outdir: str | os.PathLike, stem: str) -> list[Path]:
    """Save ``fig`` as ``outdir/stem.pdf`` and ``.png`` atomically; close it; return the paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in FORMATS:
        path = outdir / f"{stem}.{fmt}"
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        # atomic_write: a temporary file renamed into place, a regular file with the umask's mode.
        paths.append(atomic_write(path, lambda handle, fmt=fmt, metadata=metadata: fig.savefig(
            handle, format=fmt, dpi=150, bbox_inches="tight", metadata=metadata), binary=True))
    plt.close(fig)
    return paths


def empty_figure(message: str) -> plt.Figure:
    """A small figure that only says ``message``."""
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_axis_off()
    return fig


def failed_note(fig: plt.Figure, n_failed: int) -> None:
    """A grey note in the bottom-right corner counting the failed runs left out."""
    if n_failed:
        fig.text(0.99, 0.005, f"{n_failed} failed run(s) excluded", ha="right", va="bottom", fontsize=8,
                 color="0.4")


def draw_published(ax: plt.Axes, steps, mean, low, high, label: str | None = PUBLISHED_LABEL,
                   colour=None, kind: str = "authors") -> None:
    """A reference mean (dashed for the authors', dotted for ours shipped) and its band at ``steps``; all
    arrays (points,).

    ``colour``: the line's colour (default black), e.g. the colour of our curve it sits beside.
    ``label`` None leaves it out of the legend (one entry per figure is enough).
    """
    line_style, band_style = STYLES[kind]
    steps, mean = np.asarray(steps, dtype=float), np.asarray(mean, dtype=float)
    style = {**line_style, **({"color": colour} if colour is not None else {})}
    ax.plot(steps, mean, label=label, zorder=1.5, **style)
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    if np.isfinite(low).any():
        ax.fill_between(steps, low, high, zorder=1.2, **band_style)


def shipped_label(points: pd.DataFrame, width=None) -> str:
    """"ours, paper protocol, n seeds" for a shipped curve (points with n_runs and width); its width
    is named when it is not the panel's ``width``."""
    if points.empty:
        return "ours, paper protocol"
    text = f"ours, paper protocol, {int(points['n_runs'].min())} seeds"
    shipped_width = points["width"].iloc[0] if "width" in points.columns else width
    return text + (f", width {shipped_width}" if width is not None and shipped_width != width else "")


def draw_reference(ax: plt.Axes, points: pd.DataFrame, last_step: float, ci: float, label: str | None,
                   colour=None, kind: str = "authors", draw=draw_published) -> bool:
    """A reference curve beside ours, up to ``last_step``, with its Student-t ``ci`` band; False when it has
    no point there.

    ``points``: columns step, mean, std (ddof 1), n_runs (:func:`analysis.reference.curve`,
    :func:`analysis.reference.shipped_curve`). ``kind``: ``"authors"`` or ``"ours"`` (:data:`STYLES`).
    ``draw``: the drawing function (default :func:`draw_published`; a caller may pass its own).
    """
    points = points.loc[points["step"] <= last_step]
    if points.empty:
        return False
    low, high = t_interval(points["mean"], points["std"], points["n_runs"], ci)
    draw(ax, points["step"], points["mean"], low, high, label=label, colour=colour, kind=kind)
    return True
