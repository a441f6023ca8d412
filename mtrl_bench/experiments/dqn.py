"""Multi-task DQN (several tasks) or single-task DQN (one task), all seeds in one batch.

The learner of :mod:`mtrl_bench.algos.dqn` in the epoch loop of :func:`.runner.run_epochs`.

Design notes: docs/learners.md#the-dqn-experiments-rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mtrl_bench.algos import dqn
from mtrl_bench.algos.dqn import DQNConfig
from mtrl_bench.checkpoints import SharedLayerSaver
from mtrl_bench.device import resolve_device
from mtrl_bench.experiments.runner import Progress, RunResult, Schedule, run_epochs

EXPERIMENT = "dqn"
Config = DQNConfig
METRICS = ("return_discounted", "return_undiscounted", "episodes_completed", "td_loss", "diverged")


def run(config: Config, seeds: Sequence[int], device: torch.device | str = "cpu",
        progress: Progress | None = None) -> RunResult:
    """Train every seed of ``config`` at once and return the tidy rows (see the module docstring);
    ``progress`` gets one update per evaluation (one is made, logging to stderr, when None)."""
    device = resolve_device(device) if isinstance(device, str) else device
    learner = dqn.build_learner(config, seeds, device)
    base = {"experiment": EXPERIMENT, "algorithm": config.algorithm, "variants": "+".join(config.tasks),
            "n_tasks": len(config.tasks), "width": config.shared_width}
    saver = None if config.save_shared == "none" else SharedLayerSaver(
        config.save_shared, config.checkpoint_dir, config.algorithm, config.tasks, learner.seeds,
        {kind: nets[0] for kind, nets in learner.networks().items()}, config.epochs)
    schedule = Schedule(config.epochs, config.steps_per_epoch, warmup_steps=config.learning_starts)
    own_progress = progress is None
    progress = progress or Progress(EXPERIMENT, config.epochs + 1)
    try:
        return run_epochs(learner, schedule, base, config.tasks, RunResult(extra={"algorithm": config.algorithm}),
                          progress, saver)
    finally:
        if own_progress:
            progress.close()
