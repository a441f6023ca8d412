"""The paper-config figures and tables from our shipped paper-protocol results, without training.

``python -m analysis.paper_figures --ours analysis/reference/ours --outdir results/paper_figures``.

Design notes: docs/analysis.md#what-paper_figures-writes-per-shipped-name.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from analysis import ddpg_tables, dqn_tables, fqi_figures, fqi_tables, reference, transfer_tables
from analysis import multitask_figures as mf
from analysis import multitask_tables as mt
from analysis.aggregate import load_any
from analysis.cli import add_bootstrap_arguments, run
from mtrl_bench.errors import ConfigError

STUDIES = {"dqn": dqn_tables.STUDY, "ddpg": ddpg_tables.STUDY, "dqn_transfer": transfer_tables.study("dqn"),
           "ddpg_transfer": transfer_tables.study("ddpg")}
"""Shipped name -> the comparison study its figure and tables come from (FQI has its own modules)."""


def per_seed_files(ours: str | os.PathLike) -> dict[str, Path]:
    """Shipped name -> its per-seed rows in ``ours``; a one-line error when ``ours`` ships nothing."""
    folder = Path(ours)
    shipped = {name for name in reference.SHIPPED if (folder / f"{name}.csv").is_file()}
    if not shipped:
        raise ConfigError(f"no shipped summaries ({', '.join(reference.SHIPPED)}.csv) in {folder}: "
                          f"write them with `python -m analysis.ship`")
    found = {name: folder / f"{name}_runs.csv" for name in sorted(shipped)}
    for name in [name for name, path in found.items() if not path.is_file()]:
        print(f"{name}: shipped as a summary only (no {name}_runs.csv): no figure", file=sys.stderr)
        del found[name]
    return found


def draw(name: str, runs: Path, outdir: str | os.PathLike, n_boot: int = 2000, seed: int = 0,
         ci: float = 0.95) -> list[Path]:
    """The figure(s) and tables of shipped ``name`` from its per-seed rows ``runs``."""
    frame = load_any([runs])
    if name == "fqi":
        return (fqi_figures.make_all(frame, outdir, n_boot=n_boot, seed=seed, ci=ci, shipped=False)
                + fqi_tables.make_all(frame, outdir, n_boot=n_boot, seed=seed, ci=ci))
    study = STUDIES[name]
    frame = study.select(frame)
    scale = reference.published_epoch_scale(name, reference.read_shipped(runs.with_name(f"{name}.csv"))[1])
    paths = mf.plot_returns(study, frame, outdir, n_boot=n_boot, rng=seed, ci=ci,
                            published=reference.load(study.published_name), unpublished_note=name == "ddpg",
                            published_epoch_scale=scale)
    note = "" if scale == 1 else (f" A shorter protocol than the paper's: one of our epochs is 1/{scale:g} of "
                                  f"theirs in environment steps, and epochs are compared by number (ours after "
                                  f"1/{scale:g} of their steps).")
    paths += mt.write_summary(study, frame, outdir, n_boot=n_boot, seed=seed, ci=ci)
    paths += mt.write_effect(study, frame, outdir, n_boot=n_boot, seed=seed, ci=ci, note=note)
    return paths + mt.write_published_comparison(study, frame, outdir, ci=ci, note=note)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.paper_figures",
                                     description="The paper-config figures and tables from our shipped per-seed "
                                                 "paper-protocol results, beside the published curves.")
    parser.add_argument("--ours", default=str(reference.SHIPPED_DIR), metavar="DIR",
                        help="the shipped results (default analysis/reference/ours)")
    parser.add_argument("--outdir", required=True, metavar="DIR", help="output folder, e.g. results/paper_figures")
    add_bootstrap_arguments(parser)
    args = parser.parse_args(argv)
    Path(args.outdir).mkdir(parents=True, exist_ok=True)
    for name, runs in per_seed_files(args.ours).items():
        for path in draw(name, runs, args.outdir, args.n_boot, args.seed, args.ci):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
