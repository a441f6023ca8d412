# Shared by every experiment's rules: config validation, paths, seed batches, sweep points, the
# generated argument list of a run, resources, and the list of final targets. The library never sees
# Snakemake: every rule calls the `mtrl-bench` CLI or an `analysis` module CLI in a shell directive.
# Experiment files (fqi.smk, dqn.smk, ...) use only what is defined here, so they can be included
# in any order; each registers its final outputs with `add_targets`.
import os
import re
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from mtrl_bench import config as hyper
from mtrl_bench.errors import ConfigError

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


def seed_batches(section):
    """Seed ranges "first-last" of at most seed_batch_size seeds each."""
    first, count = section["seeds"]["first"], section["seeds"]["count"]
    size = section.get("seed_batch_size", count)
    return [f"{s}-{min(s + size, first + count) - 1}" for s in range(first, first + count, size)]


def seed_list(batch):
    low, high = (int(x) for x in batch.split("-"))
    return " ".join(str(s) for s in range(low, high + 1))


# Short names of swept fields in run file names (w30 = shared width 30); other fields keep their name.
SHORT = {"shared_width": "w", "widths": "w", "input_map": ""}


def sweep_points(section):
    """{label: {field: value}} for every combination of the section's `sweep` lists (one job each).

    The label names the point in run file names, e.g. "w30" or "task_w5".
    """
    points = {"": {}}
    for field, values in section.get("sweep", {}).items():
        points = {(f"{label}_" if label else "") + f"{SHORT.get(field, field)}{value}": {**point, field: value}
                  for label, point in points.items() for value in values}
    return points


def one_of(labels):
    """A wildcard constraint that matches exactly these labels (sweep points)."""
    return "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True)) or "^$"


def experiment_config(name, section, point, **fixed):
    """(Config class, mapping, built config) of one run: the section's `params`, the sweep point and
    the job's fixed fields, validated by the experiment's dataclass (the one place values are checked)."""
    from importlib import import_module

    experiment = import_module(f"mtrl_bench.experiments.{name}")
    mapping = hyper.merge(hyper.merge(section.get("params", {}), point), fixed)
    try:
        built = hyper.build(experiment.Config, mapping, where=f"{name}.params")
    except ConfigError as err:
        raise ValueError(f"config error: {err}") from None
    return experiment.Config, mapping, built


def run_args(name, section, point, **fixed):
    """The generated `--field value ...` argument list of one run (the dataclass's vocabulary)."""
    cls, mapping, _ = experiment_config(name, section, point, **fixed)
    return hyper.to_cli_args(cls, mapping)


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
