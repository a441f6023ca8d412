"""Tables of the DDPG experiment: MDDPG against single-task DDPG, per task group, task and shared width.

:mod:`analysis.multitask_tables` applied to :data:`STUDY`.

Design notes: docs/analysis.md#ddpg-tables.
"""

from __future__ import annotations

from collections.abc import Sequence

from analysis import multitask_tables as mt
from analysis.cli import run
from mtrl_bench.tasks.continuous import GROUPS

TASK_LABELS = {
    "bullet_inverted_pendulum": "InvertedPendulum (PyBullet)",
    "bullet_inverted_double_pendulum": "InvertedDoublePendulum (PyBullet)",
    "bullet_inverted_pendulum_swingup": "InvertedPendulumSwingup (PyBullet)",
    "mujoco_inverted_pendulum": "InvertedPendulum (MuJoCo)",
    "mujoco_inverted_double_pendulum": "InvertedDoublePendulum (MuJoCo)",
    "cartpole_swingup": "cartpole-swingup",
    "hopper_stand": "hopper-stand",
    "walker_walk": "walker-walk",
    "cheetah_run": "cheetah-run",
}
PAPER_EPOCHS = (0, 20, 40, 60, 80, 100)
"""Epochs at which ddpg_vs_published compares (0 = before learning), besides the last-epochs window."""
PUBLISHED_GROUPS = ("pendulum", "walker")
"""Our groups whose tasks the authors ran (pendulum_mujoco is ours only)."""

STUDY = mt.Study(
    experiment="ddpg", algorithms=("mddpg", "ddpg"), baseline="ddpg", title="MDDPG vs single-task DDPG",
    algorithm_labels={"mddpg": "MDDPG", "ddpg": "DDPG"},
    task_order=tuple(task for tasks in GROUPS.values() for task in tasks), task_labels=TASK_LABELS,
    paper_epochs=PAPER_EPOCHS, task_groups={group: tuple(tasks) for group, tasks in GROUPS.items()},
    published_setting="40 runs, 600/500 layers, MDDPG on each group's three tasks; only the groups pendulum "
                      "(PyBullet) and walker (dm_control)",
    score_convention="both count the unfinished last evaluation episode",
    metric_labels={"return_discounted": "discounted return", "return_undiscounted": "undiscounted return",
                   "episodes": "evaluation episodes", "critic_loss": "critic loss (Huber)",
                   "actor_loss": "actor loss (-Q)"})


def main(argv: Sequence[str] | None = None) -> int:
    return mt.main(STUDY, "python -m analysis.ddpg_tables", argv)


if __name__ == "__main__":
    raise SystemExit(run(main))
