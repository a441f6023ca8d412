"""Compare the result tables of a sweep run under SLURM with the same sweep run locally, or with the
stored reference of the tiny sweep.

Used by tests/cluster/run_local_slurm.sh. With ``--local``: every CSV under ``results/`` of both trees
must exist in both; leading ``#`` lines (the JSON provenance comment: host, wall time, device, commit,
...) are set aside and the bodies must be equal: byte for byte, or else numerically (``value`` column,
rows sorted by all other columns) within a tight tolerance, which is reported. With ``--reference``
(the project's tiny sweep, tests/reference/test_tiny_results.csv, which tests/test_workflow.py checks a
local run against): the tidy rows of every run file of the SLURM tree must equal the reference's, rows
value for value (rtol 1e-6, as that test), so no second, local sweep is needed. Either way a provenance
comment that names a SLURM job id (``slurm_job_id``) must name one of the jobs this run submitted.

Exit codes: 0 equal; 1 different or missing; 2 nothing to compare.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from pathlib import Path

RTOL = 1e-9
ATOL = 1e-12
# Provenance copied into table columns (e.g. the aggregated all-runs table): where and when a file
# was made, not what it says. git_commit moves when anyone commits between the two runs.
PROVENANCE_COLUMNS = ("git_commit", "host", "wall_time_s", "finished_utc", "hostname", "slurm_job_id")


def split_file(path: Path) -> tuple[list[dict], str]:
    """Return (provenance dicts from leading '#' lines, body text)."""
    lines = path.read_text().splitlines(keepends=True)
    prov: list[dict] = []
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        # "# {json}" or "# label: {json}" (mtrl-bench writes "# mtrl-bench-provenance: {json}")
        text = lines[i][lines[i].find("{"):].strip() if "{" in lines[i] else ""
        try:
            obj = json.loads(text)
            if isinstance(obj, dict):
                prov.append(obj)
        except ValueError:
            pass
        i += 1
    return prov, "".join(lines[i:])


def numeric_equal(a: str, b: str) -> tuple[bool, str]:
    """Compare two CSV bodies on their ``value`` column after sorting rows by the other columns.

    Provenance columns (:data:`PROVENANCE_COLUMNS`) are left out of the comparison.
    """
    import pandas as pd

    da = pd.read_csv(io.StringIO(a))
    db = pd.read_csv(io.StringIO(b))
    if list(da.columns) != list(db.columns) or len(da) != len(db):
        return False, f"columns/rows differ: {list(da.columns)} x {len(da)} vs {list(db.columns)} x {len(db)}"
    dropped = [c for c in da.columns if c in PROVENANCE_COLUMNS]
    da, db = da.drop(columns=dropped), db.drop(columns=dropped)
    note = f" (provenance columns {dropped} left out)" if dropped else ""
    if "value" not in da.columns:
        if da.astype(str).equals(db.astype(str)):
            return True, "equal" + note
        return False, "bodies differ and there is no 'value' column to compare numerically" + note
    keys = [c for c in da.columns if c != "value"]
    da = da.sort_values(keys, kind="stable").reset_index(drop=True)
    db = db.sort_values(keys, kind="stable").reset_index(drop=True)
    if not da[keys].astype(str).equals(db[keys].astype(str)):
        return False, "the non-value columns differ" + note
    worst = 0.0
    for x, y in zip(da["value"].tolist(), db["value"].tolist(), strict=True):
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        if x == y:
            continue
        try:
            x, y = float(x), float(y)
        except (TypeError, ValueError):
            return False, f"non-numeric values differ: {x!r} vs {y!r}"
        if not math.isclose(x, y, rel_tol=RTOL, abs_tol=ATOL):
            return False, f"values differ: {x!r} vs {y!r}"
        worst = max(worst, abs(x - y))
    if worst == 0.0:
        return True, "equal" + note
    return True, f"equal within rtol={RTOL} (largest difference {worst:.3g})" + note


def provenance_problems(rel: Path, prov: list[dict], job_ids: set[str], seen: set[str]) -> list[str]:
    """A provenance comment naming a SLURM job must name one of ``job_ids`` (ids seen are added to ``seen``)."""
    problems = []
    for p in prov:
        sid = p.get("slurm_job_id")
        if sid not in (None, "", "none"):
            seen.add(str(sid))
            if job_ids and str(sid) not in job_ids:
                problems.append(f"{rel}: written by SLURM job {sid}, not one of this run's {sorted(job_ids)}")
        elif "slurm_job_id" in p:
            problems.append(f"{rel}: written outside SLURM (slurm_job_id={sid!r})")
    return problems


def compare_with_reference(slurm: Path, reference: Path, job_ids: set[str], run_id: str) -> int:
    """The SLURM tree's run rows against the stored reference rows (see the module docstring)."""
    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(reference.parent))
    from regenerate import SORT, collect

    problems: list[str] = []
    seen: set[str] = set()
    files = sorted(p.relative_to(slurm) for p in (slurm / "results").rglob("*.csv"))
    if not files:
        print("compare: no CSV under results/ in the SLURM run", file=sys.stderr)
        return 2
    for rel in files:
        problems += provenance_problems(rel, split_file(slurm / rel)[0], job_ids, seen)
    ours = collect(slurm / "results")
    ref = pd.read_csv(reference, dtype={"variants": str, "task": str, "algorithm": str})
    keys = [c for c in SORT if c != "metric"] + ["metric"]
    if len(ours) != len(ref) or not ours[keys].astype(str).equals(ref[keys].astype(str)):
        problems.append(f"the SLURM run's rows ({len(ours)}) differ from the reference's ({len(ref)}) in their keys")
    else:
        a, b = ours["value"].to_numpy(float), ref["value"].to_numpy(float)
        bad = ~np.isclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True)
        if bad.any():
            problems.append(f"{int(bad.sum())} values differ from the reference, e.g. {a[bad][0]!r} vs {b[bad][0]!r}")
    print(f"compare: {len(ours)} run rows of the SLURM run {run_id or '?'} against {reference.name}; "
          f"{len(files)} CSV files; SLURM job ids named in provenance {sorted(seen, key=int) or '-'}")
    for p in problems:
        print(f"compare: DIFFERENT {p}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slurm", type=Path, required=True, help="working tree of the SLURM run")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", type=Path, help="working tree of the local run")
    where.add_argument("--reference", type=Path, help="stored tidy rows of the sweep (tests/reference/*.csv)")
    ap.add_argument("--slurm-job-ids", default="", help="comma-separated SLURM job ids of the run")
    ap.add_argument("--run-id", default="", help="the plugin's run id (for messages)")
    args = ap.parse_args(argv)

    job_ids = {j for j in args.slurm_job_ids.split(",") if j}
    if args.reference is not None:
        return compare_with_reference(args.slurm, args.reference, job_ids, args.run_id)
    slurm_files = {p.relative_to(args.slurm) for p in (args.slurm / "results").rglob("*.csv")}
    local_files = {p.relative_to(args.local) for p in (args.local / "results").rglob("*.csv")}
    if not slurm_files and not local_files:
        print("compare: no CSV under results/ in either run", file=sys.stderr)
        return 2
    problems: list[str] = []
    for rel in sorted(slurm_files ^ local_files):
        where = "SLURM run" if rel in slurm_files else "local run"
        problems.append(f"{rel}: only in the {where}")
    exact = close = 0
    devices: set[str] = set()
    hosts: set[str] = set()
    slurm_ids_seen: set[str] = set()
    for rel in sorted(slurm_files & local_files):
        prov_s, body_s = split_file(args.slurm / rel)
        _, body_l = split_file(args.local / rel)
        for p in prov_s:
            if "device" in p:
                devices.add(str(p["device"]))
            if "host" in p:
                hosts.add(str(p["host"]))
        problems += provenance_problems(rel, prov_s, job_ids, slurm_ids_seen)
        if body_s == body_l:
            exact += 1
            continue
        try:
            ok, why = numeric_equal(body_s, body_l)
        except Exception as err:  # not a table pandas can read
            ok, why = False, f"bodies differ and do not parse as CSV ({err})"
        if ok:
            close += 1
            print(f"compare: {rel}: bodies not byte-identical but {why}")
        else:
            problems.append(f"{rel}: {why}")
    n = len(slurm_files & local_files)
    print(
        f"compare: {n} CSV files in both runs; {exact} bodies identical, {close} equal as tables; "
        f"SLURM run {args.run_id or '?'}: hosts {sorted(hosts) or '-'}, devices {sorted(devices) or '-'}, "
        f"SLURM job ids named in provenance {sorted(slurm_ids_seen, key=int) or '-'}"
    )
    for p in problems:
        print(f"compare: DIFFERENT {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
