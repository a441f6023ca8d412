"""``mtrl-bench bench <name>``: speed figures, each a ratio against a baseline measured in the same run."""

from __future__ import annotations

import argparse
import sys

import torch

from mtrl_bench import config as cfg
from mtrl_bench.device import cpu_cores, describe_device, resolve_device


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def register(groups: dict) -> None:
    b = groups["bench"].add_parser("fqi", help="MFQI fit speed vs sgemm peak and the authors' way; Q*; projection")
    b.add_argument("--seeds", type=positive_int, nargs="+", default=[1, 10, 100], help="batch sizes S")
    b.add_argument("--tasks", type=positive_int, nargs="+", default=[1, 8], help="task counts T")
    b.add_argument("--width", type=positive_int, default=30)
    b.add_argument("--steps", type=positive_int, default=20, help="timed Adam steps per point")
    b.add_argument("--skip-qstar", action="store_true", help="skip (c), the exact Q* of all 16 variants")
    b.add_argument("--workers", type=positive_int, default=None, help="processes for (c); default: cores")
    b.add_argument("--kernels", nargs="+", choices=["autograd", "fused", "native"],
                   default=["autograd", "fused", "native"],
                   help="fit kernels to time (default all; native only on a CPU with a C compiler)")
    b.add_argument("--project", choices=["paper"], default=None,
                   help="measure only what the projection needs and print the paper sweep's wall time and each "
                        "job's resources on this device")
    b.add_argument("--skip-dynamics", action="store_true", help="skip the Car-On-Hill step benchmark")
    b.add_argument("--profile", choices=["measured", "authors"], default="measured",
                   help="steps per FQI iteration for the projection: measured (the shipped fqi_fit_steps.csv, or "
                        "--profile-runs) or the authors' figures")
    b.add_argument("--profile-runs", nargs="+", default=None, metavar="CSV",
                   help="FQI result files at the paper's settings whose fit_steps rows give the profile")
    b.add_argument("--rule-iterations", type=int, default=2,
                   help="FQI iterations per fit rule in (f), the paper's rule beside the fast one (0: skip)")
    b.add_argument("--device", default="auto")
    b.set_defaults(func=bench_fqi)

    from mtrl_bench.experiments import dqn

    d = groups["bench"].add_parser("dqn", help="learning-loop speed vs the batched updates alone, S = 1, 8, 32")
    cfg.add_arguments(d, dqn.Config)
    d.add_argument("--seed-counts", type=positive_int, nargs="+", default=[1, 8, 32])
    d.add_argument("--steps", type=positive_int, default=100, help="timed learning steps per round")
    d.add_argument("--warmup", type=positive_int, default=10)
    d.add_argument("--repeats", type=positive_int, default=2, help="rounds; each seed count keeps its fastest")
    d.add_argument("--device", default="auto")
    # The benchmark's targets are for the whole machine: by default torch uses every core.
    d.add_argument("--threads", type=positive_int, default=cpu_cores(), help="torch threads (default: every core)")
    d.set_defaults(func=bench_dqn)

    c = groups["bench"].add_parser("ddpg", help="MDDPG joint step: environment vs learner time, FLOP rate vs "
                                                "sgemm peak, env rate vs one bare env, paper-scale projection")
    c.add_argument("--group", default="pendulum_mujoco", help="task group (pendulum, pendulum_mujoco, walker)")
    c.add_argument("--tasks", nargs="*", default=[], help="a subset of the group's tasks (default: all)")
    c.add_argument("--seed-counts", type=positive_int, nargs="+", default=[1, 8, 40])
    c.add_argument("--steps", type=positive_int, default=20, help="timed joint steps per round")
    c.add_argument("--warmup", type=positive_int, default=3, help="untimed learning steps first")
    c.add_argument("--repeats", type=positive_int, default=2, help="rounds; each seed count keeps its fastest")
    c.add_argument("--input-width", type=positive_int, default=600)
    c.add_argument("--shared-width", type=positive_int, default=500)
    c.add_argument("--env-workers", type=int, default=0, help="environment worker processes (0: in-process)")
    c.add_argument("--device", default="auto")
    c.add_argument("--threads", type=positive_int, default=1, help="torch threads")
    c.set_defaults(func=bench_ddpg)


def bench_fqi(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mtrl_bench.bench import fqi as fqi_bench
    from mtrl_bench.bench import fqi_profile

    profiles = None
    if args.profile_runs:
        profiles = fqi_profile.read_runs([Path(p) for p in args.profile_runs], width=args.width)
    elif args.profile == "measured":
        profiles = fqi_profile.measured()
    fqi_bench.run(resolve_device(args.device), args.seeds, args.tasks, args.width, args.steps,
                  not args.skip_qstar, args.workers or fqi_bench.default_workers(), kernels=tuple(args.kernels),
                  project=args.project, dynamics=not args.skip_dynamics, profiles=profiles,
                  rule_iterations=max(0, args.rule_iterations))
    return 0


def bench_dqn(args: argparse.Namespace) -> int:
    from mtrl_bench.bench.dqn import bench_dqn as measure
    from mtrl_bench.bench.dqn import format_table
    from mtrl_bench.experiments import dqn

    torch.set_num_threads(args.threads)
    config = cfg.from_args(dqn.Config, args, where="dqn")
    device = resolve_device(args.device)
    rows = measure(args.seed_counts, steps=args.steps, warmup=args.warmup, repeats=args.repeats,
                   config=config, device=device)
    algorithm = "mdqn" if len(config.tasks) > 1 else "dqn"
    print(f"{algorithm} learning loop, tasks {'+'.join(config.tasks)}, width {config.shared_width}, "
          f"batch {config.batch_size}/task, {describe_device(device)}, {args.steps} steps x {args.repeats} rounds",
          file=sys.stderr)
    print(format_table(rows))
    return 0


def bench_ddpg(args: argparse.Namespace) -> int:
    from mtrl_bench.bench import ddpg as ddpg_bench

    torch.set_num_threads(args.threads)
    ddpg_bench.run(group=args.group, tasks=args.tasks, seed_counts=args.seed_counts, steps=args.steps,
                   warmup=args.warmup, repeats=args.repeats, input_width=args.input_width,
                   shared_width=args.shared_width, env_workers=args.env_workers,
                   device=resolve_device(args.device))
    return 0
