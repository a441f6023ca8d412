"""``mtrl-bench run <experiment>``: one command shape for every experiment.

Each experiment module ``mtrl_bench.experiments.<name>`` exports ``EXPERIMENT``, a frozen ``Config``
dataclass (the vocabulary: its field names are the YAML keys and, with dashes, the CLI flags) and
``run(config, seeds, device, progress=None) -> RunResult``. The command builds the config from an
optional ``--config`` YAML file overridden by the flags given, validates it once, runs every seed in
one process and writes the tidy results with their provenance atomically.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Mapping
from types import ModuleType

import torch

from mtrl_bench import config as cfg
from mtrl_bench.device import describe_device, resolve_device
from mtrl_bench.errors import ConfigError
from mtrl_bench.results import check_writable, provenance, write_results

# Experiments with a `run` command, by module name under mtrl_bench.experiments.
EXPERIMENTS = ["fqi", "dqn", "testbed", "ddpg", "transfer", "similarity", "coh_similarity", "depth", "imbalance"]


def experiment_module(name: str) -> ModuleType | None:
    """The experiment's module, or None when this checkout does not have it."""
    try:
        return importlib.import_module(f"mtrl_bench.experiments.{name}")
    except ModuleNotFoundError as err:
        if err.name == f"mtrl_bench.experiments.{name}":
            return None
        raise


def register(groups: dict) -> None:
    for name in EXPERIMENTS:
        module = experiment_module(name)
        if module is None or not hasattr(module, "Config") or name in groups["run"].choices:
            continue
        doc = (module.__doc__ or name).strip().splitlines()[0]
        p = groups["run"].add_parser(name, help=doc, description=doc)
        p.add_argument("--config", metavar="FILE", default=None,
                       help=f"YAML file of {name} hyper-parameters (a mapping of field names, a file with a "
                            f"'{name}' section, or a whole workflow config: its {name}.params); flags given on the "
                            f"command line override it")
        cfg.add_arguments(p, module.Config)
        p.add_argument("--seeds", type=int, nargs="*", default=[0], help="seeds, all trained at once (default 0)")
        p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
        p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
        p.add_argument("--out", required=True, help="tidy results CSV (written atomically, checked writable before "
                                                    "any work; a symlink is followed to its target; a device, "
                                                    "FIFO or folder is refused)")
        p.set_defaults(func=lambda args, module=module: main(module, args))


def config_file_params(path: str, name: str) -> dict:
    """The hyper-parameters in a ``--config`` file: a mapping of field names, a file with a ``<name>``
    section of them, or a whole workflow config (workflow/config/*.yaml), whose experiment section
    (``<name>``, or ``ablation_<name>`` for an ablation study) holds them under ``params``; its ``sweep``
    and ``seeds`` are the workflow's (give them as flags: ``--shared-width 30 --seeds 0 1``)."""
    data = cfg.load_yaml_section(path)
    workflow = "results_dir" in data or any(isinstance(v, Mapping) and "params" in v for v in data.values())
    if not workflow:
        section = data.get(name)
        return dict(section) if isinstance(section, Mapping) else data
    section = next((data[key] for key in (name, f"ablation_{name}") if isinstance(data.get(key), Mapping)), {})
    params = section.get("params") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"config file {path}: {name}.params must be a mapping of field names to values")
    return dict(params)


def check_seeds(seeds: list[int]) -> list[int]:
    if not seeds:
        raise ConfigError("the seed list is empty: give at least one seed (--seeds)")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds repeat in {seeds}: give each seed once")
    if min(seeds) < 0:
        raise ConfigError(f"seeds must be >= 0, got {seeds}")
    return list(seeds)


def main(module: ModuleType, args: argparse.Namespace) -> int:
    started = time.time()
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    name = module.EXPERIMENT
    base = config_file_params(args.config, name) if args.config else {}
    config = cfg.from_args(module.Config, args, base, where=name)
    seeds = check_seeds(args.seeds)
    device = resolve_device(args.device)
    out = check_writable(args.out)
    result = module.run(config, seeds, device)
    prov = provenance(cfg.record(config), describe_device(device), started, experiment=name, seeds=seeds,
                      failed_seeds={str(k): v for k, v in result.failed_seeds.items()}, **result.extra)
    write_results(out, result.rows, prov)
    failed = sorted(result.failed_seeds)
    print(f"{name}: wrote {len(result.rows)} rows to {out}" + (f"; diverged seeds: {failed}" if failed else ""))
    return 0
