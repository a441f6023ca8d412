"""Ship our paper-protocol results: per-seed results files -> the summary the figures draw beside every run.

``python -m analysis.ship <name> --runs FILE... --out analysis/reference/ours/<name>.csv``.

Design notes: docs/analysis.md#shipping-provenance-and-rows-kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from analysis import reference
from analysis.aggregate import FAILURE_METRIC, RUN_KEYS, load_any, run_values, split_failed, write_all_runs
from mtrl_bench.errors import ConfigError
from mtrl_bench.results import COLUMNS, atomic_write_text, header_kind, read_results

SUMMARY_KEYS = ["experiment", "algorithm", "variants", "n_tasks", "task", "width", "step", "metric"]
MAX_SEED_ROWS = 50_000
"""Default cap on the per-seed file (~5 MB): larger sweeps ship their summary only."""


def select_runs(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows of experiment ``name`` and, for ``<learner>_transfer``, the learner's single-task runs of
    its target tasks; a one-line error when ``name`` is unknown or has no rows."""
    if name not in reference.SHIPPED:
        raise ConfigError(f"cannot ship {name!r}: choose one of {list(reference.SHIPPED)}")
    own = frame.loc[frame["experiment"] == name]
    if own.empty:
        found = sorted(set(frame["experiment"].astype(str)))
        raise ConfigError(f"no runs of experiment {name!r} in --runs (found {found}): pass its results files")
    learner = name.removesuffix("_transfer")
    if learner == name:
        return own.reset_index(drop=True)
    baseline = frame.loc[(frame["experiment"] == learner) & (frame["n_tasks"] == 1)
                         & frame["variants"].astype(str).isin(set(own["variants"].astype(str)))]
    return pd.concat([own, baseline], ignore_index=True)


def default_metrics(name: str, frame: pd.DataFrame) -> list[str]:
    """The metrics the authors published for ``name`` that ``frame`` has (an error when none)."""
    published = reference.load(name.removesuffix("_transfer"))
    theirs = sorted(set(published.loc[published["experiment"] == name, "metric"]))
    metrics = [m for m in theirs if m in set(frame["metric"])]
    if not metrics:
        raise ConfigError(f"the runs have none of the published metrics {theirs} of {name!r}: pass --metrics")
    return metrics


def _per_run(ok: pd.DataFrame, name: str, metric: str) -> pd.DataFrame:
    """One value per run, task and step (FQI: per run and step, ``task`` = mean over the run's tasks)."""
    if name == "fqi":
        return run_values(ok, metric).assign(task=reference.FQI_AGGREGATE_TASK, metric=metric)
    rows = ok.loc[ok["metric"] == metric]
    return rows[[*RUN_KEYS, "task", "step", "metric", "value"]]


def summarise(frame: pd.DataFrame, name: str, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean, std (ddof 1; NaN for one run) and number of runs per :data:`SUMMARY_KEYS`, failed runs left out.

    ``frame``: :func:`select_runs` rows. Columns :data:`analysis.reference.SHIPPED_COLUMNS`, sorted.
    """
    ok, _ = split_failed(frame)
    values = pd.concat([_per_run(ok, name, metric) for metric in metrics], ignore_index=True)
    if values.empty:
        raise ConfigError(f"no rows of metrics {list(metrics)} in the runs of {name!r} that did not fail")
    grouped = values.groupby(SUMMARY_KEYS, sort=True)["value"]
    summary = grouped.agg(mean="mean", std="std", n_runs="count").reset_index()
    return summary.assign(group="")[reference.SHIPPED_COLUMNS]


def provenance(frame: pd.DataFrame, name: str, metrics: Sequence[str], protocol: str = "") -> dict:
    """Where a shipped summary comes from: the keys of :data:`analysis.reference.PROVENANCE_KEYS`."""
    runs = frame[RUN_KEYS].drop_duplicates()
    _, failed = split_failed(frame)
    seeds = {"/".join(str(k) for k in key): sorted(int(s) for s in group["seed"])
             for key, group in runs.groupby(["experiment", "algorithm", "variants", "width"], sort=True)}
    return {"name": name, "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "protocol": protocol, "metrics": list(metrics), "runs": len(runs), "failed_runs": len(failed),
            "seeds": seeds, "git_commits": _distinct(frame, "git_commit"), "sources": _distinct(frame, "source")}


def steps_per_epoch(paths: Sequence[str | Path]) -> int | None:
    """The environment steps per epoch (per task) the results files ``paths`` ran with, from their
    provenance; None when a file has none (an all-runs table) or the files differ."""
    found = set()
    for path in paths:
        if header_kind(path) != "results":
            return None
        found.add(read_results(path)[1].get("config", {}).get("steps_per_epoch"))
    return found.pop() if len(found) == 1 and None not in found else None


def _distinct(frame: pd.DataFrame, column: str) -> list[str]:
    return sorted(set(frame[column].astype(str))) if column in frame.columns else []


def write_shipped(summary: pd.DataFrame, provenance: dict, path: str | Path) -> Path:
    """Write the shipped file atomically, then read it back through the loader's checks."""
    header = reference.SHIPPED_PREFIX + json.dumps(provenance, sort_keys=True) + "\n"
    path = atomic_write_text(path, header + summary.to_csv(index=False, float_format="%.9g"))
    reference.read_shipped(path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.ship",
        description="Summarise our paper-protocol runs into analysis/reference/ours/<name>.csv (mean, std, n per "
                    "algorithm, task, width and step, with provenance), drawn beside every figure of <name>.")
    parser.add_argument("name", choices=reference.SHIPPED, help="which shipped file (the authors' experiments)")
    parser.add_argument("--runs", nargs="+", required=True, metavar="FILE",
                        help="results files of `mtrl-bench run` and/or all-runs tables")
    parser.add_argument("--out", required=True, metavar="FILE", help="analysis/reference/ours/<name>.csv")
    parser.add_argument("--metrics", nargs="+", help="metrics to ship (default: those the authors published)")
    parser.add_argument("--protocol", default="", help="one line on the protocol run, e.g. the config and its scale")
    parser.add_argument("--max-seed-rows", type=int, default=MAX_SEED_ROWS,
                        help=f"write <name>_runs.csv (per-seed rows) up to this many rows (default {MAX_SEED_ROWS})")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.stem != args.name or out.suffix != ".csv":
        raise ConfigError(f"--out must be named {args.name}.csv (the loader finds it by name), got {out.name}")
    frame = select_runs(load_any(args.runs), args.name)
    metrics = args.metrics or default_metrics(args.name, frame)
    summary = summarise(frame, args.name, metrics)
    record = provenance(frame, args.name, metrics, args.protocol)
    per_seed = frame.loc[frame["metric"].isin([*metrics, FAILURE_METRIC])]
    per_seed = per_seed[[c for c in [*COLUMNS, "git_commit", "source", "failed"] if c in per_seed.columns]]
    seeds_path = out.with_name(f"{args.name}_runs.csv")
    record["per_seed_file"] = seeds_path.name if len(per_seed) <= args.max_seed_rows else None
    record["steps_per_epoch"] = steps_per_epoch(args.runs)
    record["command"] = f"python -m analysis.ship {args.name} --runs <{len(args.runs)} files> --out {out}"
    write_shipped(summary, record, out)
    print(f"{out}: {len(summary)} rows from {record['runs']} runs ({record['failed_runs']} failed, left out)",
          file=sys.stderr)
    if record["per_seed_file"]:
        write_all_runs(per_seed, seeds_path)
        print(f"{seeds_path}: {len(per_seed)} per-seed rows", file=sys.stderr)
    else:
        seeds_path.unlink(missing_ok=True)  # a stale one would not match the summary
        print(f"per-seed rows not written: {len(per_seed)} > --max-seed-rows {args.max_seed_rows}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from analysis.cli import run

    raise SystemExit(run(main))
