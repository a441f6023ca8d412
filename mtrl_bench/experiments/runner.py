"""The one runner shape every experiment has: ``run(config, seeds, device, progress) -> RunResult``.

* :func:`row` builds every tidy row (columns of :data:`mtrl_bench.results.COLUMNS`);
* :class:`RunResult` holds the rows, the seeds that failed and extra provenance;
* ``diverged`` means one thing everywhere: a seed whose loss or parameters became non-finite at
  step k (iteration or epoch) stops there; it gets one row per task with metric ``diverged`` and
  value k, no further rows, and ``failed_seeds[seed] = k``; the other seeds go on;
* :class:`Progress` reports each step (elapsed time, estimated time left, current score) to the
  job's log, and as a progress bar in an interactive terminal.

The learner (what one update does) is separate from the runner (the loop that drives it), as in
Dopamine's runner/agent split: a runner builds a learner, asks it to learn for a step, evaluates and
records.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO


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
