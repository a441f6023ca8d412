# Config validation, paths, and the sweep's job lists. The library never sees Snakemake: every rule
# calls the `mtrl-bench` CLI or an `analysis` module CLI in a shell directive.
import os
import sys

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

# Jobs call the CLI of the Python that runs Snakemake (e.g. .venv/bin when started by `make run`).
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

R = config["results_dir"]
DEVICE = config["device"]
THREADS = config["threads_per_job"] if "threads_per_job" in config else 1
ON_GPU = DEVICE.startswith("cuda")


def seed_batches(section):
    """Seed ranges "first-last" of at most seed_batch_size seeds each."""
    first, count = section["seeds"]["first"], section["seeds"]["count"]
    size = section["seed_batch_size"]
    return [f"{s}-{min(s + size, first + count) - 1}" for s in range(first, first + count, size)]


def seed_list(batch):
    low, high = (int(x) for x in batch.split("-"))
    return " ".join(str(s) for s in range(low, high + 1))


def job_resources(section):
    """Per-job resources; a GPU is requested only when the config's device is cuda."""
    res = dict(section.get("resources", {}))
    if ON_GPU:
        res["gpu"] = 1
    return res
