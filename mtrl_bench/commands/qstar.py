"""``mtrl-bench qstar``: exact Q* of one Car-On-Hill task on the paper's test grid, as CSV."""

from __future__ import annotations

import argparse
import time

from mtrl_bench.results import check_writable
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.qstar import MAX_DEPTH, q_star_table, write_q_star_csv


def register(groups: dict) -> None:
    p = groups["top"].add_parser("qstar", help="exact Q* of a Car-On-Hill task on the paper's test grid")
    p.add_argument("--variant", help="a paper variant by index (0-15) or name (e.g. 1.000_4.000); "
                                     "overrides --mass/--gravity/--action")
    p.add_argument("--mass", type=float, default=1.0, help="car mass m (kg)")
    p.add_argument("--gravity", type=float, default=9.81, help="gravity g (m/s^2)")
    p.add_argument("--action", type=float, default=4.0, help="action magnitude a (N)")
    p.add_argument("--grid", choices=["paper"], default="paper", help="test grid (paper: 10x10 states x 2 actions)")
    p.add_argument("--merge-resolution", type=float, nargs=2, metavar=("DP", "DV"), default=None,
                   help="merge frontier states per (DP x DV) cell (faster, not exact; default: exact search)")
    p.add_argument("--max-depth", type=int, default=MAX_DEPTH,
                   help=f"search depth cap; undecided pairs get 0 (default {MAX_DEPTH}, the authors' cap)")
    p.add_argument("--out", required=True, help="output CSV (columns position,velocity,action,q_star)")
    p.set_defaults(func=main)


def params_from_args(args: argparse.Namespace) -> coh.CarOnHillParams:
    if args.variant is not None:
        return coh.variant(args.variant)
    return coh.CarOnHillParams(args.mass, args.gravity, args.action)


def main(args: argparse.Namespace) -> int:
    params = params_from_args(args)
    check_writable(args.out)
    started = time.time()
    merge = tuple(args.merge_resolution) if args.merge_resolution else None
    table = q_star_table(params, max_depth=args.max_depth, merge_resolution=merge)
    write_q_star_csv(args.out, table)
    print(f"qstar: {params.name}: 200 values in {time.time() - started:.1f} s "
          f"({int((table['q_star'] == 1).sum())} at +1, {int((table['q_star'] == -1).sum())} at -1) -> {args.out}")
    return 0
