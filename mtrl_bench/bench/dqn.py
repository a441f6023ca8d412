"""Speed of the seed-batched DQN learner: the whole learning loop against its gradient updates alone.

``ceiling_ratio`` = loop speed / update-only speed; ``speedup_per_seed`` = loop speed at S / loop speed at S = 1.

Design notes: docs/measured.md#bench-dqn.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import torch

from mtrl_bench.algos.dqn import DQNConfig, build_learner, fill_replay, learn, td_update
from mtrl_bench.bench import sync


def _time_round(learner, steps: int, chunk: int = 10) -> tuple[float, float]:
    """Seconds for ``steps`` learning steps and for ``steps`` updates alone, timed in alternating
    chunks so that a change in the machine's load hits both alike."""
    loop_s = update_s = 0.0
    done = 0
    while done < steps:
        n = min(chunk, steps - done)
        sync(learner.device)
        start = time.perf_counter()
        learn(learner, n)
        sync(learner.device)
        middle = time.perf_counter()
        for _ in range(n):
            td_update(learner)
        sync(learner.device)
        loop_s += middle - start
        update_s += time.perf_counter() - middle
        done += n
    return loop_s, update_s


def bench_dqn(seed_counts: Sequence[int] = (1, 8, 32), steps: int = 100, warmup: int = 10,
              repeats: int = 2, config: DQNConfig | None = None,
              device: torch.device | str = "cpu") -> list[dict]:
    """One dict per seed count: ``n_seeds, n_tasks, loop_env_steps_per_s, update_env_steps_per_s,
    updates_per_s, ceiling_ratio, speedup_per_seed``."""
    config = config or DQNConfig()
    config = replace(config, learning_starts=max(config.learning_starts, config.batch_size))
    device = torch.device(device)
    learners = {}
    for n_seeds in seed_counts:
        learner = build_learner(config, list(range(n_seeds)), device)
        fill_replay(learner, config.learning_starts)
        learn(learner, warmup)
        learners[n_seeds] = learner
    best = {n: (float("inf"), float("inf")) for n in seed_counts}
    for _ in range(repeats):
        for n_seeds, learner in learners.items():
            loop_s, update_s = _time_round(learner, steps)
            best[n_seeds] = (min(best[n_seeds][0], loop_s), min(best[n_seeds][1], update_s))
    n_tasks = len(config.tasks)
    rows = []
    for n_seeds in seed_counts:
        loop_s, update_s = best[n_seeds]
        rows.append({"n_seeds": n_seeds, "n_tasks": n_tasks,
                     "loop_env_steps_per_s": steps * n_seeds * n_tasks / loop_s,
                     "update_env_steps_per_s": steps * n_seeds * n_tasks / update_s,
                     "updates_per_s": steps / update_s,
                     "ceiling_ratio": update_s / loop_s})
    baseline = next((r["loop_env_steps_per_s"] for r in rows if r["n_seeds"] == 1), None)
    for row in rows:
        row["speedup_per_seed"] = row["loop_env_steps_per_s"] / baseline if baseline else float("nan")
    return rows


def format_table(rows: list[dict]) -> str:
    """The benchmark as a fixed-width text table."""
    header = (f"{'seeds':>5} {'tasks':>5} {'loop env-steps/s':>17} {'update-only env-steps/s':>24} "
              f"{'updates/s':>10} {'loop/ceiling':>12} {'speed-up/seed':>14}")
    lines = [header]
    for r in rows:
        lines.append(f"{r['n_seeds']:>5} {r['n_tasks']:>5} {r['loop_env_steps_per_s']:>17.0f} "
                     f"{r['update_env_steps_per_s']:>24.0f} {r['updates_per_s']:>10.1f} "
                     f"{r['ceiling_ratio']:>12.2f} {r['speedup_per_seed']:>13.2f}x")
    return "\n".join(lines)
