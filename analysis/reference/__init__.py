"""The authors' published results (per-evaluation mean, std, n), under this project's names.

The CSV files beside this module summarise the result arrays published with the code of D'Eramo,
Tateo, Bonarini, Restelli & Peters, "Sharing Knowledge in Multi-Task Deep Reinforcement Learning"
(ICLR 2020); ``SOURCE.md`` names the source and the score conventions. :func:`load` returns one
experiment's rows in one tidy shape, :data:`COLUMNS`:

==============  ==================================================================================
experiment      ``fqi``, ``dqn``, ``ddpg``, or ``dqn_transfer`` / ``ddpg_transfer``
algorithm       ``fqi``/``mfqi``, ``dqn``/``mdqn``, ``ddpg``/``mddpg``, ``transfer_unfreeze<N>``
variants        the task set, as our results name it: tasks joined by ``+`` in the paper's order
                (FQI T = 2: ``1.000_4.000+0.800_4.000``; MDQN: all five DQN tasks)
n_tasks         number of tasks in ``variants``
task            our task name; ``mean`` for FQI (their values are means over the set's tasks)
group           the DDPG task group (``pendulum``, ``walker``); empty elsewhere
step            FQI iteration (1..50) or epoch (0 = before learning .. 50 for DQN, 100 for DDPG)
metric          ``avi_diff``, ``J_authors`` (FQI), ``return_discounted`` (DQN, DDPG)
mean, std       over runs (std with ddof 1), in the metric's units
n_runs          number of independent runs (100 for FQI and DQN, 40 for DDPG)
==============  ==================================================================================

Names: FQI variants are ``"%.3f_%.3f" % (mass, force)``, as ours; DQN tasks are ours as they stand;
other task names go through :data:`TASK_NAMES` (authors' name -> ours; a name not listed is kept).
To match a new experiment, add its authors-to-ours entries there.

Score conventions (see ``SOURCE.md``): FQI ``avi_diff`` is directly comparable with ours; DQN returns
average only the completed evaluation episodes, as ours; DDPG returns count the unfinished last episode;
``J_authors`` for T > 1 is not a per-task return.

Public API
----------
``EXPERIMENTS``, ``COLUMNS``, ``TASK_NAMES``, ``CONVENTIONS``
``load(experiment) -> DataFrame``                          one experiment (and its transfer rows)
``curve(reference, metric, algorithm=None, variants=None, n_tasks=None, task=None) -> DataFrame``
    the matching rows sorted by step (columns step, mean, std, n_runs); empty when none match
"""

from __future__ import annotations

import functools
from importlib import resources

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
