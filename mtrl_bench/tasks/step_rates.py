"""Environment step rates: one bare engine environment against :class:`~mtrl_bench.tasks.vector.ParallelTaskEnv`.

``python -m mtrl_bench.tasks.step_rates [group ...] [--seeds 1 8] [--workers 0 1 2] [--seconds 1.5]``
prints, per group, the rate of each task's bare engine environment (random actions in its bounds,
resets included) and, for each S and worker count, the parallel environment's joint steps/s (one
step of all S x T instances), its environment steps/s, and the ratio of that to stepping the same
S x T bare environments one after the other in this process (the ``serial bare`` rate). Ratios are
taken in the same run; on a shared machine the absolute figures are noisy.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from mtrl_bench.tasks import continuous, engines
from mtrl_bench.tasks.vector import ParallelTaskEnv


def bare_rate(task: str, seconds: float = 1.5, seed: int = 0) -> float:
    """Steps/s of task ``task``'s bare engine environment (no wrappers), resets included."""
    continuous.require_engines([task])
    source = continuous.SOURCES[task]
    env = engines.build_engine_env(source.engine, source.ident, source.obs_keys)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(1000)]
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, terminated, truncated, _ = env.step(actions[steps % 1000])
        steps += 1
        if terminated or truncated or steps % continuous.HORIZON == 0:
            env.reset()
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def vector_rate(tasks: Sequence[str], n_seeds: int, workers: int, seconds: float = 1.5) -> float:
    """Joint steps/s (all ``n_seeds`` x T instances stepped once) of a :class:`ParallelTaskEnv`."""
    with ParallelTaskEnv(tasks, list(range(n_seeds)), workers=workers) as env:
        env.reset()
        rng = np.random.default_rng(0)
        actions = rng.uniform(-1, 1, (64, n_seeds, len(tasks), env.action_dim)).astype(np.float32)
        env.step(actions[0])  # warm-up
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            env.step(actions[steps % 64])
            steps += 1
        return steps / (time.perf_counter() - start)


def report(groups: Sequence[str], seeds: Sequence[int], workers: Sequence[int], seconds: float) -> list[str]:
    """The table described in the module doc, as lines."""
    lines = []
    for group in groups:
        tasks = [spec.name for spec in continuous.get_group(group)]
        rates = {task: bare_rate(task, seconds) for task in tasks}
        lines.append(f"group {group}: bare steps/s " + ", ".join(f"{t} {r:,.0f}" for t, r in rates.items()))
        serial = 1.0 / sum(1.0 / r for r in rates.values())  # joint steps/s of T bare envs one after the other
        for n_seeds in seeds:
            for n_workers in workers:
                joint = vector_rate(tasks, n_seeds, n_workers, seconds)
                lines.append(f"  S={n_seeds:<3d} workers={n_workers}: {joint:8,.0f} joint steps/s "
                             f"= {joint * n_seeds * len(tasks):8,.0f} env steps/s; "
                             f"x{joint * n_seeds / serial:.2f} of serial bare stepping")
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
