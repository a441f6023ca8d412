"""The one runner shape every experiment has: ``run(config, seeds, device, progress) -> RunResult``.

:func:`row`, :class:`RunResult` (``diverged``: one meaning everywhere), :class:`Progress`, and :func:`run_epochs`,
the one epoch loop of the online learners.

Design notes: docs/learners.md#the-runners-pieces.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO

import numpy as np

if TYPE_CHECKING:
    from mtrl_bench.checkpoints import SharedLayerSaver


def row(experiment: str, algorithm: str, variants: str, n_tasks: int, task: str, width: int, seed: int,
        step: int, metric: str, value: float) -> dict[str, Any]:
    """One tidy results row (see :mod:`mtrl_bench.results`)."""
    return {"experiment": experiment, "algorithm": algorithm, "variants": variants, "n_tasks": int(n_tasks),
            "task": task, "width": int(width), "seed": int(seed), "step": int(step), "metric": metric,
            "value": float(value)}


@dataclass
class RunResult:
    """What a run returns: tidy rows, failed seeds (seed -> step where it diverged), extra provenance."""

    rows: list[dict] = field(default_factory=list)
    failed_seeds: dict[int, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def diverged(self, base: dict[str, Any], tasks: Iterable[str], seed: int, step: int) -> None:
        """Record that ``seed`` diverged at ``step``: one ``diverged`` row per task."""
        self.failed_seeds[int(seed)] = int(step)
        self.rows += [row(**base, task=task, seed=seed, step=step, metric="diverged", value=step) for task in tasks]


class Progress:
    """Per-step progress: a log line per step (elapsed, time left, score), and a tqdm bar on a terminal.

    ``total`` steps are expected; :meth:`update` is called after each with a short score text.
    """

    def __init__(self, name: str, total: int, stream: TextIO | None = None, bar: bool | None = None):
        self.name, self.total = name, max(int(total), 1)
        self.stream = stream or sys.stderr
        self.started = time.time()
        self.done = 0
        interactive = self.stream.isatty() if bar is None else bar
        self._bar = None
        if interactive:
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=self.total, desc=name, file=self.stream, leave=True)
            except ImportError:  # tqdm comes with snakemake's dependencies; a bare install still logs
                self._bar = None

    def update(self, label: str, score: str = "", steps: int = 1) -> None:
        self.done += steps
        elapsed = time.time() - self.started
        left = elapsed / self.done * (self.total - self.done)
        if self._bar is not None:
            self._bar.set_postfix_str(score, refresh=False)
            self._bar.update(steps)
            return
        print(f"{self.name}: {label} ({self.done}/{self.total}): elapsed {_duration(elapsed)}, "
              f"left ~{_duration(left)}" + (f", {score}" if score else ""), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class OnlineLearner(Protocol):
    """What the epoch loop asks of a learner of S seeds x T tasks (DQN, DDPG; a transfer target is one).

    ``fill_memories(n)``: ``n`` steps per task that only fill the replay memories; ``train(n)``: ``n``
    steps per task of (act, store, update), returning the mean losses per (seed, task), each (S, T);
    ``scores()``: an evaluation, each score (S, T); ``still_learning()``: (S,) bool, False for a seed
    whose loss or parameters became non-finite.
    """

    seeds: list[int]

    def fill_memories(self, n_steps: int) -> None: ...

    def train(self, n_steps: int) -> dict[str, np.ndarray]: ...

    def scores(self) -> dict[str, np.ndarray]: ...

    def still_learning(self) -> np.ndarray: ...


@dataclass(frozen=True)
class Schedule:
    """How long the loop runs: ``warmup_steps`` per task before the first evaluation, then ``epochs``
    of ``steps_per_epoch`` training steps per task, each followed by an evaluation."""

    epochs: int
    steps_per_epoch: int
    warmup_steps: int


def run_epochs(learner: OnlineLearner, schedule: Schedule, base: dict[str, Any], tasks: Sequence[str],
               result: RunResult, progress: Progress, saver: SharedLayerSaver | None = None,
               after_warm_up: Callable[[], None] | None = None,
               before_epoch: Callable[[int], None] | None = None) -> RunResult:
    """The one epoch loop of the online learners (Dopamine's runner; the learner is its agent)::

        fill the memories for `warmup_steps` steps per task;  after_warm_up()
        evaluate, record epoch 0
        for epoch = 1 .. epochs:
            before_epoch(epoch); train for `steps_per_epoch` steps per task
            evaluate, record the scores and the epoch's mean losses

    Rows (:func:`row`, with ``base``'s columns) per seed, task and epoch; a seed that stopped learning
    gets its ``diverged`` rows at that epoch and no further rows (:meth:`RunResult.diverged`). ``saver``
    sees every evaluation's ``return_discounted`` and writes its checkpoints at the end (their paths go to
    ``result.extra["checkpoints"]``). ``progress`` gets one update per evaluation.
    """

    def record(epoch: int, values: dict[str, np.ndarray]) -> None:
        active = learner.still_learning()
        for s, seed in enumerate(learner.seeds):
            if seed in result.failed_seeds:
                continue
            if not active[s]:
                result.diverged(base, tasks, seed, epoch)
                continue
            for t, task in enumerate(tasks):
                result.rows += [row(**base, task=task, seed=seed, step=epoch, metric=name, value=float(v[s, t]))
                                for name, v in values.items()]
        if saver is not None:
            saver.observe(epoch, values["return_discounted"], active)
        progress.update(f"epoch {epoch}", _score_text(tasks, values["return_discounted"], active))

    learner.fill_memories(schedule.warmup_steps)
    if after_warm_up is not None:
        after_warm_up()
    record(0, learner.scores())
    for epoch in range(1, schedule.epochs + 1):
        if before_epoch is not None:
            before_epoch(epoch)
        losses = learner.train(schedule.steps_per_epoch)
        record(epoch, {**learner.scores(), **losses})
    if saver is not None:
        result.extra["checkpoints"] = [str(path) for path in saver.write()]
    return result


def _score_text(tasks: Sequence[str], returns: np.ndarray, active: np.ndarray) -> str:
    """The progress line's score: the mean discounted return per task over the seeds still learning."""
    if not active.any():
        return "every seed diverged"
    means = returns[active].mean(0)
    return "return " + ", ".join(f"{task} {value:.3g}" for task, value in zip(tasks, means, strict=True))
