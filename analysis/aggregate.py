"""One table of all runs, failed runs set apart, and seeds aggregated by IQM with bootstrap CIs.

Failed runs keep their rows (column ``failed``); the bootstrap is rliable's scheme with an explicit
``numpy.random.Generator``.

Design notes: docs/analysis.md#runs-failed-runs-iqm.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rliable import metrics as rly_metrics
from scipy import stats

from mtrl_bench.errors import ConfigError
from mtrl_bench.random_streams import as_generator
from mtrl_bench.results import COLUMNS, header_kind, read_plain_table, read_results, read_table, write_table

RUN_KEYS = ["experiment", "algorithm", "variants", "n_tasks", "width", "seed"]
FAILURE_METRIC = "diverged"
AGGREGATE_TASKS = ("all", "mean")
_STR_COLUMNS = {"experiment": str, "algorithm": str, "variants": str, "task": str, "metric": str,
                "git_commit": str, "source": str}


def load_runs(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Read results files into one table: the tidy columns + ``git_commit``, ``source``, ``failed``.

    ``git_commit`` comes from each file's provenance, ``source`` is the file's name and ``failed``
    flags every row of a run that recorded a non-zero ``diverged`` metric.
    """
    frames = []
    for path in paths:
        frame, prov = read_results(path)
        frame["git_commit"] = str(prov.get("git_commit", "unknown"))
        frame["source"] = Path(path).name
        frames.append(frame)
    if not frames:
        raise ConfigError("no results files given: pass them with --runs")
    table = pd.concat(frames, ignore_index=True)
    return _flag_failed(table)


def _flag_failed(table: pd.DataFrame) -> pd.DataFrame:
    failures = table.loc[(table["metric"] == FAILURE_METRIC) & (table["value"] != 0), RUN_KEYS]
    failed_keys = set(map(tuple, failures.drop_duplicates().astype(str).to_numpy()))
    keys = map(tuple, table[RUN_KEYS].astype(str).to_numpy())
    table["failed"] = np.fromiter((key in failed_keys for key in keys), dtype=bool, count=len(table))
    return table


def load_any(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Rows of results files (with a provenance header) and/or all-runs tables, in one table."""
    frames = []
    for path in paths:
        if not Path(path).is_file():
            raise ConfigError(f"--runs: no such file {path}")
        frames.append(load_runs([path]) if header_kind(path) == "results" else read_all_runs(path))
    if not frames:
        raise ConfigError("no input files given: pass results files or all-runs tables with --runs")
    return pd.concat(frames, ignore_index=True)


def write_all_runs(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the all-runs table as CSV with a header line (row count, checksum), atomically."""
    return write_table(path, frame)


def read_all_runs(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table written by :func:`write_all_runs`, checked (:func:`mtrl_bench.results.read_table`); a
    headerless one of an older version needs the tidy columns and ``failed`` and is read with a warning."""
    if header_kind(path) == "table":
        frame = read_table(path, dtypes=_STR_COLUMNS)[0]
    else:
        frame = read_plain_table(path, [*COLUMNS, "failed"], "all-runs table", dtypes=_STR_COLUMNS)
    if "failed" not in frame.columns:
        frame = _flag_failed(frame)
    return frame


def split_failed(frame: pd.DataFrame, experiment: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(rows of runs that did not fail, one row per failed run with RUN_KEYS)``, of ``experiment`` only
    when given."""
    if experiment is not None:
        frame = frame.loc[frame["experiment"] == experiment]
    failed = frame["failed"].astype(bool) if "failed" in frame.columns else _flag_failed(frame)["failed"]
    ok = frame.loc[~failed & (frame["metric"] != FAILURE_METRIC)]
    failed_runs = frame.loc[failed, RUN_KEYS].drop_duplicates().reset_index(drop=True)
    return ok, failed_runs


def run_values(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One value of ``metric`` per run and step (columns ``RUN_KEYS + [step, value]``).

    Per-task rows are averaged over the run's tasks; a row for task ``all``/``mean`` is used as is.
    Failed runs must have been removed (see :func:`split_failed`).
    """
    rows = frame.loc[frame["metric"] == metric]
    if rows.empty:
        return pd.DataFrame(columns=[*RUN_KEYS, "step", "value"])
    is_aggregate = rows["task"].astype(str).str.lower().isin(AGGREGATE_TASKS)
    keys = [*RUN_KEYS, "step"]
    per_task = rows.loc[~is_aggregate].groupby(keys, sort=True, dropna=False)["value"].mean()
    given = rows.loc[is_aggregate].groupby(keys, sort=True, dropna=False)["value"].mean()
    # An explicit aggregate row wins over our own mean of the per-task rows.
    combined = given.combine_first(per_task) if not given.empty else per_task
    return combined.rename("value").reset_index()


def final_values(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The value of ``metric`` at each run's last recorded step (columns ``RUN_KEYS + [step, value]``)."""
    values = run_values(frame, metric)
    if values.empty:
        return values
    last = values.groupby(RUN_KEYS, sort=True, dropna=False)["step"].transform("max")
    return values.loc[values["step"] == last].reset_index(drop=True)


def iqm(values: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean (25% trimmed mean over all entries), as rliable computes it."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return float("nan")
    return float(rly_metrics.aggregate_iqm(array))


def _statistic_rows(samples: np.ndarray, statistic: str) -> np.ndarray:
    """The statistic of each row of ``samples`` (replicates, entries)."""
    if statistic == "iqm":
        return stats.trim_mean(samples, proportiontocut=0.25, axis=1)
    if statistic == "mean":
        return samples.mean(axis=1)
    if statistic == "median":
        return np.median(samples, axis=1)
    raise ValueError("statistic must be iqm, mean or median")


def stratified_bootstrap_ci(scores: Sequence[float] | np.ndarray, n_boot: int = 2000,
                            rng: np.random.Generator | int | None = 0, ci: float = 0.95,
                            statistic: str = "iqm") -> tuple[float, float, float]:
    """``(point, lower, upper)``: the statistic and its percentile stratified-bootstrap interval.

    ``scores``: (runs,) or (runs, strata) float; runs are resampled with replacement within each
    stratum (column), as rliable's ``StratifiedBootstrap``. With one run, or ``n_boot == 0``, the
    interval is NaN.
    """
    matrix = np.asarray(scores, dtype=float)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2 or matrix.size == 0:
        raise ValueError("scores must be a non-empty (runs,) or (runs, strata) array")
    point = float(_statistic_rows(matrix.reshape(1, -1), statistic)[0])
    n_runs, n_strata = matrix.shape
    if n_runs < 2 or n_boot <= 0:
        return point, float("nan"), float("nan")
    rng = as_generator(rng)
    idx = rng.integers(0, n_runs, size=(n_boot, n_runs, n_strata))
    samples = matrix[idx, np.arange(n_strata)[None, None, :]].reshape(n_boot, -1)
    tail = 50.0 * (1.0 - ci)
    low, high = np.percentile(_statistic_rows(samples, statistic), [tail, 100.0 - tail])
    return point, float(low), float(high)


def aggregate_seeds(values: pd.DataFrame, by: Sequence[str], n_boot: int = 2000,
                    rng: np.random.Generator | int | None = 0, ci: float = 0.95) -> pd.DataFrame:
    """Summarise ``value`` over the runs in each ``by`` group.

    Columns: ``by..., iqm, iqm_lo, iqm_hi, mean, sd, n_seeds``. The interval is NaN for a group
    with a single run. Groups are visited in sorted order, so a given ``rng`` seed is reproducible.
    """
    by = list(by)
    rng = as_generator(rng)
    rows = []
    for key, group in values.groupby(by, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        scores = group["value"].to_numpy(dtype=float)
        point, low, high = stratified_bootstrap_ci(scores, n_boot, rng, ci)
        rows.append({**dict(zip(by, key, strict=True)), "iqm": point, "iqm_lo": low, "iqm_hi": high,
                     "mean": float(scores.mean()),
                     "sd": float(scores.std(ddof=1)) if scores.size > 1 else float("nan"),
                     "n_seeds": int(scores.size)})
    return pd.DataFrame(rows, columns=[*by, "iqm", "iqm_lo", "iqm_hi", "mean", "sd", "n_seeds"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.aggregate",
        description="Gather per-job results files into one all-runs table (failed runs flagged).")
    parser.add_argument("--runs", nargs="+", required=True, metavar="FILE",
                        help="results files (tidy CSV with a provenance header)")
    parser.add_argument("--out", required=True, metavar="FILE", help="output CSV, e.g. results/tables/all_runs.csv")
    args = parser.parse_args(argv)
    table = load_runs(args.runs)
    write_all_runs(table, args.out)
    _, failed = split_failed(table)
    n_runs = len(table[RUN_KEYS].drop_duplicates())
    print(f"{args.out}: {len(table)} rows, {n_runs} runs from {len(args.runs)} files, "
          f"{len(failed)} failed run(s) flagged", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from analysis.cli import run

    raise SystemExit(run(main))
