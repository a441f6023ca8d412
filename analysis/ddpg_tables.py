"""Tables of the DDPG experiment: MDDPG against single-task DDPG, per task group, task and shared width.

The computation is :mod:`analysis.multitask_tables` applied to :data:`STUDY`. Per run and task, of the
score ``return_discounted`` per epoch (epoch 0 = after the replay warm-up, before learning): ``auc`` (area
under the curve over epochs 0..E by the trapezoidal rule, divided by E) and ``final`` (mean of the last
``final_epochs`` trained epochs, the paper's last 10; fewer when the run has fewer). Across seeds: IQM with
a stratified-bootstrap CI per algorithm and MDDPG - DDPG with its CI (runs resampled independently); failed
(diverged) runs excluded and counted. A task or width that did not run has no row.

``ddpg_summary.{csv,md,tex}``: one row per group, task, width and measure (column ``group`` first).

``ddpg_vs_published.{csv,md,tex}``: ours against the authors' summaries (:mod:`analysis.reference`, 40 runs,
600/500 layers, MDDPG on each group's three tasks) at epochs :data:`PAPER_EPOCHS` our runs reached and over
our last ``final_epochs`` trained epochs, with Welch's test (:mod:`analysis.vs_published`). Only the tasks
they ran match: the group ``pendulum`` (PyBullet, the paper's appendix) and ``walker`` (dm_control, the
main text); ``pendulum_mujoco`` has no published counterpart and no rows. Both scores count the unfinished
last evaluation episode (:data:`analysis.reference.CONVENTIONS`).

CLI (:mod:`analysis.cli`)::

    python -m analysis.ddpg_tables --runs results/tables/all_runs_ddpg.csv --outdir results/tables \\
        [--n-boot 2000 --seed 0 --ci 0.95] [--metric return_discounted] [--final-epochs 10] [--no-published]

where ``--runs`` takes results files of ``mtrl-bench run ddpg`` and/or all-runs tables of ``analysis.aggregate``.
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
