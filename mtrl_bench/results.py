"""The tidy long results format, its provenance header and atomic writes.

A results file is a CSV whose first line is ``# mtrl-bench-provenance: {json}`` and whose body has
the columns of :data:`COLUMNS`: one row per (task, seed, step, metric). The provenance holds the
config, seeds, package version, git commit, device, wall time and any failures. Files are written
to a temporary name in the destination folder and renamed into place, so an interrupted job never
leaves a file that looks complete.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from mtrl_bench import __version__
from mtrl_bench.checksums import sha256_bytes
from mtrl_bench.errors import ConfigError, warn

COLUMNS = ["experiment", "algorithm", "variants", "n_tasks", "task", "width", "seed", "step", "metric", "value"]
PROVENANCE_PREFIX = "# mtrl-bench-provenance: "
TABLE_PREFIX = "# mtrl-bench-table: "
ROWS_KEY, SHA_KEY = "rows", "rows_sha256"
"""Header fields of a results file or table: its number of rows, and the SHA-256 of every byte after
the header line (the column line and the rows)."""


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


def _umask() -> int:
    """The process's umask (read without changing it where /proc says it; Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def output_target(path: str | os.PathLike) -> Path:
    """Where a write to ``path`` lands: a symlink is followed to its target (the link stays, the target is
    replaced); a ConfigError when that is an existing non-regular file (a folder, device, FIFO, socket)."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return path
    except OSError as err:
        raise ConfigError(f"cannot inspect the output {path}: {err.strerror}") from err
    for test, kind in _KINDS:
        if test(mode):
            hint = f"give a file name such as {path}/run.csv" if kind == "a folder" else "choose a file name"
            raise ConfigError(f"output {path} is {kind}: mtrl-bench writes only regular files; {hint}")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"output {path} is not a regular file: mtrl-bench writes only regular files")
    return path


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, before any work, when ``path`` cannot be written: its folder is created, a probe file is
    created and removed there, and an existing ``path`` must be a regular file (a symlink is followed).
    Returns the path the write will land on."""
    path = output_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the output folder {path.parent}: {err.strerror}") from err
    if not path.parent.is_dir():
        raise ConfigError(f"output folder {path.parent} is not a folder: choose another output")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ConfigError(f"cannot write {path}: creating a file in {path.parent} fails "
                          f"({err.strerror}); choose another output") from err
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[IO], Any], binary: bool = False) -> Path:
    """Call ``write(handle)`` on a temporary file in the destination folder, then rename it into place,
    so that an interrupted write never leaves a file that looks complete.

    Only regular files are written (:func:`output_target`: a symlink is followed, a device, FIFO or folder
    refused); the file gets the mode of an ordinary new file (0666 less the umask: 0644 under 022).
    """
    path = output_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise ConfigError(f"cannot write {path}: {err.strerror}; choose another output") from err
    try:
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            os.fchmod(handle.fileno(), 0o666 & ~_umask())
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


def write_checked_csv(path: str | os.PathLike, frame: pd.DataFrame, prefix: str, meta: dict[str, Any],
                      float_format: str = "%.9g") -> Path:
    """Write ``frame`` as CSV under one header line ``prefix + json(meta + rows + rows_sha256)``, atomically;
    :func:`read_checked_csv` checks it."""
    body = frame.to_csv(index=False, float_format=float_format, lineterminator="\n")
    record = {**meta, ROWS_KEY: len(frame), SHA_KEY: sha256_bytes(body.encode())}
    return atomic_write_text(path, prefix + json.dumps(record, sort_keys=True, default=str) + "\n" + body)


def write_results(path: str | os.PathLike, rows: pd.DataFrame | Iterable[dict], prov: dict[str, Any]) -> Path:
    """Write a tidy results table with its provenance header, atomically.

    The provenance also records ``rows`` (the number of rows) and ``rows_sha256`` (SHA-256 of every byte
    after the provenance line), which :func:`read_results` checks.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"results rows lack columns {missing}")
    frame = frame[COLUMNS]
    if not np.isfinite(frame["value"].to_numpy(dtype=float)).all():
        raise ValueError("results contain NaN or inf values: record divergence as a failure instead")
    return write_checked_csv(path, frame, PROVENANCE_PREFIX, prov)


def write_table(path: str | os.PathLike, frame: pd.DataFrame, meta: dict[str, Any] | None = None) -> Path:
    """Write a derived tidy table (e.g. all runs of an experiment), atomically, under a ``TABLE_PREFIX``
    header line holding ``meta``, its row count and the checksum of its rows (read by :func:`read_table`)."""
    return write_checked_csv(path, frame, TABLE_PREFIX, dict(meta or {}))


def _read_text(path: Path, what: str) -> str:
    if not path.exists():
        raise ConfigError(f"{what} {path} does not exist")
    if not path.is_file():
        raise ConfigError(f"{what} {path} is not a regular file")
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read {what} {path}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is damaged or not a {what}: byte {err.start} is not text") from err


def _header(path: Path, first: str, prefix: str, what: str) -> dict[str, Any]:
    try:
        record = json.loads(first[len(prefix):])
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: the header line of this {what} is mangled ({err.msg}, character "
                          f"{err.pos + len(prefix)}): rerun the job that writes it") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{path}: the header line of this {what} is mangled (not a JSON object): rerun the job "
                          "that writes it")
    return record


def _check_rows(path: Path, body: str, record: dict[str, Any], what: str) -> None:
    """The row count and checksum of ``record`` against ``body``; files of older versions carry neither."""
    if ROWS_KEY not in record and SHA_KEY not in record:
        warn(f"{path}: a {what} of an older mtrl-bench, without a row count and checksum: its rows are "
             "checked for shape and type only; rerun the job for a checked file")
        return
    expected = record.get(ROWS_KEY)
    if not isinstance(expected, int) or isinstance(expected, bool) or not isinstance(record.get(SHA_KEY), str):
        raise ConfigError(f"{path}: the header line of this {what} is mangled (its '{ROWS_KEY}' or '{SHA_KEY}' "
                          "field is missing or not valid): rerun the job that writes it")
    if sha256_bytes(body.encode()) != record[SHA_KEY]:
        found = max(body.count("\n") - 1, 0)
        raise ConfigError(f"{path} fails its checksum: the rows were altered or the file is truncated "
                          f"({found} lines of rows found, {expected} written); rerun the job that writes it")


def _parse_rows(path: Path, body: str, columns: list[str], first_line: int,
                dtypes: dict[str, Any]) -> pd.DataFrame:
    """The CSV ``body`` as a table, refusing a missing column, a row of the wrong length or a bad value."""
    lines = body.splitlines()
    if not lines or not lines[0].strip():
        raise ConfigError(f"{path} has no column line: the file is empty or truncated; rerun the job that writes it")
    header = next(csv.reader([lines[0]]))
    missing = [c for c in columns if c not in header]
    if missing:
        raise ConfigError(f"{path} lacks columns {missing} (line {first_line}): damaged (a results file that lost "
                          "its provenance line?), or not an mtrl-bench table")
    for number, fields in enumerate(csv.reader(lines[1:]), start=first_line + 1):
        if len(fields) != len(header):
            raise ConfigError(f"{path}: line {number} has {len(fields)} fields, not {len(header)} (a garbled row, "
                              "or the file is truncated mid-row); rerun the job that writes it")
    try:
        frame = pd.read_csv(io.StringIO(body), dtype=dtypes)
    except (pd.errors.ParserError, ValueError) as err:
        raise ConfigError(f"{path} is not a readable table ({type(err).__name__}: "
                          f"{' '.join(str(err).split())[:120]})") from None
    for column, kind in (("n_tasks", "integer"), ("width", "integer"), ("seed", "integer"), ("step", "integer"),
                         ("value", "number")):
        if column not in frame.columns:
            continue
        values = frame[column]
        ok = pd.api.types.is_integer_dtype(values) if kind == "integer" else pd.api.types.is_numeric_dtype(values)
        if kind == "number" and ok:
            ok = bool(np.isfinite(values.to_numpy(dtype=float)).all())
        if not ok:
            parsed = pd.to_numeric(values, errors="coerce")
            bad = ~np.isfinite(parsed.to_numpy(dtype=float))
            if kind == "integer":
                bad |= parsed.to_numpy(dtype=float) % 1 != 0
            row = int(np.argmax(bad)) if bad.any() else 0
            raise ConfigError(f"{path}: line {row + first_line + 1}: {column} {str(values.iloc[row])[:40]!r} is not "
                              f"a finite {kind}; rerun the job that writes it")
    return frame


_RESULT_DTYPES = {"experiment": str, "variants": str, "task": str, "algorithm": str, "metric": str}


def read_checked_csv(path: str | os.PathLike, prefix: str, what: str, columns: list[str],
                     dtypes: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``(table, header)`` of a file written by :func:`write_checked_csv`; anything wrong (no or a mangled
    header, rows that fail the checksum or count, a row of the wrong length, a non-numeric or non-finite
    value in a tidy numeric column) is a one-line ConfigError naming the file and ``what`` it is. A file
    whose header has neither ``rows`` nor ``rows_sha256`` (older versions) is read with a warning."""
    path = Path(path)
    text = _read_text(path, what)
    first, newline, body = text.partition("\n")
    if not first.startswith(prefix):
        raise ConfigError(f"{path} has no header line ({prefix.strip()} ...): not an mtrl-bench {what}, or its "
                          "first line was lost")
    record = _header(path, first, prefix, what)
    _check_rows(path, body, record, what)
    frame = _parse_rows(path, body, columns, 2, dtypes)
    if ROWS_KEY in record and len(frame) != record[ROWS_KEY]:
        raise ConfigError(f"{path} holds {len(frame)} rows, its header says {record[ROWS_KEY]}: damaged; rerun the "
                          "job that writes it")
    return frame, record


def read_results(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a results file: ``(tidy table, provenance)``, checked.

    A missing or mangled provenance line, a checksum or row count that does not match, a row of the wrong
    length, a non-numeric or non-finite value: a one-line :class:`ConfigError` naming the file. A file of an
    older version without ``rows``/``rows_sha256`` is read with a one-line warning (see docs/integrity.md).
    """
    return read_checked_csv(path, PROVENANCE_PREFIX, "results file", COLUMNS, _RESULT_DTYPES)


def read_table(path: str | os.PathLike, dtypes: dict[str, Any] | None = None,
               columns: list[str] = COLUMNS) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a table written by :func:`write_table`: ``(table, header)``, checked as :func:`read_results`."""
    return read_checked_csv(path, TABLE_PREFIX, "table", columns, {**_RESULT_DTYPES, **(dtypes or {})})


def read_plain_table(path: str | os.PathLike, columns: list[str] = COLUMNS, what: str = "table",
                     dtypes: dict[str, Any] | None = None, warn_unchecked: bool = True) -> pd.DataFrame:
    """A headerless CSV table, its rows checked for shape and type (one-line ConfigError otherwise); with
    ``warn_unchecked``, a one-line warning that nothing checks its bytes (a table of an older version)."""
    path = Path(path)
    body = _read_text(path, what)
    frame = _parse_rows(path, body, columns, 1, {**_RESULT_DTYPES, **(dtypes or {})})
    if warn_unchecked:
        warn(f"{path}: a {what} without a checksum (an older version wrote it, or it was made by hand): its rows "
             "are checked for shape and type only; rewrite it with this version")
    return frame


def has_header(path: str | os.PathLike, prefix: str) -> bool:
    """Whether the file's first line starts with ``prefix`` (False when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return handle.readline(len(prefix)) == prefix.encode()
    except OSError:
        return False


def header_kind(path: str | os.PathLike) -> str | None:
    """``"results"`` (a results file), ``"table"`` (:func:`write_table`) or None, from the file's first line."""
    if has_header(path, PROVENANCE_PREFIX):
        return "results"
    if has_header(path, TABLE_PREFIX):
        return "table"
    return None
