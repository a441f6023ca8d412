"""``mtrl-bench run testbed``: synthetic multi-task regression with a known truth (see experiments.testbed).

Example::

    mtrl-bench run testbed --n-tasks 1 2 4 8 16 32 --width 5 30 --seeds 0 1 2 3 4 \\
        --n-samples 50 --noise-std 0.1 --device auto --out results/runs/testbed.csv
"""

from __future__ import annotations

import argparse
import time

import torch

from mtrl_bench.device import describe_device, resolve_device
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments.testbed import INPUT_MAPS, SyntheticRegressionConfig, run_testbed
from mtrl_bench.results import check_writable, provenance, write_results

_DEFAULTS = SyntheticRegressionConfig()


def register(groups: dict) -> None:
    parser = groups["run"].add_parser("testbed", help="synthetic multi-task regression with known excess risk")
    parser.add_argument("--n-tasks", type=int, nargs="+", default=list(_DEFAULTS.task_counts),
                        help="task counts T; each must divide the largest (default 1 2 4 8 16 32)")
    parser.add_argument("--width", type=int, nargs="+", default=list(_DEFAULTS.widths),
                        help="learner widths (units of the input map and of the shared layer)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(_DEFAULTS.seeds),
                        help="seeds (teacher, data and initialisation), trained as a batch")
    parser.add_argument("--n-samples", type=int, default=_DEFAULTS.n_samples, help="training samples per task")
    parser.add_argument("--noise-std", type=float, default=_DEFAULTS.noise_std,
                        help="standard deviation of the label noise (target units)")
    parser.add_argument("--input-dim", type=int, default=_DEFAULTS.input_dim)
    parser.add_argument("--teacher-features", type=int, default=_DEFAULTS.teacher_features,
                        help="width of the teacher's shared representation")
    parser.add_argument("--n-test", type=int, default=_DEFAULTS.n_test, help="test samples per task")
    parser.add_argument("--epochs", type=int, default=_DEFAULTS.epochs, help="full-batch Adam steps")
    parser.add_argument("--learning-rate", type=float, default=_DEFAULTS.learning_rate)
    parser.add_argument("--activation", choices=["sigmoid", "tanh", "relu"], default=_DEFAULTS.activation)
    parser.add_argument("--input-map", choices=list(INPUT_MAPS), default=_DEFAULTS.input_map,
                        help="task: one input map per task (the paper); shared: one for all tasks")
    parser.add_argument("--log-every", type=int, default=_DEFAULTS.log_every, help="epochs between records")
    parser.add_argument("--complexity-draws", type=int, default=_DEFAULTS.complexity_draws,
                        help="Monte Carlo draws for the Gaussian complexities")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", required=True, help="tidy results CSV")
    parser.set_defaults(func=main)


def config_from_args(args: argparse.Namespace) -> SyntheticRegressionConfig:
    return SyntheticRegressionConfig(
        task_counts=tuple(args.n_tasks), widths=tuple(args.width), seeds=tuple(args.seeds),
        n_samples=args.n_samples, noise_std=args.noise_std, input_dim=args.input_dim,
        teacher_features=args.teacher_features, n_test=args.n_test, epochs=args.epochs,
        learning_rate=args.learning_rate, activation=args.activation, log_every=args.log_every,
        complexity_draws=args.complexity_draws, input_map=args.input_map)


def main(args: argparse.Namespace) -> int:
    started = time.time()
    config = config_from_args(args)
    device = resolve_device(args.device)
    out = check_writable(args.out)
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    rows = run_testbed(config, device)
    prov = provenance(config.as_dict(), describe_device(device), started, seeds=list(config.seeds),
                      noise_variance=config.noise_std**2)
    write_results(out, rows, prov)
    print(f"testbed: wrote {len(rows)} rows to {out}")
    return 0
