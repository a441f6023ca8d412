"""Statistics of Car-On-Hill transition datasets, per variant, beside the ranges of the authors' files.

``python -m mtrl_bench.tasks.car_on_hill.dataset_stats [--dataset.policy ...] [--exact-states 100] [--authors-dir DIR]``
prints the Markdown table of docs/measured.md.

Design notes: docs/tasks.md#dataset-statistics-and-the-authors-ranges.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

import numpy as np

from mtrl_bench import config as cfg
from mtrl_bench.errors import ConfigError
from mtrl_bench.tasks.car_on_hill import authors_data
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.datasets import DatasetSpec, Transitions, generate

# Statistic -> (low, high) over the authors' 16 files; shares as fractions.
AUTHORS_RANGES: dict[str, tuple[float, float]] = {
    "transitions": (3072, 3531),
    "top_share": (0.66, 0.82),
    "failure_share": (0.18, 0.34),
    "plus_share": (0.75, 0.84),
    "optimal_share": (0.86, 0.91),
    "length_median": (7, 10),
    "length_max": (34, 100),
}


def episode_stats(data: Transitions) -> dict[str, float]:
    """Cheap statistics of one dataset (rows grouped by episode, in time order).

    Returns transitions, episodes, top_share / failure_share / truncated_share (fractions of the
    episodes whose last reward is +1 / -1 / 0), plus_share (fraction of action 1), length_mean,
    length_median, length_max (steps) and switch_share (fraction of steps after an episode's first
    whose action differs from the previous step's).
    """
    episodes, first, lengths = np.unique(data.episode, return_index=True, return_counts=True)
    if not len(episodes) or not np.all(np.diff(data.episode) >= 0):
        raise ValueError("transitions must be non-empty and grouped by episode in increasing order")
    last_reward = data.rewards[first + lengths - 1]
    same_episode = data.episode[1:] == data.episode[:-1]
    switches = (data.actions[1:] != data.actions[:-1]) & same_episode
    return {
        "transitions": float(len(data)),
        "episodes": float(len(episodes)),
        "top_share": float(np.mean(last_reward > 0)),
        "failure_share": float(np.mean(last_reward < 0)),
        "truncated_share": float(np.mean(last_reward == 0)),
        "plus_share": float(np.mean(data.actions == 1)),
        "length_mean": float(lengths.mean()),
        "length_median": float(np.median(lengths)),
        "length_max": float(lengths.max()),
        "switch_share": float(switches.sum() / max(1, same_episode.sum())),
    }


def optimal_action_stats(params: coh.CarOnHillParams, data: Transitions, n_states: int, seed: int = 0,
                         **solver_kwargs) -> dict[str, float]:
    """Shares of optimal actions on ``n_states`` visited states drawn without replacement.

    Solves the exact Q* of both actions at each drawn state (``2 n_states`` pairs; slow). Returns
    optimal_share (where Q* of the two actions differ: fraction of the dataset's actions that are
    optimal), plus_if_plus_optimal, plus_if_minus_optimal, plus_if_equal (P(+a) in each case; nan
    when a case has no state) and the counts differ_states, equal_states.
    """
    from mtrl_bench.tasks.car_on_hill.qstar import solve_q_star  # slow solver, only when asked

    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(data), size=min(n_states, len(data)), replace=False))
    states, taken = data.states[pick], data.actions[pick]
    pairs = np.concatenate([states, states])
    actions = np.repeat(np.arange(coh.N_ACTIONS), len(pick))
    q, _ = solve_q_star(params, pairs, actions, **solver_kwargs)
    q = q.reshape(coh.N_ACTIONS, len(pick)).T  # (n, 2)
    differ = q[:, 0] != q[:, 1]
    best = np.argmax(q, axis=1)

    def share(mask: np.ndarray) -> float:
        return float(np.mean(taken[mask] == 1)) if mask.any() else float("nan")

    return {
        "optimal_share": float(np.mean(taken[differ] == best[differ])) if differ.any() else float("nan"),
        "plus_if_plus_optimal": share(differ & (best == 1)),
        "plus_if_minus_optimal": share(differ & (best == 0)),
        "plus_if_equal": share(~differ),
        "differ_states": float(differ.sum()),
        "equal_states": float((~differ).sum()),
    }


def variant_table(spec: DatasetSpec, variants: Sequence[int] = range(len(coh.VARIANTS)),
                  exact_states: int = 0, authors_dir: str | None = None) -> list[dict[str, float]]:
    """One row of statistics per variant index (with ``variant`` and ``name``): of the datasets
    ``spec`` generates, or of the authors' files ``<authors_dir>/<variant name>.pkl`` when given."""
    rows = []
    for index in variants:
        params = coh.VARIANTS[index]
        data = generate(params, spec) if authors_dir is None else authors_data.load_variant(authors_dir, params)
        row = {"variant": index, "name": params.name, **episode_stats(data)}
        if exact_states > 0:
            row.update(optimal_action_stats(params, data, exact_states, seed=index))
        rows.append(row)
    return rows


def out_of_range(row: dict[str, float]) -> list[str]:
    """The statistics of ``row`` outside the authors' ranges (those it has)."""
    return [key for key, (low, high) in AUTHORS_RANGES.items()
            if key in row and not np.isnan(row[key]) and not low <= row[key] <= high]


def markdown(rows: list[dict[str, float]]) -> str:
    """The table: ours per variant, then the authors' range; out-of-range values in bold."""
    has_optimal = any("optimal_share" in r for r in rows)
    header = ["#", "variant", "transitions", "top %", "failure %", "+a %"]
    header += ["optimal % (sample)"] if has_optimal else []
    header += ["length median", "length max", "length mean"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def cell(row, key, scale=1.0, digits=0):
        value = row[key] * scale
        text = f"{value:,.{digits}f}"
        low, high = AUTHORS_RANGES.get(key, (-np.inf, np.inf))
        return f"**{text}**" if not low <= row[key] <= high else text

    for r in rows:
        cells = [str(r["variant"]), r["name"], cell(r, "transitions"), cell(r, "top_share", 100),
                 cell(r, "failure_share", 100), cell(r, "plus_share", 100)]
        if has_optimal:
            cells.append(f"{cell(r, 'optimal_share', 100, 1)} (n={int(r['differ_states'])})")
        cells += [cell(r, "length_median"), cell(r, "length_max"), f"{r['length_mean']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    ranges = AUTHORS_RANGES
    theirs = ["", "authors (range)", "3,072-3,531", "66-82", "18-34", "75-84"]
    theirs += ["86-91"] if has_optimal else []
    theirs += [f"{ranges['length_median'][0]:.0f}-{ranges['length_median'][1]:.0f}",
               f"{ranges['length_max'][0]:.0f}-{ranges['length_max'][1]:.0f}", "10.6-12.2"]
    lines.append("| " + " | ".join(theirs) + " |")

    def spread(key: str) -> str:
        values = [100 * r[key] for r in rows if key in r and not np.isnan(r[key])]
        return f"{min(values):.0f}-{max(values):.0f}%" if values else "n/a"

    note = f"\nAction switches inside an episode: {spread('switch_share')} of steps (authors: about 24%)."
    if has_optimal:
        note += (f" P(+a | +a optimal) {spread('plus_if_plus_optimal')} (authors 92-94%), P(+a | -a optimal) "
                 f"{spread('plus_if_minus_optimal')} (authors 14-49%), P(+a | both equal) {spread('plus_if_equal')} "
                 f"(authors 55-80%); optimal-action shares from the exact Q* of the sampled visited states, "
                 f"n = states where the two actions differ.")
    return "\n".join(lines) + "\n" + note


@dataclasses.dataclass(frozen=True)
class _DatasetSection:
    """The flags ``--dataset.<field>``, as in the FQI config."""

    dataset: DatasetSpec = cfg.param(help="how each variant's transitions are generated", default_factory=DatasetSpec)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtrl_bench.tasks.car_on_hill.dataset_stats",
                                     description="Per-variant statistics of generated Car-On-Hill datasets "
                                                 "beside the authors' ranges (Markdown).")
    parser.add_argument("--variants", type=int, nargs="+", default=list(range(len(coh.VARIANTS))),
                        help="variant indices (default: all 16)")
    parser.add_argument("--exact-states", type=int, default=0,
                        help="visited states per variant whose exact Q* is solved for the optimal-action "
                             "share (slow: ~0.1-0.2 s per state; 0 = leave the column out)")
    parser.add_argument("--authors-dir", default=None,
                        help="read the authors' files <dir>/<variant name>.pkl instead of generating (the "
                             "--dataset flags are then ignored); unpickling: only read files you trust")
    cfg.add_arguments(parser, _DatasetSection)
    args = parser.parse_args(argv)
    try:
        section = cfg.from_args(_DatasetSection, args)
        bad = [v for v in args.variants if not 0 <= v < len(coh.VARIANTS)]
        if bad or args.exact_states < 0:
            raise ConfigError(f"variants must be in 0..{len(coh.VARIANTS) - 1} and --exact-states >= 0, "
                                  f"got {bad or args.exact_states}")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        rows = variant_table(section.dataset, args.variants, args.exact_states, args.authors_dir)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"dataset: {cfg.record(section.dataset) if args.authors_dir is None else args.authors_dir}")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
