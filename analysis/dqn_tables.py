"""Tables of the DQN experiment: MDQN against single-task DQN, per task and shared width.

The computation is :mod:`analysis.multitask_tables` applied to :data:`STUDY`; this module keeps the DQN names.

Per run and task, of ``return_discounted`` per epoch (epoch 0 = before training): ``auc`` (the area under
the curve over epochs 0..E by the trapezoidal rule, divided by E: the average return over training) and
``final`` (the mean over the last ``final_epochs`` epochs; the paper reports the last 10). Across seeds:
the interquartile mean (IQM) with a stratified-bootstrap interval per algorithm and MDQN - DQN with its
own interval (the runs of both resampled independently); failed (diverged) runs excluded and counted.

``dqn_summary.{csv,md,tex}``: the CSV keeps full precision, one column per number; the Markdown and LaTeX
versions show "estimate [low, high]".

``dqn_vs_published.{csv,md,tex}``: ours against the authors' published summaries (:mod:`analysis.reference`;
100 runs of MDQN on all five tasks and of DQN on each, width 80) per algorithm, task and shared width, at
every paper checkpoint our runs reached (epochs :data:`PAPER_EPOCHS`) and over our last ``final_epochs``
trained epochs (theirs over the same epochs, left out if they did not run them), with Welch's test
(:mod:`analysis.vs_published`; for the window, conservative). The score conventions match: both average
the discounted return over the evaluation episodes completed within the test steps. Our MDQN may train
on fewer tasks than theirs (columns ``n_tasks`` and ``theirs_n_tasks``).

CLI (:mod:`analysis.cli`)::

    python -m analysis.dqn_tables --runs results/tables/all_runs_dqn.csv --outdir results/tables \\
        [--n-boot 2000 --seed 0 --ci 0.95] [--metric return_discounted] [--final-epochs 10] [--no-published]

where ``--runs`` takes results files of ``mtrl-bench run dqn`` and/or all-runs tables of ``analysis.aggregate``.
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
