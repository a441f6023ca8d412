"""The transfer figure: per held-out task, return per epoch without transfer and for each unfreeze setting.

``transfer_<learner>_<metric>_per_epoch``, drawn by :mod:`analysis.multitask_figures`.

Design notes: docs/analysis.md#the-transfer-figure.
"""

from __future__ import annotations

from collections.abc import Sequence

from analysis import multitask_figures as mf
from analysis.cli import run
from analysis.transfer_tables import learner_cli


def main(argv: Sequence[str] | None = None) -> int:
    return learner_cli(mf.figures_parser, mf.draw_figure, "python -m analysis.transfer_figures",
                       "Transfer: return per epoch per held-out task and unfreeze setting, beside no transfer, the "
                       "published curves and ours shipped (PDF and PNG).", argv)


if __name__ == "__main__":
    raise SystemExit(run(main))
