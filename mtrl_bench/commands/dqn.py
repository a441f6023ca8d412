"""``mtrl-bench run dqn`` (MDQN / single-task DQN, seeds batched) and ``mtrl-bench bench dqn``."""

from __future__ import annotations

import argparse
import sys
import time

import torch

from mtrl_bench.algos.dqn import DQNConfig, config_record, run_dqn
from mtrl_bench.device import cpu_cores, describe_device, resolve_device
from mtrl_bench.errors import ConfigError
from mtrl_bench.results import check_writable, provenance, write_results
from mtrl_bench.tasks.multitask import DQN_TASKS


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _add_hyper_parameters(p: argparse.ArgumentParser) -> None:
    defaults = DQNConfig()
    p.add_argument("--tasks", nargs="+", default=list(DQN_TASKS),
                   help=f"task ids, several = MDQN, one = single-task DQN (known: {', '.join(DQN_TASKS)})")
    p.add_argument("--width", type=positive_int, default=defaults.shared_width,
                   help="units in each of the two shared layers")
    p.add_argument("--input-width", type=positive_int, default=defaults.input_width,
                   help="units in each task's input layer")
    p.add_argument("--replay-capacity", type=positive_int, default=defaults.replay_capacity,
                   help="transitions per task")
    p.add_argument("--learning-starts", type=positive_int, default=defaults.learning_starts,
                   help="random steps per task before learning")
    p.add_argument("--batch-size", type=positive_int, default=defaults.batch_size,
                   help="transitions drawn from every task per update")
    p.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    p.add_argument("--target-update", type=positive_int, default=defaults.target_update_every,
                   help="updates between target-network copies")
    p.add_argument("--epsilon-decay-steps", type=positive_int, default=defaults.epsilon_decay_steps)
    p.add_argument("--double", action="store_true", help="Double DQN targets")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")


def register(groups: dict) -> None:
    p = groups["run"].add_parser("dqn", help="multi-task DQN (several tasks) or DQN (one task), seeds batched")
    _add_hyper_parameters(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds, all trained at once")
    p.add_argument("--epochs", type=int, default=DQNConfig.epochs)
    p.add_argument("--steps-per-epoch", type=positive_int, default=DQNConfig.steps_per_epoch,
                   help="environment steps per task per epoch")
    p.add_argument("--test-steps", type=positive_int, default=DQNConfig.test_steps,
                   help="greedy evaluation steps per task after each epoch")
    p.add_argument("--out", required=True, help="tidy results CSV")
    p.set_defaults(func=main)

    b = groups["bench"].add_parser("dqn", help="learning-loop speed vs the batched updates alone, S = 1, 8, 32")
    _add_hyper_parameters(b)
    b.add_argument("--seed-counts", type=positive_int, nargs="+", default=[1, 8, 32])
    b.add_argument("--steps", type=positive_int, default=100, help="timed learning steps per round")
    b.add_argument("--warmup", type=positive_int, default=10)
    b.add_argument("--repeats", type=positive_int, default=2, help="rounds; each seed count keeps its fastest")
    # The benchmark's targets are for the whole machine: by default torch uses every core
    # (S = 1 runs as fast with 2 threads as with 1; the batched S = 32 updates gain).
    b.set_defaults(func=bench_main, threads=cpu_cores())


def config_from_args(args: argparse.Namespace, **overrides) -> DQNConfig:
    return DQNConfig(
        tasks=tuple(args.tasks), shared_width=args.width, input_width=args.input_width,
        replay_capacity=args.replay_capacity, learning_starts=args.learning_starts, batch_size=args.batch_size,
        learning_rate=args.learning_rate, target_update_every=args.target_update,
        epsilon_decay_steps=args.epsilon_decay_steps, double=args.double, **overrides)


def main(args: argparse.Namespace) -> int:
    started = time.time()
    torch.set_num_threads(args.threads)
    if args.epochs < 0:
        raise ConfigError(f"--epochs must be >= 0, got {args.epochs}")
    config = config_from_args(args, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                              test_steps=args.test_steps)
    device = resolve_device(args.device)
    out = check_writable(args.out)
    result = run_dqn(config, args.seeds, device)
    prov = provenance(config_record(config), describe_device(device), started, seeds=list(args.seeds),
                      failed_seeds=result.failed_seeds,
                      diverged_at_epoch={str(k): v for k, v in result.diverged.items()})
    write_results(out, result.rows, prov)
    failed = result.failed_seeds
    print(f"{config.algorithm}: wrote {len(result.rows)} rows to {out}"
          + (f"; diverged seeds: {failed}" if failed else ""))
    return 0


def bench_main(args: argparse.Namespace) -> int:
    from mtrl_bench.bench.dqn import bench_dqn, format_table

    torch.set_num_threads(args.threads)
    config = config_from_args(args)
    device = resolve_device(args.device)
    rows = bench_dqn(args.seed_counts, steps=args.steps, warmup=args.warmup, repeats=args.repeats,
                     config=config, device=device)
    print(f"{config.algorithm} learning loop, tasks {'+'.join(config.tasks)}, width {config.shared_width}, "
          f"batch {config.batch_size}/task, {describe_device(device)}, {args.steps} steps x {args.repeats} rounds",
          file=sys.stderr)
    print(format_table(rows))
    return 0
