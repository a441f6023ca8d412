"""The transfer figure: per held-out task, return per epoch without transfer and for each unfreeze setting.

Drawn by :mod:`analysis.multitask_figures` for :func:`analysis.transfer_tables.study` ``(learner)``: one
panel per target task (columns) and shared width (rows); in each, one line per setting (no transfer = the
learner experiment's single-task runs of that task, blue; then unfrozen at epoch N, frozen throughout):
the interquartile mean over seeds at each epoch with its ``ci`` stratified-bootstrap band. Epoch 0 is the
policy after the shared layers were loaded. Failed (diverged) runs are left out and counted in a note.
The authors' published curves of the same setting and task (:mod:`analysis.reference`; their runs loaded
the online network only, their "never" stands for our frozen) are drawn dashed in the colour of ours, and
our shipped paper-protocol curves (``analysis/reference/ours/<learner>_transfer.csv``, when present)
dotted, over the epochs our runs reached. Saved as ``transfer_<learner>_<metric>_per_epoch.{pdf,png}``;
with no transfer rows the figure says so.

CLI (:mod:`analysis.cli`)::

    python -m analysis.transfer_figures --runs results/tables/all_runs_transfer_dqn.csv --outdir results/figures \\
        --learner dqn [--metric return_discounted] [--n-boot 2000 --seed 0 --ci 0.95] [--no-published] \\
        [--no-shipped]
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
