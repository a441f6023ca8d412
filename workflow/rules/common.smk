# Shared by every experiment's rules: config validation, paths, the job check, resources, and the list
# of final targets (the job planning itself is mtrl_bench.experiments.planning). The library never sees
# Snakemake: every rule calls the `mtrl-bench` CLI or an `analysis` module CLI in a shell directive.
# Experiment files (fqi.smk, dqn.smk, ...) use only what is defined here, so they can be included
# in any order; each registers its final outputs with `add_targets`.
import os
import re
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from mtrl_bench import config as hyper
# Job planning (task sets, seed batches, sweep points, transfer cases, each run's argument list) lives in
# the package as plain, tested functions; the rules only expand it into file names and shell commands.
from mtrl_bench.experiments.planning import (experiment_config, grid, run_args, run_files, seed_batches, seed_list,
                                             sweep_points)

# `--config 'fqi={params: {learning_rate: 0.1}}'` delivers nested values as strings: read them as YAML
# scalars first, then validate the workflow's own keys against the schema.
config.update(hyper.parse_scalars(config))
try:
    validate(config, "../schemas/config.schema.yaml")
except WorkflowError as err:  # one line naming the key, not the whole schema and config (up to 322 lines)
    _cause = err.__context__  # the jsonschema ValidationError
    if not hasattr(_cause, "absolute_path"):
        raise
    raise ValueError(f"config error: {'.'.join(map(str, _cause.absolute_path)) or 'top level'}: "
                     f"{_cause.message}") from None

# Jobs call the CLI of the Python that runs Snakemake (e.g. .venv/bin when started by `make run`).
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

R = config["results_dir"]
DEVICE = config["device"]
THREADS = config.get("threads_per_job", 1)
ON_GPU = DEVICE.startswith("cuda")
FIG = f"{R}/figures"
TAB = f"{R}/tables"
A = config["analysis"]
BOOT = f"--n-boot {A['n_boot']} --seed {A['seed']} --ci {A['ci']}"

_TARGETS = {}


def add_targets(experiment, paths):
    """Register an experiment's final outputs (the default target builds all of them)."""
    _TARGETS.setdefault(experiment, []).extend(paths)


def final_targets():
    """Every registered final output, experiment by experiment."""
    return [path for experiment in sorted(_TARGETS) for path in _TARGETS[experiment]]


def enabled(name):
    """An experiment runs when its section is present and not switched off (`enabled: false`)."""
    section = config.get(name)
    return isinstance(section, dict) and section.get("enabled", True)


def one_of(labels):
    """A wildcard constraint that matches exactly these labels (sweep points)."""
    return "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True)) or "^$"


def check_jobs(name, jobs, section=None):
    """Build every job's config before anything runs, so a bad value fails the dry run naming the key.

    ``jobs``: (sweep point, fixed fields) pairs, e.g. ``grid(points, kinds)``; ``section`` defaults to
    the experiment's own config section.
    """
    section = config[name] if section is None else section
    for point, fixed in jobs:
        experiment_config(name, section, point, **fixed)


def job_resources(section):
    """Per-job resources; a GPU is requested only when the config's device is cuda."""
    res = dict(section.get("resources", {}))
    res.pop("runtime_by_task_set", None)  # read by runtime_of_task_set
    if ON_GPU:
        res["gpu"] = 1
    return res


def runtime_of_task_set(section, task_set):
    """Minutes for a job of ``task_set`` ("T8_nested" -> resources.runtime_by_task_set.T8, else runtime)."""
    res = section.get("resources", {})
    return res.get("runtime_by_task_set", {}).get(task_set.split("_")[0], res.get("runtime", 60))
