"""``mtrl-bench run fqi``: multi-task FQI on Car-On-Hill variants, all seeds in one process."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from mtrl_bench.algos.fqi import FQIConfig, run_fqi
from mtrl_bench.device import describe_device, resolve_device
from mtrl_bench.errors import ConfigError
from mtrl_bench.results import check_writable, provenance, write_results
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.datasets import DatasetSpec
from mtrl_bench.tasks.car_on_hill.qstar import q_star_table, read_q_star_csv, write_q_star_csv


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def register(groups: dict) -> None:
    p = groups["run"].add_parser("fqi", help="multi-task FQI on Car-On-Hill variants")
    p.add_argument("--variants", nargs="+", default=None,
                   help="variants by index (0-15) or name; default: the paper's nested set of --n-tasks")
    p.add_argument("--n-tasks", type=positive_int, default=None, help="use the paper's nested set of T tasks")
    p.add_argument("--width", type=positive_int, default=30, help="shared layer width (units)")
    p.add_argument("--input-width", type=positive_int, default=30, help="task input map width (units)")
    p.add_argument("--seeds", type=int, nargs="*", default=[0], help="seeds, all trained at once")
    p.add_argument("--iterations", type=positive_int, default=50, help="FQI iterations K")
    p.add_argument("--max-fit-steps", type=positive_int, default=None,
                   help="cap on Adam steps per iteration (default: the paper's uncapped patience rule)")
    p.add_argument("--patience", type=positive_int, default=100)
    p.add_argument("--tolerance", type=float, default=1e-6)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--holdout-fraction", type=float, default=0.1,
                   help="fraction of each task's episodes held out to measure approx_error")
    p.add_argument("--dataset-seed", type=int, default=0)
    p.add_argument("--dataset-grid", type=positive_int, default=17)
    p.add_argument("--p-plus", type=float, default=0.77, help="behaviour policy's probability of action +a")
    p.add_argument("--data-dir", default="results/data/datasets", help="dataset cache folder")
    p.add_argument("--qstar-dir", default="results/data/qstar",
                   help="folder of <variant>.csv Q* tables; missing ones are computed and cached there")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    p.add_argument("--out", required=True, help="tidy results CSV")
    p.set_defaults(func=main)

    b = groups["bench"].add_parser("fqi", help="MFQI speed: per-seed iteration time, FLOP rate, Q*, projection")
    b.add_argument("--seeds", type=positive_int, nargs="+", default=[1, 10, 100], help="batch sizes S")
    b.add_argument("--tasks", type=positive_int, nargs="+", default=[1, 8], help="task counts T")
    b.add_argument("--width", type=positive_int, default=30)
    b.add_argument("--steps", type=positive_int, default=20, help="timed Adam steps per point")
    b.add_argument("--skip-qstar", action="store_true", help="skip (c), the exact Q* of all 16 variants")
    b.add_argument("--workers", type=positive_int, default=None, help="processes for (c); default: cores")
    b.add_argument("--device", default="auto")
    b.set_defaults(func=bench)


def bench(args: argparse.Namespace) -> int:
    from mtrl_bench.bench import fqi as fqi_bench

    fqi_bench.run(resolve_device(args.device), args.seeds, args.tasks, args.width, args.steps,
                  not args.skip_qstar, args.workers or fqi_bench.default_workers())
    return 0


def config_from_args(args: argparse.Namespace) -> FQIConfig:
    if args.variants is None:
        variants = [str(coh.VARIANTS.index(p)) for p in coh.nested_task_set(args.n_tasks or 1)]
    elif args.n_tasks is not None and args.n_tasks != len(args.variants):
        raise ConfigError(f"--n-tasks {args.n_tasks} disagrees with {len(args.variants)} --variants")
    else:
        variants = args.variants
    variants = [coh.variant(v).name for v in variants]
    return FQIConfig(
        variants=variants, seeds=list(args.seeds), shared_width=args.width, input_width=args.input_width,
        iterations=args.iterations, learning_rate=args.learning_rate, patience=args.patience,
        tolerance=args.tolerance, max_fit_steps=args.max_fit_steps, holdout_fraction=args.holdout_fraction,
        dataset=DatasetSpec(grid_size=args.dataset_grid, p_plus=args.p_plus, seed=args.dataset_seed),
        data_dir=args.data_dir, device=args.device)


def load_q_star(variants: list[str], qstar_dir: str | None) -> dict:
    tables = {}
    for name in variants:
        path = Path(qstar_dir) / f"{name}.csv" if qstar_dir else None
        if path is not None and path.is_file():
            tables[name] = read_q_star_csv(path)
            continue
        print(f"fqi: computing exact Q* for {name} (cached at {path})", file=sys.stderr)
        table = q_star_table(coh.variant(name))
        if path is not None:
            write_q_star_csv(path, table)
        tables[name] = table["q_star"]
    return tables


def main(args: argparse.Namespace) -> int:
    started = time.time()
    torch.set_num_threads(args.threads)
    config = config_from_args(args)
    config.validate()
    device = resolve_device(config.device)
    out = check_writable(args.out)
    q_star = load_q_star(config.variants, args.qstar_dir)
    rows, extra = run_fqi(config, q_star, log=lambda msg: print(msg, file=sys.stderr))
    prov = provenance(extra.pop("config_resolved"), describe_device(device), started, seeds=config.seeds, **extra)
    write_results(out, rows, prov)
    failed = extra["failed_seeds"]
    print(f"fqi: wrote {len(rows)} rows to {out}" + (f"; diverged seeds: {failed}" if failed else ""))
    return 0
