"""How many Adam steps the paper's fit rule takes per FQI iteration: the profile the projection uses.

A profile is, per FQI iteration, the steps each seed's fit took (an array over seeds): the authors' figures
(:data:`AUTHORS_TYPICAL`) or measured ``fit_steps`` rows; :func:`complete` fills iterations not reached.

Design notes: docs/fqi.md#the-steps-per-iteration-profile.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import numpy as np

from mtrl_bench.errors import ConfigError
from mtrl_bench.results import header_kind, read_results

ITERATIONS = 50
AUTHORS_TYPICAL = (53_500,) + (14_000,) * 19 + (650,) * 30
SPREAD = (0.5, 1.5)
MEASURED_FILE = Path(__file__).with_name("fqi_fit_steps.csv")

Profile = list[np.ndarray]  # per iteration: steps of each seed


def authors_profile(quantiles: int = 1001) -> Profile:
    """The authors' typical counts, each spread uniformly over SPREAD (``quantiles`` evenly spaced seeds)."""
    low, high = SPREAD
    return [typical * np.linspace(low, high, quantiles) for typical in AUTHORS_TYPICAL]


def _rows(path: Path):
    if header_kind(path) == "results":  # a results file: checked (the shipped profile has its own format)
        return read_results(path)[0].astype(str).to_dict("records")
    text = path.read_text()
    lines = [ln for ln in io.StringIO(text) if not ln.startswith("#")]
    return csv.DictReader(lines)


def read_runs(paths: list[Path], width: int | None = None) -> dict[int, Profile]:
    """Profiles per task count T from FQI result files (rows with metric ``fit_steps``).

    A multi-task run writes the same count once per task: each (T, seed, iteration) counts once.
    ``width`` keeps only runs of that shared width.
    """
    counts: dict[int, dict[tuple[int, int], float]] = defaultdict(dict)
    for path in paths:
        if not Path(path).is_file():
            raise ConfigError(f"profile: no such result file {path}")
        for row in _rows(Path(path)):
            if row.get("metric") != "fit_steps":
                continue
            if width is not None and row.get("width") not in (None, "") and int(float(row["width"])) != width:
                continue
            counts[int(row["n_tasks"])][(int(row["seed"]), int(row["step"]))] = float(row["value"])
    if not counts:
        raise ConfigError(f"profile: no fit_steps rows in {[str(p) for p in paths]} (FQI result files written by "
                          "'mtrl-bench run fqi' or 'mtrl-bench fidelity fqi')")
    profiles: dict[int, Profile] = {}
    for n_tasks, by_key in counts.items():
        iterations = sorted({it for _, it in by_key})
        profiles[n_tasks] = [np.array([v for (_, it), v in sorted(by_key.items()) if it == k]) for k in iterations]
    return profiles


def measured() -> dict[int, Profile]:
    """The shipped measurement (see the header of ``fqi_fit_steps.csv``)."""
    return read_runs([MEASURED_FILE])


def complete(profiles: dict[int, Profile], n_tasks: int, iterations: int = ITERATIONS) -> tuple[Profile, str]:
    """T's profile for ``iterations`` iterations and a note saying where each part came from.

    A T with no measurement takes the nearest measured T's counts; iterations its source did not reach
    come from the longest measured profile, scaled by the ratio of mean counts on the iterations both
    reached.
    """
    if not profiles:
        raise ConfigError("profile: nothing measured")
    own_t = n_tasks if n_tasks in profiles else min(profiles, key=lambda t: (abs(t - n_tasks), t))
    own = list(profiles[own_t])[:iterations]
    seeds = len(own[0])
    note = (f"iterations 1-{len(own)} measured ({seeds} seeds)" if own_t == n_tasks
            else f"iterations 1-{len(own)} from T={own_t} ({seeds} seeds)")
    if len(own) >= iterations:
        return own, note
    donor_t = max(profiles, key=lambda t: (len(profiles[t]), -abs(t - n_tasks)))
    donor = profiles[donor_t]
    common = min(len(own), len(donor))
    scale = float(np.mean([own[k].mean() for k in range(common)]) /
                  np.mean([donor[k].mean() for k in range(common)]))
    for k in range(len(own), iterations):
        own.append(donor[min(k, len(donor) - 1)] * scale)
    return own, note + f", {common + 1}-{iterations} from T={donor_t} x {scale:.2f}"


def write(profiles_from: list[Path], out: Path, note: str) -> None:
    """Write the fit_steps rows of ``profiles_from`` as a profile file like the shipped one (atomically)."""
    from mtrl_bench.results import atomic_write_text

    lines = [f"# {line}\n" for line in note.splitlines()]
    lines.append("n_tasks,width,seed,step,metric,value\n")
    for path in profiles_from:
        for row in _rows(Path(path)):
            if row.get("metric") == "fit_steps" and row.get("task") in (None, "", row["variants"].split("+")[0]):
                lines.append(f"{row['n_tasks']},{row['width']},{row['seed']},{row['step']},fit_steps,"
                             f"{int(float(row['value']))}\n")
    atomic_write_text(out, "".join(lines))


def main(argv: list[str] | None = None) -> int:
    """``python -m mtrl_bench.bench.fqi_profile --runs CSV... --out FILE --note TEXT``."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True, help="FQI result files at the paper's settings")
    parser.add_argument("--out", default=str(MEASURED_FILE))
    parser.add_argument("--note", required=True, help="how the runs were made (written as the file's header)")
    args = parser.parse_args(argv)
    write([Path(p) for p in args.runs], Path(args.out), args.note)
    profiles = read_runs([Path(args.out)])
    for n_tasks, profile in sorted(profiles.items()):
        print(f"T={n_tasks}: {len(profile)} iterations, {len(profile[0])} seeds, "
              f"{sum(float(np.mean(c)) for c in profile):,.0f} steps per seed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
