"""Time and peak memory of the exact Q* of the 16 Car-On-Hill variants on the paper's test grid.

``python -m mtrl_bench.bench.qstar [--workers 2] [--method plain]``; one fresh worker process per variant.

Design notes: docs/measured.md#bench-qstar.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.qstar import METHODS, paper_test_grid, search


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def solve_variant(index: int, method: str = "bounded") -> dict:
    """Solve one variant on the paper grid; returns its name, timing, memory, search size and depths (200,)."""
    base, started_at = _peak_rss_mb(), time.time()
    states, actions = paper_test_grid()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = search(coh.VARIANTS[index], states, actions, method=method)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"index": index, "name": coh.VARIANTS[index].name, "seconds": seconds, "cpu_s": cpu,
            "started_at": started_at, "base_rss_mb": base,
            "peak_rss_mb": _peak_rss_mb(), "expanded": result.expanded, "peak_nodes": result.peak_nodes,
            "depth": result.depth}


def run(workers: int = 2, method: str = "bounded", variants: list[int] | None = None, out=print) -> dict:
    """Solve the variants (default all 16), ``workers`` at a time, and print one line per variant.

    Returns ``{"wall_s", "workers", "method", "per_variant": [solve_variant(...) dicts in index order]}``.
    """
    variants = list(range(len(coh.VARIANTS))) if variants is None else variants
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])  # workers start with the solver imported
    start, started_at = time.perf_counter(), time.time()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, max_tasks_per_child=1) as pool:
        rows = list(pool.map(solve_variant, variants, [method] * len(variants)))
    wall = time.perf_counter() - start
    out(f"exact Q* ({method} search), {len(variants)} variants x 200 pairs, {workers} processes")
    out(f"first variant started {min(r['started_at'] for r in rows) - started_at:.1f} s after the pool")
    out(f"{'variant':>14} {'s':>7} {'cpu s':>7} {'peak MB':>8} {'base MB':>8} {'expanded':>12} {'peak nodes':>11}")
    for row in rows:
        out(f"{row['index']:>2} {row['name']:>11} {row['seconds']:>7.2f} {row['cpu_s']:>7.2f} "
            f"{row['peak_rss_mb']:>8.0f} {row['base_rss_mb']:>8.0f} {row['expanded']:>12,} {row['peak_nodes']:>11,}")
    seconds, cpu = sum(r["seconds"] for r in rows), sum(r["cpu_s"] for r in rows)
    out(f"total {wall:.1f} s wall (solves: sum {seconds:.1f} s, CPU {cpu:.1f} s); largest peak"
        f" {max(r['peak_rss_mb'] for r in rows):.0f} MB per process")
    return {"wall_s": wall, "workers": workers, "method": method, "per_variant": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=min(2, len(os.sched_getaffinity(0))),
                        help="processes (default 2)")
    parser.add_argument("--method", choices=METHODS, default="bounded")
    parser.add_argument("--variants", type=int, nargs="+", default=None, help="indices 0-15 (default all)")
    parser.add_argument("--save", default=None, help="save the signed depths (16 x 200) to this .npy file")
    args = parser.parse_args(argv)
    report = run(args.workers, args.method, args.variants)
    if args.save:
        np.save(args.save, np.stack([row["depth"] for row in report["per_variant"]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
