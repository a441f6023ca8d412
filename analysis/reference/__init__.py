"""The authors' published results (per-evaluation mean, std, n), under this project's names, and ours shipped.

:func:`load` (columns :data:`COLUMNS`, task names :data:`TASK_NAMES`); ours: :func:`read_shipped`, :func:`load_shipped`.

Design notes: docs/analysis.md#the-published-results-in-one-shape.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources
from pathlib import Path

import pandas as pd

from mtrl_bench.errors import ConfigError

EXPERIMENTS = ("fqi", "dqn", "ddpg")
COLUMNS = ["experiment", "algorithm", "variants", "n_tasks", "task", "group", "step", "metric", "mean", "std",
           "n_runs"]

TASK_NAMES: dict[str, dict[str, str]] = {
    "fqi": {},
    "dqn": {},
    # Our names are those of mtrl_bench.tasks.continuous (groups "pendulum" and "walker"); the MuJoCo
    # pendulum group has no published counterpart.
    "ddpg": {
        "InvertedPendulumBulletEnv-v0": "bullet_inverted_pendulum",
        "InvertedDoublePendulumBulletEnv-v0": "bullet_inverted_double_pendulum",
        "InvertedPendulumSwingupBulletEnv-v0": "bullet_inverted_pendulum_swingup",
        "hopper-stand": "hopper_stand",
        "walker-walk": "walker_walk",
        "cheetah-run": "cheetah_run",
    },
}
"""Per experiment, the authors' task name -> ours; a name not listed is used as it is."""

CONVENTIONS = {
    "fqi": "avi_diff is the same quantity as ours (mean |Q* - Q_k| over the 200 test pairs, mean over tasks)",
    "dqn": "discounted return averaged over the completed evaluation episodes only, as ours",
    "ddpg": "discounted return with the unfinished last evaluation episode counted",
}
"""One line per experiment on how the published scores compare with ours, for captions."""

FQI_AGGREGATE_TASK = "mean"


def _read(experiment: str) -> pd.DataFrame:
    source = resources.files(__name__).joinpath(f"{experiment}.csv")
    with source.open("r") as handle:
        return pd.read_csv(handle, dtype={"experiment": str, "algorithm": str, "variants": str, "task": str,
                                          "group": str, "metric": str})


def _set_name(tasks: list[str]) -> str:
    return "+".join(tasks)


def _fqi(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.rename(columns={"iteration": "step"}).assign(task=FQI_AGGREGATE_TASK, group="")


def _with_task_sets(raw: pd.DataFrame, names: dict[str, str], group_column: str | None) -> pd.DataFrame:
    """Our task names, and the multi-task rows' task set (every task of their group, in file order)."""
    frame = raw.rename(columns={"epoch": "step"}).copy()
    frame["task"] = frame["task"].map(lambda name: names.get(name, name))
    frame["group"] = frame[group_column] if group_column else ""
    single = ~frame["algorithm"].str.startswith("m")
    frame["variants"] = frame["task"]
    frame["n_tasks"] = 1
    for group, rows in frame.loc[~single].groupby("group", sort=False):
        tasks = list(dict.fromkeys(rows["task"]))
        where = ~single & (frame["group"] == group)
        frame.loc[where, "variants"] = _set_name(tasks)
        frame.loc[where, "n_tasks"] = len(tasks)
    return frame


@functools.cache
def _load(experiment: str) -> pd.DataFrame:
    raw = _read(experiment)
    if experiment == "fqi":
        frame = _fqi(raw)
    else:
        frame = _with_task_sets(raw, TASK_NAMES.get(experiment, {}), "group" if "group" in raw.columns else None)
    frame = frame[COLUMNS].astype({"n_tasks": int, "step": int, "n_runs": int, "mean": float, "std": float})
    return frame.sort_values(["experiment", "algorithm", "variants", "task", "metric", "step"],
                             kind="stable").reset_index(drop=True)


def load(experiment: str) -> pd.DataFrame:
    """The published summaries of ``experiment`` (one of :data:`EXPERIMENTS`), columns :data:`COLUMNS`.

    The experiment's transfer rows come with it (``experiment`` = ``<name>_transfer``).
    """
    if experiment not in EXPERIMENTS:
        raise ConfigError(f"no published results for experiment {experiment!r}: choose one of {list(EXPERIMENTS)}")
    return _load(experiment).copy()


def curve(reference: pd.DataFrame, metric: str, algorithm: str | None = None, variants: str | None = None,
          n_tasks: int | None = None, task: str | None = None) -> pd.DataFrame:
    """The published curve matching every given key, sorted by step: columns step, mean, std, n_runs.

    Empty when nothing matches, so a caller can draw ours alone.
    """
    mask = reference["metric"] == metric
    for column, value in (("algorithm", algorithm), ("variants", variants), ("n_tasks", n_tasks), ("task", task)):
        if value is not None:
            mask &= reference[column] == value
    rows = reference.loc[mask, ["step", "mean", "std", "n_runs"]]
    return rows.sort_values("step").reset_index(drop=True)


# -- ours, shipped ---------------------------------------------------------------------------------

SHIPPED = ("fqi", "dqn", "ddpg", "dqn_transfer", "ddpg_transfer")
SHIPPED_COLUMNS = [*COLUMNS[:6], "width", *COLUMNS[6:]]
SHIPPED_PREFIX = "# mtrl-bench-shipped: "
PROVENANCE_KEYS = ("name", "created", "protocol", "metrics", "runs", "failed_runs", "seeds", "git_commits",
                   "sources")
"""Keys every shipped file's provenance has (:mod:`analysis.ship` writes them; more are allowed)."""
SHIPPED_DIR = Path(__file__).parent / "ours"
PUBLISHED_STEPS_PER_EPOCH = {"dqn": 1_000, "dqn_transfer": 1_000, "ddpg": 10_000, "ddpg_transfer": 10_000}
"""Environment steps per task in one epoch of the authors' published curves (FQI counts iterations)."""


def published_epoch_scale(name: str, provenance: dict) -> float:
    """How many of our epochs one published epoch of ``name`` spans, from a shipped file's provenance
    (``steps_per_epoch``): 10 for a DDPG protocol of 1,000-step epochs; 1 when unknown or equal."""
    ours = provenance.get("steps_per_epoch")
    theirs = PUBLISHED_STEPS_PER_EPOCH.get(name)
    return theirs / ours if ours and theirs else 1.0
_SHIPPED_KEYS = ["experiment", "algorithm", "variants", "n_tasks", "task", "width", "step", "metric"]


def shipped_experiments(name: str) -> set[str]:
    """The ``experiment`` values a shipped file of ``name`` may hold (a transfer's also its learner's)."""
    return {name, name.removesuffix("_transfer")}


def read_shipped(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """A shipped summary file and its provenance, checked: name, provenance keys, columns, experiments,
    counts, spreads and one row per key; bad input is one :class:`ConfigError` line that says what to fix."""
    path = Path(path)
    fix = "; write it with `python -m analysis.ship` (docs/analysis.md)"
    name = path.stem
    if name not in SHIPPED:
        raise ConfigError(f"{path}: a shipped file is named <name>.csv with name one of {list(SHIPPED)}")
    with open(path) as handle:
        first = handle.readline()
        if not first.startswith(SHIPPED_PREFIX):
            raise ConfigError(f"{path}: the first line must be {SHIPPED_PREFIX.strip()!r} + JSON provenance{fix}")
        try:
            provenance = json.loads(first[len(SHIPPED_PREFIX):])
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}: the provenance line is not JSON ({err.msg}){fix}") from err
        try:
            frame = pd.read_csv(handle, dtype={"experiment": str, "algorithm": str, "variants": str, "task": str,
                                               "group": str, "metric": str}, keep_default_na=False,
                                na_values={c: [""] for c in ("width", "step", "mean", "std", "n_runs")})
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise ConfigError(f"{path}: no readable table after the provenance line{fix}") from err
    missing = [key for key in PROVENANCE_KEYS if key not in provenance]
    if missing or provenance.get("name") != name:
        raise ConfigError(f"{path}: provenance needs keys {list(PROVENANCE_KEYS)} and name {name!r} "
                          f"(missing {missing}){fix}")
    if list(frame.columns) != SHIPPED_COLUMNS:
        raise ConfigError(f"{path}: columns must be {SHIPPED_COLUMNS}, found {list(frame.columns)}{fix}")
    others = set(frame["experiment"]) - shipped_experiments(name)
    if others:
        raise ConfigError(f"{path}: rows of experiments {sorted(others)}; a {name} file holds only "
                          f"{sorted(shipped_experiments(name))}{fix}")
    numbers = frame[["n_tasks", "width", "step", "mean", "std", "n_runs"]].apply(pd.to_numeric, errors="coerce")
    counts_ok = numbers["n_runs"].notna().all() and (numbers["n_runs"] >= 1).all() and (
        numbers["n_runs"] % 1 == 0).all()
    spread_ok = ((numbers["std"] >= 0) | (numbers["std"].isna() & (numbers["n_runs"] == 1))).all()
    if not (counts_ok and spread_ok and numbers[["n_tasks", "width", "step", "mean"]].notna().all().all()):
        raise ConfigError(f"{path}: every row needs numbers n_tasks, width, step, mean, an integer n_runs >= 1 and "
                          f"std >= 0 (empty only for one run){fix}")
    if frame.duplicated(_SHIPPED_KEYS).any():
        raise ConfigError(f"{path}: more than one row per {_SHIPPED_KEYS}{fix}")
    frame[["n_tasks", "width", "step", "n_runs"]] = numbers[["n_tasks", "width", "step", "n_runs"]].astype(int)
    frame[["mean", "std"]] = numbers[["mean", "std"]].astype(float)
    return frame, provenance


def load_shipped(name: str, directory: str | os.PathLike = SHIPPED_DIR) -> pd.DataFrame | None:
    """Our shipped paper-protocol summaries ``<directory>/<name>.csv`` (:func:`read_shipped`), None when absent."""
    if name not in SHIPPED:
        raise ConfigError(f"no shipped results for {name!r}: choose one of {list(SHIPPED)}")
    path = Path(directory) / f"{name}.csv"
    return read_shipped(path)[0] if path.is_file() else None


def shipped_curve(shipped: pd.DataFrame, metric: str, width: float | None = None, **keys) -> pd.DataFrame:
    """The shipped curve matching ``keys`` (as :func:`curve`) at shared width ``width`` when shipped there,
    else at the widest shipped width: columns step, mean, std, n_runs, width; empty when none match."""
    rows = shipped.loc[shipped["metric"] == metric]
    for column, value in keys.items():
        if value is not None:
            rows = rows.loc[rows[column] == value]
    if rows.empty:
        return pd.DataFrame(columns=["step", "mean", "std", "n_runs", "width"])
    widths = set(rows["width"])
    chosen = width if width in widths else max(widths)
    at = rows.loc[rows["width"] == chosen, ["step", "mean", "std", "n_runs", "width"]]
    return at.sort_values("step").reset_index(drop=True)
