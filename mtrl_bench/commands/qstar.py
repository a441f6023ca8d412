"""``mtrl-bench qstar``: exact Q* of one Car-On-Hill task on the paper's test grid, as CSV."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mtrl_bench.envs import car_on_hill as coh
from mtrl_bench.errors import ConfigError
from mtrl_bench.results import atomic_write_text, check_writable
from mtrl_bench.solvers.car_on_hill_qstar import MAX_DEPTH, paper_test_grid, q_star_table

QSTAR_COLUMNS = ["position", "velocity", "action", "q_star"]


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


def write_q_star_csv(path: str | Path, table: dict[str, np.ndarray]) -> None:
    frame = pd.DataFrame({c: table[c] for c in QSTAR_COLUMNS})
    atomic_write_text(path, frame.to_csv(index=False, float_format="%.17g"))


def read_q_star_csv(path: str | Path) -> np.ndarray:
    """Q* values (200,) from a ``qstar`` CSV, checked against the paper's grid and order."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Q* file {path} does not exist: create it with `mtrl-bench qstar --out {path}`")
    frame = pd.read_csv(path)
    if list(frame.columns) != QSTAR_COLUMNS:
        raise ConfigError(f"{path} has columns {list(frame.columns)}, expected {QSTAR_COLUMNS}")
    states, actions = paper_test_grid()
    if (len(frame) != len(actions) or not np.allclose(frame[["position", "velocity"]].to_numpy(), states)
            or not np.array_equal(frame["action"].to_numpy(), actions)):
        raise ConfigError(f"{path} is not on the paper's 200-pair test grid in the paper's order")
    return frame["q_star"].to_numpy(dtype=np.float64)
