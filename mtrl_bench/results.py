"""The tidy long results format, its provenance header and atomic writes.

A results file is a CSV whose first line is ``# mtrl-bench-provenance: {json}`` and whose body has
the columns of :data:`COLUMNS`: one row per (task, seed, step, metric). The provenance holds the
config, seeds, package version, git commit, device, wall time and any failures. Files are written
to a temporary name in the destination folder and renamed into place, so an interrupted job never
leaves a file that looks complete.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from mtrl_bench import __version__
from mtrl_bench.errors import ConfigError

COLUMNS = ["experiment", "algorithm", "variants", "n_tasks", "task", "width", "seed", "step", "metric", "value"]
PROVENANCE_PREFIX = "# mtrl-bench-provenance: "


def git_commit(repo: Path | None = None) -> str:
    """The git commit of the source tree (``+dirty`` when it has uncommitted changes), or ``unknown``."""
    repo = repo or Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo, capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(config: dict[str, Any], device: str, started: float, **extra: Any) -> dict[str, Any]:
    """The provenance record: config, package version, git commit, device, wall time, host."""
    import torch

    record = {
        "config": config,
        "package": "mtrl-bench",
        "version": __version__,
        "git_commit": git_commit(),
        "device": device,
        "wall_time_s": round(time.time() - started, 3),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "host": platform.node(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
    }
    record.update(extra)
    return record


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, before any training, when ``path`` cannot be written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the output folder {path.parent}: {err.strerror}") from err
    if not os.access(path.parent, os.W_OK):
        raise ConfigError(f"output folder {path.parent} is not writable: choose another --out")
    if path.is_dir():
        raise ConfigError(f"--out {path} is a folder: give a file name such as {path}/run.csv")
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[IO], Any], binary: bool = False) -> Path:
    """Call ``write(handle)`` on a temporary file in the destination folder, then rename it into place,
    so that an interrupted write never leaves a file that looks complete."""
    path = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda handle: handle.write(text))


def write_results(path: str | os.PathLike, rows: pd.DataFrame | Iterable[dict], prov: dict[str, Any]) -> Path:
    """Write a tidy results table with its provenance header, atomically."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"results rows lack columns {missing}")
    frame = frame[COLUMNS]
    if not np.isfinite(frame["value"].to_numpy(dtype=float)).all():
        raise ValueError("results contain NaN or inf values: record divergence as a failure instead")
    header = PROVENANCE_PREFIX + json.dumps(prov, sort_keys=True, default=str) + "\n"
    return atomic_write_text(path, header + frame.to_csv(index=False, float_format="%.9g"))


def read_results(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a results file: ``(tidy table, provenance)``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"results file {path} does not exist")
    with open(path) as handle:
        first = handle.readline()
        if not first.startswith(PROVENANCE_PREFIX):
            raise ConfigError(f"{path} is not an mtrl-bench results file (no provenance header)")
        prov = json.loads(first[len(PROVENANCE_PREFIX):])
        frame = pd.read_csv(handle, dtype={"variants": str, "task": str, "algorithm": str})
    return frame, prov
