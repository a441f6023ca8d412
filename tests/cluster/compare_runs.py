"""Compare the result tables of a sweep run under SLURM with the same sweep run locally.

Used by tests/cluster/run_local_slurm.sh. Every CSV under ``results/`` of both trees must exist in
both; leading ``#`` lines (the JSON provenance comment: host, wall time, device, commit, ...) are
set aside and the bodies must be equal: byte for byte, or else numerically (``value`` column, rows
sorted by all other columns) within a tight tolerance, which is reported. A provenance comment that
names a SLURM job id (``slurm_job_id``) must name one of the jobs this run submitted.

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slurm", type=Path, required=True, help="working tree of the SLURM run")
    ap.add_argument("--local", type=Path, required=True, help="working tree of the local run")
    ap.add_argument("--slurm-job-ids", default="", help="comma-separated SLURM job ids of the run")
    ap.add_argument("--run-id", default="", help="the plugin's run id (for messages)")
    args = ap.parse_args(argv)

    job_ids = {j for j in args.slurm_job_ids.split(",") if j}
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
            sid = p.get("slurm_job_id")
            if sid not in (None, "", "none"):
                slurm_ids_seen.add(str(sid))
                if job_ids and str(sid) not in job_ids:
                    problems.append(f"{rel}: written by SLURM job {sid}, not one of this run's {sorted(job_ids)}")
            elif "slurm_job_id" in p:
                problems.append(f"{rel}: written outside SLURM (slurm_job_id={sid!r})")
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
