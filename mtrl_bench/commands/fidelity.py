"""``mtrl-bench fidelity fqi``: MFQI at the paper's settings, beside the published means.

Writes ``<outdir>/fqi_T<T>.csv`` (rewritten after every iteration) and ``<outdir>/fqi_fidelity.{csv,md,tex}``.

Design notes: docs/experiments.md#fidelity-fqi-settings-and-outputs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from mtrl_bench import config as cfg
from mtrl_bench.algos.fqi import FIT_RULES
from mtrl_bench.commands.run import check_seeds
from mtrl_bench.device import describe_device, resolve_device
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments import fqi
from mtrl_bench.experiments.runner import RunResult
from mtrl_bench.results import check_writable, provenance, write_results
from mtrl_bench.tasks.car_on_hill import dynamics as coh

PAPER_TASK_COUNTS = (1, 2, 4, 8)
PAPER_SETTINGS = {"shared_width": 30, "input_width": 30, "learning_rate": 1e-3, "patience": 100, "tolerance": 1e-6,
                  "max_fit_steps": None, "approx_error_data": "held_out_set", "record_authors_qstar": True,
                  "dataset": {"policy": "epsilon_greedy"}}
"""The paper's FQI settings (Sec. 5.1 and its published code), as fields of
:class:`mtrl_bench.experiments.fqi.Config`."""
FIT_PATHS = {kernel: {"fit_kernel": kernel, "fit_sync_every": 100, "fit_repack_every": 500}
             for kernel in ("fused", "native", "auto", "autograd")}
"""How the fit's steps run (never what they compute): fused/native/auto = fast, autograd = reference arithmetic."""
DEFAULT_SEEDS = list(range(12))


def run_path(outdir: str | Path, n_tasks: int) -> Path:
    """``<outdir>/fqi_T<n_tasks>.csv``."""
    return Path(outdir) / f"fqi_T{n_tasks}.csv"


def paper_config(n_tasks: int, iterations: int, fit_kernel: str = "fused", dataset_dir: str | None = None,
                 data_dir: str | None = "results/data/datasets",
                 qstar_dir: str | None = "results/data/qstar", fit_rule: str = "paper") -> fqi.Config:
    """The FQI config of the paper's nested task set of size ``n_tasks`` at the paper's settings (with
    ``fit_rule`` fast: the same but Adam's step, see :data:`mtrl_bench.algos.fqi.FIT_RULES`)."""
    if n_tasks not in PAPER_TASK_COUNTS:
        raise ConfigError(f"the authors ran T = {list(PAPER_TASK_COUNTS)}, got --n-tasks {n_tasks}")
    if fit_kernel not in FIT_PATHS:
        raise ConfigError(f"--fit-kernel must be one of {list(FIT_PATHS)}, got {fit_kernel!r}")
    mapping = {**PAPER_SETTINGS, **FIT_PATHS[fit_kernel], "iterations": iterations,
               "variants": [p.name for p in coh.nested_task_set(n_tasks)], "dataset_dir": dataset_dir,
               "data_dir": data_dir, "qstar_dir": qstar_dir, "fit_rule": fit_rule}
    return cfg.build(fqi.Config, mapping, where="fidelity")


def run_one(config: fqi.Config, seeds: list[int], device: torch.device, out: Path) -> RunResult:
    """Run ``config`` for ``seeds``, rewriting ``out`` (results + provenance) after every iteration."""
    started = time.time()

    def write(k: int, result: RunResult) -> None:
        prov = provenance(cfg.record(config), describe_device(device), started, experiment=fqi.EXPERIMENT,
                          seeds=seeds, failed_seeds={str(s): v for s, v in result.failed_seeds.items()},
                          iterations_done=k, **result.extra)
        write_results(out, result.rows, prov)

    return fqi.run(config, seeds, device, on_iteration=write)


def register(groups: dict) -> None:
    top = groups["top"].add_parser("fidelity", help="run an experiment at the paper's settings and compare it "
                                   "with the published results")
    sub = top.add_subparsers(dest="experiment", required=True, metavar="NAME")
    doc = (__doc__ or "").strip().splitlines()[0]
    p = sub.add_parser("fqi", help=doc, description=doc)
    add_arguments(p)
    p.set_defaults(func=main)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-tasks", type=int, nargs="+", default=[1, 2], help="task counts T, nested sets (default 1 2)")
    p.add_argument("--seeds", type=int, nargs="*", default=DEFAULT_SEEDS, help="seeds, trained at once per T "
                   "(default 0-11: a 95%% CI of about +-0.01 on avi_diff at iteration 1)")
    p.add_argument("--iterations", type=int, default=50, help="FQI iterations (default 50, the paper's)")
    p.add_argument("--fit-kernel", choices=sorted(FIT_PATHS), default="fused",
                   help="fused (fast, float32 round-off of the reference) or autograd (reference arithmetic)")
    p.add_argument("--fit-rule", choices=sorted(FIT_RULES), default="paper",
                   help="paper (Adam 1e-3, the fidelity target) or fast (Adam 1e-2, the same stopping rule)")
    p.add_argument("--dataset-dir", default=None, help="train on the authors' files <variant name>.pkl in this folder")
    p.add_argument("--data-dir", default="results/data/datasets", help="dataset cache folder")
    p.add_argument("--qstar-dir", default="results/data/qstar", help="exact Q* cache folder")
    p.add_argument("--outdir", default="results/fidelity", help="where fqi_T<T>.csv and fqi_fidelity.* go")
    p.add_argument("--table-only", action="store_true", help="do not run: build the table from the files there")
    p.add_argument("--no-table", dest="table", action="store_false", help="run only, no table")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")


def main(args: argparse.Namespace) -> int:
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    if args.iterations < 1:
        raise ConfigError(f"--iterations must be >= 1, got {args.iterations}")
    configs = {n: paper_config(n, args.iterations, args.fit_kernel, args.dataset_dir, args.data_dir, args.qstar_dir,
                             args.fit_rule)
               for n in args.n_tasks}
    paths = [run_path(args.outdir, n) for n in args.n_tasks]
    if not args.table_only:
        torch.set_num_threads(args.threads)
        seeds = check_seeds(list(args.seeds))
        device = resolve_device(args.device)
        for path in paths:
            check_writable(path)
        for config, path in zip(configs.values(), paths):
            run_one(config, seeds, device, path)
    if args.table:
        from analysis import fqi_fidelity  # the analysis side: tables of runs against the published summaries

        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise ConfigError(f"no results to compare: {', '.join(missing)} missing (run without --table-only)")
        print(fqi_fidelity.write(paths, args.outdir))
    return 0


if __name__ == "__main__":
    import sys

    parser = argparse.ArgumentParser(prog="python -m mtrl_bench.commands.fidelity fqi")
    add_arguments(parser)
    argv = sys.argv[1:]
    if argv[:1] == ["fqi"]:
        argv = argv[1:]
    try:
        sys.exit(main(parser.parse_args(argv)))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
