"""Tables of the DQN experiment: MDQN against single-task DQN, per task and shared width.

The computation (auc and final per run, IQM with stratified-bootstrap CIs, MDQN - DQN, Welch's test against
the published summaries) is :mod:`analysis.multitask_tables` applied to :data:`STUDY`; this module keeps the
DQN names. Outputs ``dqn_summary.{csv,md,tex}`` and ``dqn_vs_published.{csv,md,tex}`` (the authors' 100
runs, width 80, MDQN on all five tasks; both scores average the discounted return over the evaluation
episodes completed within the test steps; our MDQN may train on fewer tasks: ``n_tasks``, ``theirs_n_tasks``).

CLI (:mod:`analysis.cli`)::

    python -m analysis.dqn_tables --runs results/tables/all_runs_dqn.csv --outdir results/tables \\
        [--n-boot 2000 --seed 0 --ci 0.95] [--metric return_discounted] [--final-epochs 10] [--no-published]
"""

from __future__ import annotations

from collections.abc import Sequence

from analysis import multitask_tables as mt
from analysis.cli import run

TASK_LABELS = {"cartpole": "Cart-Pole", "acrobot": "Acrobot", "mountaincar": "Mountain-Car",
               "car_on_hill": "Car-On-Hill", "inverted_pendulum": "Inverted-Pendulum"}
PAPER_EPOCHS = (0, 10, 20, 30, 40, 50)
"""Epochs at which dqn_vs_published compares (0 = before training), besides the last-epochs window."""

STUDY = mt.Study(
    experiment="dqn", algorithms=("mdqn", "dqn"), baseline="dqn", title="MDQN vs single-task DQN",
    algorithm_labels={"mdqn": "MDQN", "dqn": "DQN"}, task_labels=TASK_LABELS,
    task_order=("cartpole", "acrobot", "mountaincar", "car_on_hill", "inverted_pendulum"),
    paper_epochs=PAPER_EPOCHS, published_setting="100 runs, width 80, MDQN on all five tasks",
    score_convention="both average the evaluation episodes completed within the test steps",
    metric_labels={"return_discounted": "discounted return", "return_undiscounted": "undiscounted return",
                   "td_loss": "TD loss (Huber)", "episodes_completed": "episodes completed"})


def main(argv: Sequence[str] | None = None) -> int:
    return mt.main(STUDY, "python -m analysis.dqn_tables", argv)


if __name__ == "__main__":
    raise SystemExit(run(main))
