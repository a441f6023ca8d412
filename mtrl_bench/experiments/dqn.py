"""Multi-task DQN (several tasks) or single-task DQN (one task), all seeds in one batch.

The runner around the learner of :mod:`mtrl_bench.algos.dqn`::

    evaluate the greedy policy                                              (epoch 0)
    act uniformly at random for `learning_starts` steps per task to fill the memories
    for epoch = 1 .. epochs:
        learn for `steps_per_epoch` steps per task (one update each)
        evaluate the greedy policy for `test_steps` steps per task

Rows per epoch, task and seed: ``return_discounted``, ``return_undiscounted``,
``episodes_completed`` (epoch 0 included) and ``td_loss`` (the epoch's mean Huber loss, epochs >= 1).

A seed whose loss becomes non-finite during epoch k stops there: one ``diverged`` row per task with
value k at step k and no further rows (:meth:`RunResult.diverged`); the other seeds go on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mtrl_bench.algos import dqn
from mtrl_bench.algos.dqn import DQNConfig
from mtrl_bench.checkpoints import SharedLayerSaver
from mtrl_bench.device import resolve_device
from mtrl_bench.experiments.runner import Progress, RunResult, row

EXPERIMENT = "dqn"
Config = DQNConfig
METRICS = ("return_discounted", "return_undiscounted", "episodes_completed", "td_loss", "diverged")


def run(config: Config, seeds: Sequence[int], device: torch.device | str = "cpu",
        progress: Progress | None = None) -> RunResult:
    """Train every seed of ``config`` at once and return the tidy rows (see the module docstring);
    ``progress`` gets one update per training epoch (one is made, logging to stderr, when None)."""
    device = resolve_device(device) if isinstance(device, str) else device
    learner = dqn.build_learner(config, seeds, device)
    result = RunResult(extra={"algorithm": config.algorithm})
    base = {"experiment": EXPERIMENT, "algorithm": config.algorithm, "variants": "+".join(config.tasks),
            "n_tasks": len(config.tasks), "width": config.shared_width}

    def record(epoch: int, scores: dict[str, np.ndarray]) -> None:
        for s, seed in enumerate(learner.seeds):
            if seed in result.failed_seeds:
                continue
            for t, task in enumerate(config.tasks):
                result.rows += [row(**base, task=task, seed=seed, step=epoch, metric=name, value=values[s, t])
                                for name, values in scores.items()]

    saver = None if config.save_shared == "none" else SharedLayerSaver(
        config.save_shared, config.checkpoint_dir, config.algorithm, config.tasks, learner.seeds, {"q": learner.net},
        config.epochs)
    scores = dqn.evaluate(learner)
    record(0, scores)
    if saver is not None:
        saver.observe(0, scores["return_discounted"], learner.active.cpu().numpy())
    dqn.fill_replay(learner, config.learning_starts)
    own_progress = progress is None
    progress = progress or Progress(EXPERIMENT, config.epochs)
    for epoch in range(1, config.epochs + 1):
        td_loss = dqn.learn(learner, config.steps_per_epoch).cpu().numpy()
        for s in np.flatnonzero(~learner.active.cpu().numpy()):
            if learner.seeds[s] not in result.failed_seeds:
                result.diverged(base, config.tasks, learner.seeds[s], epoch)
        scores = dqn.evaluate(learner)
        record(epoch, {**scores, "td_loss": td_loss})
        if saver is not None:
            saver.observe(epoch, scores["return_discounted"], learner.active.cpu().numpy())
        progress.update(f"epoch {epoch}", _score(config.tasks, scores, learner.active.cpu().numpy()))
    if own_progress:
        progress.close()
    if saver is not None:
        result.extra["checkpoints"] = [str(path) for path in saver.write()]
    return result


def _score(tasks: Sequence[str], scores: dict[str, np.ndarray], active: np.ndarray) -> str:
    """The progress line's score: the mean discounted return per task over the seeds still learning."""
    if not active.any():
        return "every seed diverged"
    means = scores["return_discounted"][active].mean(0)
    return "return " + ", ".join(f"{task} {value:.3g}" for task, value in zip(tasks, means, strict=True))
