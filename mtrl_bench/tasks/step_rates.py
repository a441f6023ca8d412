"""Environment step rates: one bare engine environment against :class:`~mtrl_bench.tasks.vector.ParallelTaskEnv`.

``python -m mtrl_bench.tasks.step_rates [group ...] [--seeds 1 8] [--workers 0 1 2] [--seconds 1.5]``
prints, per group, the rate of each task's bare engine environment (random actions in its bounds,
resets included) and, for each S and worker count, the parallel environment's joint steps/s (one
step of all S x T instances), its environment steps/s, and the ratio of that to stepping the same
S x T bare environments one after the other in this process (the ``serial bare`` rate). Beside the
wall-clock rates it prints the CPU time per environment step (this process plus its workers, read from
/proc on Linux): what the wrappers and the inter-process traffic cost, a figure that a loaded machine
disturbs much less than the wall-clock rates. Ratios are taken in the same run.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence

import numpy as np

from mtrl_bench.tasks import continuous, engines
from mtrl_bench.tasks.vector import ParallelTaskEnv


def _cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds of processes ``pids`` so far (Linux /proc; NaN elsewhere)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def bare_rate(task: str, seconds: float = 1.5, seed: int = 0) -> tuple[float, float]:
    """(steps/s, CPU microseconds per step) of task ``task``'s bare engine environment (no wrappers),
    resets included."""
    continuous.require_engines([task])
    source = continuous.SOURCES[task]
    env = engines.build_engine_env(source.engine, source.ident, source.obs_keys)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(1000)]
    steps, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        _, _, terminated, truncated, _ = env.step(actions[steps % 1000])
        steps += 1
        if terminated or truncated or steps % continuous.HORIZON == 0:
            env.reset()
    rate, cpu = steps / (time.perf_counter() - start), (time.process_time() - cpu) / steps
    env.close()
    return rate, cpu * 1e6


def vector_rate(tasks: Sequence[str], n_seeds: int, workers: int, seconds: float = 1.5) -> tuple[float, float]:
    """(joint steps/s, CPU microseconds per environment step, workers included) of a :class:`ParallelTaskEnv`;
    a joint step steps all ``n_seeds`` x T instances once."""
    with ParallelTaskEnv(tasks, list(range(n_seeds)), workers=workers) as env:
        env.reset()
        rng = np.random.default_rng(0)
        actions = rng.uniform(-1, 1, (64, n_seeds, len(tasks), env.action_dim)).astype(np.float32)
        env.step(actions[0])  # warm-up
        pids = [p.pid for p in env._processes]
        steps, start = 0, time.perf_counter()
        cpu = time.process_time() + _cpu_seconds(pids)
        while time.perf_counter() - start < seconds:
            env.step(actions[steps % 64])
            steps += 1
        rate = steps / (time.perf_counter() - start)
        cpu = time.process_time() + _cpu_seconds(pids) - cpu
        return rate, cpu / (steps * n_seeds * len(tasks)) * 1e6


def report(groups: Sequence[str], seeds: Sequence[int], workers: Sequence[int], seconds: float) -> list[str]:
    """The table described in the module doc, as lines."""
    lines = []
    for group in groups:
        tasks = [spec.name for spec in continuous.get_group(group)]
        bare = {task: bare_rate(task, seconds) for task in tasks}
        lines.append(f"group {group}: bare steps/s (CPU us/step) "
                     + ", ".join(f"{t} {r:,.0f} ({c:.0f})" for t, (r, c) in bare.items()))
        serial = 1.0 / sum(1.0 / r for r, _ in bare.values())  # joint steps/s of T bare envs one after the other
        bare_cpu = np.mean([c for _, c in bare.values()])
        for n_seeds in seeds:
            for n_workers in workers:
                joint, cpu = vector_rate(tasks, n_seeds, n_workers, seconds)
                lines.append(f"  S={n_seeds:<3d} workers={n_workers}: {joint:8,.0f} joint steps/s "
                             f"= {joint * n_seeds * len(tasks):8,.0f} env steps/s, "
                             f"x{joint * n_seeds / serial:.2f} of serial bare; CPU {cpu:.0f} us/env step "
                             f"(bare {bare_cpu:.0f})")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", default=list(continuous.GROUPS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--seconds", type=float, default=1.5)
    args = parser.parse_args(argv)
    for line in report(args.groups, args.seeds, args.workers, args.seconds):
        print(line, flush=True)


if __name__ == "__main__":
    main()
