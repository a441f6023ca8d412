"""Speed of seed-batched MDDPG: environment time and learner time per joint step, against baselines
measured in the same run, and the projected wall time of the paper's scale.

Ratios: ``env_vs_bare`` (stepper vs S x T bare environments one after another) and ``learner_vs_sgemm``.

Design notes: docs/measured.md#bench-ddpg.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

import gymnasium as gym
import numpy as np
import torch

from mtrl_bench import config as cfg
from mtrl_bench.algos import ddpg
from mtrl_bench.bench import sgemm_gflops, sync
from mtrl_bench.experiments import ddpg as experiment
from mtrl_bench.nets import ActorCriticSpec

PAPER_EPOCHS, PAPER_STEPS, PAPER_TEST_STEPS, PAPER_SEEDS = 100, 10_000, 5_000, 40


def bare_env_steps_per_s(make: Callable[[], gym.Env], steps: int = 2000) -> float:
    """Steps per second of one environment stepped alone with uniform random actions (resets included)."""
    env = make()
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = rng.uniform(-1.0, 1.0, size=(steps, *env.action_space.shape)).astype(np.float32)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def update_flops(spec: ActorCriticSpec, batch_size: int) -> float:
    """Matrix-product FLOPs of one joint step for one seed (see the module doc)."""
    obs, act, width, shared, tasks = spec.obs_dim, spec.action_dim, spec.input_width, spec.shared_width, spec.n_tasks
    actor = 2.0 * (obs * width + width * shared + shared * act)
    critic = 2.0 * (obs * width + width * shared + act * shared + shared)
    return batch_size * tasks * (4 * actor + 6 * critic) + tasks * actor


def _time_steps(learner: ddpg.Learner, steps: int) -> tuple[float, float]:
    """(environment seconds, learner seconds) for ``steps`` joint steps."""
    timers = learner.timers
    env_before, learner_before = timers.env_s, timers.learner_s
    sync(learner.device)
    ddpg.learn(learner, steps)
    sync(learner.device)
    return timers.env_s - env_before, timers.learner_s - learner_before


def _time_evaluation(learner: ddpg.Learner, steps: int) -> float:
    """Seconds per evaluation step (all seeds and tasks)."""
    start = time.perf_counter()
    ddpg.evaluate(learner)
    return (time.perf_counter() - start) / steps


BareEnvs = Callable[[], gym.Env] | Sequence[Callable[[], gym.Env]]
"""One bare environment builder per task (or one for every task)."""


def measure(config: experiment.Config, make_env: ddpg.EnvFactory, bare_env: BareEnvs,
            seed_counts: Sequence[int] = (1, 8, 40), steps: int = 20, warmup: int = 3, repeats: int = 2,
            device: torch.device | str = "cpu") -> dict:
    """The benchmark's figures: ``rows`` (one dict per seed count), ``sgemm_gflops``, ``bare_env_steps_per_s``
    (one rate per task), ``projection`` (the paper scale's estimated seconds)."""
    device = torch.device(device)
    config = cfg.build(experiment.Config, {**cfg.record(config), "test_steps": steps,
                                           "replay_capacity": max(config.batch_size, config.warmup_steps, 256),
                                           "warmup_steps": max(config.batch_size, config.warmup_steps)})
    learners = {}
    for n_seeds in seed_counts:
        learner = ddpg.build_learner(experiment.learner_params(config), list(range(n_seeds)), make_env, device)
        ddpg.warm_up(learner, config.warmup_steps)
        ddpg.learn(learner, warmup)
        learners[n_seeds] = learner
    best = {n: (math.inf, math.inf, math.inf) for n in seed_counts}
    for _ in range(repeats):
        for n_seeds, learner in learners.items():
            env_s, learner_s = _time_steps(learner, steps)
            eval_s = _time_evaluation(learner, steps)
            old = best[n_seeds]
            best[n_seeds] = (min(old[0], env_s), min(old[1], learner_s), min(old[2], eval_s))
    gflops_peak = sgemm_gflops(device)
    n_tasks = next(iter(learners.values())).n_tasks
    builders = [bare_env] * n_tasks if callable(bare_env) else list(bare_env)
    if len(builders) != n_tasks:
        raise ValueError(f"give one bare environment per task ({n_tasks}), got {len(builders)}")
    bare = [bare_env_steps_per_s(build) for build in builders]
    bare_s_per_joint_step = sum(1.0 / rate for rate in bare)  # one environment of every task, one after another
    rows = []
    for n_seeds, learner in learners.items():
        env_s, learner_s, eval_s = best[n_seeds]
        flops = update_flops(learner.actor.spec, config.batch_size) * n_seeds * steps
        rows.append({"n_seeds": n_seeds, "n_tasks": n_tasks,
                     "env_ms_per_step": env_s / steps * 1e3, "learner_ms_per_step": learner_s / steps * 1e3,
                     "env_steps_per_s": steps * n_seeds * n_tasks / env_s,
                     "env_vs_bare": steps * n_seeds * bare_s_per_joint_step / env_s,
                     "learner_gflops": flops / learner_s / 1e9,
                     "learner_vs_sgemm": flops / learner_s / 1e9 / gflops_peak,
                     "eval_ms_per_step": eval_s * 1e3})
        for env in (learner.env, learner.eval_env):
            env.close()
    return {"rows": rows, "sgemm_gflops": gflops_peak, "bare_env_steps_per_s": bare,
            "projection": project(rows), "device": str(device), "threads": torch.get_num_threads(),
            "widths": (config.input_width, config.shared_width), "env_workers": config.env_workers}


def project(rows: list[dict], seeds: int = PAPER_SEEDS) -> dict | None:
    """Estimated seconds of the paper's scale from the row of the largest seed count <= ``seeds``."""
    fitting = [r for r in rows if r["n_seeds"] <= seeds]
    if not fitting:
        return None
    r = max(fitting, key=lambda r: r["n_seeds"])
    runs = math.ceil(seeds / r["n_seeds"])
    train_s = (PAPER_EPOCHS * PAPER_STEPS) * (r["env_ms_per_step"] + r["learner_ms_per_step"]) / 1e3
    eval_s = (PAPER_EPOCHS + 1) * PAPER_TEST_STEPS * r["eval_ms_per_step"] / 1e3
    return {"from_seeds": r["n_seeds"], "runs": runs, "train_s": runs * train_s, "eval_s": runs * eval_s,
            "total_s": runs * (train_s + eval_s)}


def format_report(figures: dict) -> str:
    """The benchmark as a text table with its baselines and projection."""
    lines = [f"DDPG learner benchmark on {figures['device']} ({figures['threads']} torch threads, "
             f"{figures['env_workers']} environment workers), layers "
             f"{figures['widths'][0]}/{figures['widths'][1]}; times are fastest rounds and noisy on a shared machine",
             f"baselines: {'GPU' if figures['device'].startswith('cuda') else 'single-thread'} sgemm "
             f"{figures['sgemm_gflops']:.1f} GFLOP/s, one bare environment per task "
             f"{' / '.join(f'{rate:.0f}' for rate in figures['bare_env_steps_per_s'])} steps/s",
             f"{'seeds':>5} {'tasks':>5} {'env ms/step':>12} {'learner ms/step':>16} {'env steps/s':>12} "
             f"{'env/bare':>9} {'learner GFLOP/s':>16} {'learner/sgemm':>14} {'eval ms/step':>13}"]
    for r in figures["rows"]:
        lines.append(f"{r['n_seeds']:>5} {r['n_tasks']:>5} {r['env_ms_per_step']:>12.2f} "
                     f"{r['learner_ms_per_step']:>16.2f} {r['env_steps_per_s']:>12.0f} {r['env_vs_bare']:>9.2f} "
                     f"{r['learner_gflops']:>16.2f} {r['learner_vs_sgemm']:>14.2f} {r['eval_ms_per_step']:>13.2f}")
    p = figures["projection"]
    if p:
        lines.append(f"paper scale ({PAPER_EPOCHS} epochs x {PAPER_STEPS} steps, {PAPER_SEEDS} seeds) projected from "
                     f"S={p['from_seeds']} ({p['runs']} run(s)): training {_hours(p['train_s'])}, evaluation "
                     f"{_hours(p['eval_s'])}, total {_hours(p['total_s'])}")
    return "\n".join(lines)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds < 48 * 3600 else f"{seconds / 86400:.1f} days"


def run(group: str = "pendulum_mujoco", tasks: Sequence[str] = (), seed_counts: Sequence[int] = (1, 8, 40),
        steps: int = 20, warmup: int = 3, repeats: int = 2, input_width: int = 600, shared_width: int = 500,
        env_workers: int = 0, device: torch.device | str = "cpu", stream: TextIO | None = None,
        make_env: ddpg.EnvFactory | None = None, bare_env: BareEnvs | None = None) -> dict:
    """Measure and print the benchmark for ``group`` (or its subset ``tasks``); returns the figures.

    ``make_env`` / ``bare_env`` replace the group's stepper and its tasks' single environments (tests pass
    small ones).
    """
    config = cfg.build(experiment.Config, {"group": group, "tasks": list(tasks), "input_width": input_width,
                                           "shared_width": shared_width, "env_workers": env_workers})
    if make_env is None:
        make_env = experiment.env_factory(config)
    if bare_env is None:
        bare_env = [experiment.single_env(cfg.build(experiment.Config, {**cfg.record(config), "tasks": [task]}))
                    for task in experiment.task_names(config)]
    figures = measure(config, make_env, bare_env, seed_counts, steps, warmup, repeats, device)
    print(format_report(figures), file=stream or sys.stdout, flush=True)
    return figures
