"""Figure helpers every analysis module shares: atomic PDF/PNG saving, placeholders, the published band.

- :func:`save_figure` writes ``stem.pdf`` and ``stem.png`` atomically (temporary name in the output
  folder, then ``os.replace``); the PDF carries no creation date, so the same data give the same bytes.
- :func:`empty_figure` is a placeholder that says why nothing is drawn, so a workflow that declares the
  file always gets it.
- :func:`draw_published` draws the authors' mean and its confidence band (from their mean, std and number
  of runs, :func:`analysis.vs_published.t_interval`) on an axis that already shows ours: black dashed
  line (or the colour of our curve beside it), grey hatched
  band, labelled :data:`PUBLISHED_LABEL`.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mtrl_bench.results import atomic_write  # noqa: E402

FORMATS = ("pdf", "png")
PUBLISHED_LABEL = "published (D'Eramo et al. 2020)"
PUBLISHED_STYLE = {"color": "black", "linestyle": "--", "linewidth": 1.1}
PUBLISHED_BAND_STYLE = {"facecolor": "0.5", "alpha": 0.15, "hatch": "///", "edgecolor": "0.45", "linewidth": 0}


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
                   colour=None) -> None:
    """The authors' mean (dashed) and band (grey, hatched) at ``steps``; all arrays (points,).

    ``colour``: the line's colour (default black), e.g. the colour of our curve it sits beside.
    ``label`` None leaves it out of the legend (one entry per figure is enough).
    """
    steps, mean = np.asarray(steps, dtype=float), np.asarray(mean, dtype=float)
    style = {**PUBLISHED_STYLE, **({"color": colour} if colour is not None else {})}
    ax.plot(steps, mean, label=label, zorder=1.5, **style)
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    if np.isfinite(low).any():
        ax.fill_between(steps, low, high, zorder=1.2, **PUBLISHED_BAND_STYLE)
