"""Tables of the DQN experiment: MDQN against single-task DQN, per task and shared width.

:mod:`analysis.multitask_tables` applied to :data:`STUDY`.

Design notes: docs/analysis.md#dqn-tables.
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
