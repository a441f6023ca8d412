"""Job planning: which runs a workflow config section asks for, as plain data the Snakemake rules read.

A workflow section (``workflow/config/*.yaml``) has the workflow's own keys (``seeds``,
``seed_batch_size``, ``sweep``, ``task_sets``, ``groups``, ...) and ``params``, the fields of the
experiment's ``Config``. The rules (``workflow/rules/*.smk``) expand the jobs these functions list into
file names and call ``mtrl-bench run <experiment> <run_args(...)>``; nothing here knows Snakemake.

Run files are named ``<job>_<point>_s<first>-<last>.csv`` (:func:`run_name`): the job kind (an FQI task
set ``T4_nested``, ``mdqn``, ``dqn_<task>``, ``mddpg_<group>``, ``ddpg_<task>``), the sweep point's label
(``w30``) and the seed batch. A transfer's no-transfer curve is the learner's own single-task run
(:func:`single_task_job`), so both sides use the same two functions.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable, Mapping, Sequence
from importlib import import_module
from typing import Any

from mtrl_bench import config as hyper
from mtrl_bench.errors import ConfigError

Section = Mapping[str, Any]
Point = dict[str, Any]

# Short names of swept fields in run file names (w30 = shared width 30); other fields keep their name.
SHORT = {"shared_width": "w", "widths": "w", "input_map": ""}
# Transfer learners -> the source run's algorithm name.
TRANSFER_LEARNERS = {"dqn": "mdqn", "ddpg": "mddpg"}


# -- seeds and sweep points ------------------------------------------------------------------------

def seed_batches(section: Section) -> list[str]:
    """Seed ranges ``"first-last"`` of at most ``seed_batch_size`` seeds each (all seeds when absent)."""
    first, count = section["seeds"]["first"], section["seeds"]["count"]
    size = section.get("seed_batch_size", count)
    return [f"{s}-{min(s + size, first + count) - 1}" for s in range(first, first + count, size)]


def seed_list(batch: str) -> list[int]:
    """The seeds of a batch label: ``"3-5"`` -> ``[3, 4, 5]``."""
    low, high = (int(x) for x in batch.split("-"))
    return list(range(low, high + 1))


def sweep_points(section: Section) -> dict[str, Point]:
    """``{label: {field: value}}`` for every combination of the section's ``sweep`` lists (one job each).

    The label names the point in run file names, e.g. ``"w30"`` or ``"task_w5"``; no sweep gives the one
    point ``{"": {}}``.
    """
    points: dict[str, Point] = {"": {}}
    for field, values in section.get("sweep", {}).items():
        points = {(f"{label}_" if label else "") + f"{SHORT.get(field, field)}{value}": {**point, field: value}
                  for label, point in points.items() for value in values}
    return points


def grid(points: Mapping[str, Point], kinds: Iterable[Mapping[str, Any]] = ({},)) -> list[tuple[Point, dict]]:
    """Every (sweep point, job-kind fields) pair: the jobs of a section, for :func:`experiment_config`."""
    return [(point, dict(fixed)) for fixed in kinds for point in points.values()]


def run_name(job: str, point: str, seeds: str) -> str:
    """The stem of a run file: ``<job>_<point>_s<seeds>`` (e.g. ``mdqn_w80_s0-4``)."""
    return f"{job}_{point}_s{seeds}"


def run_files(folder: str, jobs: Iterable[str], points: Iterable[str], batches: Sequence[str]) -> list[str]:
    """``<folder>/<run_name>.csv`` for every job x sweep point x seed batch (jobs and points sorted)."""
    return [f"{folder}/{run_name(job, point, seeds)}.csv" for job in sorted(jobs) for point in sorted(points)
            for seeds in batches]


def single_task_job(learner: str, task: str) -> str:
    """The job name of the learner's single-task run of ``task`` (``dqn_acrobot``): also the no-transfer curve."""
    return f"{learner}_{task}"


# -- one run's config --------------------------------------------------------------------------------

def experiment_config(name: str, section: Section, point: Mapping[str, Any], **fixed: Any) -> tuple[type, dict, Any]:
    """(Config class, mapping, built config) of one run: the section's ``params``, the sweep point and the
    job's fixed fields, validated by the experiment's dataclass (the one place values are checked).

    Raises ConfigError naming the key (``fqi.params.shared_width must be >= 1``).
    """
    experiment = import_module(f"mtrl_bench.experiments.{name}")
    mapping = hyper.merge(hyper.merge(section.get("params", {}), point), fixed)
    return experiment.Config, mapping, hyper.build(experiment.Config, mapping, where=f"{name}.params")


def run_args(name: str, section: Section, point: Mapping[str, Any], **fixed: Any) -> str:
    """The `--field value ...` argument list of one run (the dataclass's vocabulary), shell-quoted."""
    cls, mapping, _ = experiment_config(name, section, point, **fixed)
    return hyper.to_cli_args(cls, mapping)


# -- FQI ---------------------------------------------------------------------------------------------

def fqi_task_sets(section: Section) -> dict[str, list[str]]:
    """``{set_id: [variant names]}``: the paper's nested sets ``T<n>_nested`` and, with ``random_draws``,
    random subsets ``T<n>_random<d>`` of the 16 variants (a draw depends only on random_seed, n and d)."""
    from mtrl_bench.tasks.car_on_hill import dynamics as coh

    sets: dict[str, list[str]] = {}
    opts = section["task_sets"]
    for n in opts["n_tasks"]:
        if opts.get("nested", True):
            sets[f"T{n}_nested"] = [p.name for p in coh.nested_task_set(n)]
        rng = random.Random(opts.get("random_seed", 0) * 1000 + n)
        for draw in range(opts.get("random_draws", 0)):
            sets[f"T{n}_random{draw}"] = [coh.VARIANTS[i].name for i in sorted(rng.sample(range(len(coh.VARIANTS)), n))]
    return sets


def fqi_gamma(section: Section) -> float:
    """The discount of the section's runs: ``params.gamma``, else the task family's (for the AVI bound)."""
    return experiment_config("fqi", section, {})[2].discount()


# -- DQN and DDPG --------------------------------------------------------------------------------------

def dqn_jobs(section: Section) -> dict[str, list[str]]:
    """``{"mdqn": all tasks, "dqn_<task>": [task], ...}``: MDQN on the section's tasks and one DQN per task."""
    tasks = list(experiment_config("dqn", section, {})[2].tasks)
    return {"mdqn": tasks, **{single_task_job("dqn", task): [task] for task in tasks}}


def ddpg_group_tasks(section: Section) -> dict[str, list[str]]:
    """``{group: its tasks to run}`` of the section's ``groups`` (``[]`` = the whole group, null = skipped)."""
    from mtrl_bench.experiments.ddpg import task_names

    out = {}
    for group, tasks in section["groups"].items():
        if tasks is None:  # null switches off a group inherited from another config file
            continue
        try:
            out[group] = task_names(experiment_config("ddpg", section, {}, group=group, tasks=tasks)[2])
        except ConfigError as err:
            raise ConfigError(f"ddpg.groups.{group}: {err}") from None
    return out


def ddpg_jobs(section: Section) -> dict[str, dict[str, Any]]:
    """``{job: {"group": g, "tasks": [...]}}``: per group MDDPG on its tasks (``mddpg_<group>``, only for two
    or more tasks) and one DDPG per task (``ddpg_<task>``; task names are unique across groups)."""
    jobs: dict[str, dict[str, Any]] = {}
    for group, names in ddpg_group_tasks(section).items():
        if len(names) > 1:
            jobs[f"mddpg_{group}"] = {"group": group, "tasks": names}
        jobs.update({single_task_job("ddpg", task): {"group": group, "tasks": [task]} for task in names})
    return jobs


# -- transfer --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TransferCase:
    """The jobs of one learner's transfer section (``transfer.dqn`` or ``transfer.ddpg``).

    Per (held-out task, sweep point) pair a source run trains the learner on the other tasks of the pool
    and saves its shared layers; per frozen-epoch setting a transfer run loads them into a fresh
    single-task learner of the held-out task. The learner's section gives params, sweep and seeds.
    """

    learner: str
    section: Section                  # the learner's workflow section (params, sweep, seeds)
    points: dict[str, Point]          # its sweep points
    pools: dict[str, list[str]]       # point label -> the learner's tasks there (the leave-one-out pool)
    group_of: dict[str, str]          # DDPG task -> its group (empty for DQN)
    pairs: list[tuple[str, str]]      # (held-out task, point label)
    frozen: dict[str, int]            # frozen label (f0, f10, fall) -> epochs the loaded layers stay frozen
    save_shared: str
    load_into: str
    resources: dict[str, Any]

    @property
    def held(self) -> list[str]:
        return sorted({task for task, _ in self.pairs})

    def learner_fields(self, held: str) -> dict[str, str]:
        """Per-run fields that come from the held-out task: a DDPG task's group."""
        return {"group": self.group_of[held]} if self.learner == "ddpg" else {}

    def source_fields(self, held: str, point: str, checkpoint_dir: str) -> dict[str, Any]:
        """The fixed fields of the source run for ``held``: the other tasks of its pool (and group)."""
        fields = self.learner_fields(held)
        sources = [task for task in self.pools[point]
                   if task != held and self.group_of.get(task) == fields.get("group")]
        return {"tasks": sources, "save_shared": self.save_shared, "checkpoint_dir": checkpoint_dir, **fields}

    def source_args(self, held: str, point: str, checkpoint_dir: str) -> str:
        return run_args(self.learner, self.section, self.points[point],
                        **self.source_fields(held, point, checkpoint_dir))

    def run_params(self, held: str, point: str, frozen: str, source_dir: str) -> dict[str, Any]:
        """The mapping of one transfer run (transfer.Config's vocabulary): the learner's params without tasks."""
        inner = hyper.merge(self.section.get("params", {}), self.points[point])
        inner = {k: v for k, v in inner.items() if k not in ("tasks", "save_shared", "checkpoint_dir")}
        inner.update(self.learner_fields(held))
        return {"algorithm": self.learner, "target": held, "source_dir": source_dir,
                "frozen_epochs": self.frozen[frozen], "load_into": self.load_into, self.learner: inner}

    def run_args(self, held: str, point: str, frozen: str, source_dir: str) -> str:
        return run_args("transfer", {}, {}, **self.run_params(held, point, frozen, source_dir))

    def source_jobs(self, checkpoint_dir: str = "checkpoints") -> list[tuple[Point, dict]]:
        """(sweep point, fixed fields) of every source run, for :func:`experiment_config` on the learner."""
        return [(self.points[point], self.source_fields(held, point, checkpoint_dir)) for held, point in self.pairs]

    def run_jobs(self, source_dir: str = "checkpoints") -> list[tuple[Point, dict]]:
        """({}, mapping) of every transfer run, for :func:`experiment_config` on ``transfer``."""
        return [({}, self.run_params(held, point, frozen, source_dir)) for held, point in self.pairs
                for frozen in self.frozen]

    def run_files(self, folder: str, batches: Sequence[str]) -> list[str]:
        """The transfer runs' files ``<folder>/<held>_<point>_<frozen>_s<seeds>.csv``."""
        return [f"{folder}/{held}_{point}_{frozen}_s{seeds}.csv" for held, point in self.pairs
                for frozen in sorted(self.frozen) for seeds in batches]

    def baseline_files(self, folder: str, batches: Sequence[str]) -> list[str]:
        """The no-transfer curves: the learner's own single-task runs of each held-out task (reused, not rerun)."""
        return [f"{folder}/{run_name(single_task_job(self.learner, held), point, seeds)}.csv"
                for held, point in self.pairs for seeds in batches]


def _transfer_pool(learner: str, section: Section, point: Point, group_of: dict[str, str]) -> list[str]:
    """The learner experiment's tasks at a sweep point, in its order; a swept DDPG ``group`` gives each
    point its own pool (``group_of`` records each DDPG task's group)."""
    if learner == "dqn":
        return list(experiment_config(learner, section, point)[2].tasks)
    from mtrl_bench.experiments.ddpg import task_names

    pool: list[str] = []
    for group, tasks in section["groups"].items():
        if tasks is None:
            continue
        names = task_names(experiment_config(learner, section, point, group=group, tasks=tasks)[2])
        group_of.update({name: group for name in names})
        pool += names
    return pool


def transfer_case(learner: str, case: Section, section: Section | None) -> TransferCase:
    """The checked jobs of ``transfer.<learner>`` (``case``) on the learner's section (None: absent)."""
    if section is None:
        raise ConfigError(f"transfer.{learner} needs the `{learner}` section (its params, sweep and seeds; its "
                          f"single-task runs are the no-transfer curves)")
    points = sweep_points(section)
    group_of: dict[str, str] = {}
    pools = {label: _transfer_pool(learner, section, point, group_of) for label, point in points.items()}
    wanted = case.get("held_out", "all")
    pairs = [(task, label) for label, pool in pools.items() for task in pool if wanted == "all" or task in wanted]
    everywhere = sorted({task for pool in pools.values() for task in pool})
    for task in ([] if wanted == "all" else wanted):
        if task not in everywhere:
            raise ConfigError(f"transfer.{learner}.held_out: {task!r} is not one of the {learner} tasks {everywhere}")
    if min(len(pool) for pool in pools.values()) < 2 or any(
            sum(group_of.get(t) == group_of.get(held) for t in pools[label]) < 2 for held, label in pairs):
        raise ConfigError(f"transfer.{learner} needs at least two {learner} tasks")
    epochs = experiment_config(learner, section, {})[2].epochs
    frozen = {}
    for value in case.get("frozen_epochs", [0, "all"]):
        if value == "all":
            frozen["fall"] = epochs
        elif isinstance(value, int) and 0 <= value < epochs:
            frozen[f"f{value}"] = value
        else:
            raise ConfigError(f"transfer.{learner}.frozen_epochs: {value!r} must be an integer in 0..{epochs - 1} "
                              f"(the {learner} runs last {epochs} epochs) or `all`")
    return TransferCase(learner=learner, section=section, points=points, pools=pools, group_of=group_of, pairs=pairs,
                        frozen=frozen, save_shared=case.get("save_shared", "best"),
                        load_into=case.get("load_into", "online_and_target"), resources=case.get("resources", {}))
