"""The Car-On-Hill variants as a task family for FQI (see :mod:`mtrl_bench.tasks.family`).

Tasks: the 16 variants by index (``"3"``) or name (``"1.000_4.375"``), or any ``"%.3f_%.3f" % (m, a)`` with
``"_g%.3f" % g`` when g != 9.81 (:func:`variant`); truth: exact Q* on the paper's 10 x 10 x 2 test grid.

Design notes: docs/tasks.md#the-car-on-hill-family.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mtrl_bench.errors import ConfigError
from mtrl_bench.tasks import family
from mtrl_bench.tasks.car_on_hill import authors_data
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.datasets import Transitions, held_out, load_or_generate
from mtrl_bench.tasks.car_on_hill.qstar import paper_test_grid, q_star_table, read_q_star_csv, write_q_star_csv

_NAME = re.compile(r"^(\d+(?:\.\d+)?)_(\d+(?:\.\d+)?)(?:_g(\d+(?:\.\d+)?))?$")


def variant(key: str | int) -> coh.CarOnHillParams:
    """A paper variant by index or name (:func:`.dynamics.variant`), or any other task by its name
    ``"<mass>_<action>"`` / ``"<mass>_<action>_g<gravity>"`` (3 decimals, the name round-trips)."""
    try:
        return coh.variant(key)
    except ConfigError:
        match = _NAME.match(str(key).strip())
        if match is None:
            raise
        mass, action, gravity = match.groups()
        params = coh.CarOnHillParams(mass=float(mass), action=float(action),
                                     gravity=9.81 if gravity is None else float(gravity))
        if params.name != str(key).strip():
            raise ConfigError(f"Car-On-Hill task name {key!r} is not canonical: write it as {params.name!r} "
                              "(3 decimals; gravity only when it is not 9.81)") from None
        return params


def load_q_star(variants: Sequence[str], qstar_dir: str | Path | None) -> dict[str, np.ndarray]:
    """Variant name -> Q* (200,) on the paper's test grid, read from ``qstar_dir``/<name>.csv or
    computed (and then written there); ``variants`` by name or index."""
    tables = {}
    for key in variants:
        name = variant(key).name
        path = Path(qstar_dir) / f"{name}.csv" if qstar_dir else None
        if path is not None and path.is_file():
            tables[name] = read_q_star_csv(path)
            continue
        print(f"car_on_hill: computing exact Q* for {name}" + (f" (cached at {path})" if path else ""),
              file=sys.stderr)
        table = q_star_table(variant(name))
        if path is not None:
            write_q_star_csv(path, table)
        tables[name] = table["q_star"]
    return tables


def authors_q_star(q_star: np.ndarray, gamma: float = coh.GAMMA) -> np.ndarray:
    """Q* as the authors stored it: failure values strictly between -1 and 0 (-gamma^(k-1), k > 1)
    become -gamma^k, one step too deep; successes and immediate failures (-1) are unchanged. Any shape."""
    q_star = np.asarray(q_star, dtype=float)
    return np.where((q_star < 0) & (q_star > -1), gamma * q_star, q_star)


def greedy_return(policy: family.Policy, n_members: int, params: Sequence[coh.CarOnHillParams],
                  gamma: float) -> np.ndarray:
    """Discounted return (S, T) of ``policy`` from the start state over the horizon, S = ``n_members``."""
    n_tasks = len(params)
    mass = np.array([p.mass for p in params])[None, :]
    gravity = np.array([p.gravity for p in params])[None, :]
    force = np.array([p.action for p in params])[None, :]
    state = np.broadcast_to(np.array(coh.START_STATE), (n_members, n_tasks, 2)).copy()
    alive = np.ones((n_members, n_tasks), dtype=bool)
    ret = np.zeros((n_members, n_tasks))
    for t in range(coh.HORIZON):
        action = policy(state)
        nxt, reward, absorbing = coh.step(state, action, mass, gravity, force)
        ret += np.where(alive, gamma**t * reward, 0.0)
        alive &= ~absorbing
        state = np.where(alive[..., None], nxt, state)
        if not alive.any():
            break
    return ret


class CarOnHillFamily:
    """The Car-On-Hill variants (see the module docstring)."""

    name = "car_on_hill"
    gamma = coh.GAMMA
    obs_dim = coh.OBS_DIM
    n_actions = coh.N_ACTIONS

    def task_names(self, keys: Sequence[str]) -> list[str]:
        if not keys:
            raise ConfigError("give at least one Car-On-Hill variant (variants)")
        names = [variant(key).name for key in keys]
        if len(set(names)) != len(names):
            raise ConfigError(f"variants repeat a task: {list(keys)}")
        return names

    def transitions(self, task: str, dataset, data_dir: str | None) -> Transitions:
        return load_or_generate(variant(task), dataset, data_dir)

    def held_out_transitions(self, task: str, dataset, data_dir: str | None) -> Transitions:
        return load_or_generate(variant(task), held_out(dataset), data_dir)

    def read_transitions(self, task: str, directory: str) -> Transitions:
        return authors_data.load_variant(directory, variant(task))

    def holdout_seed(self, dataset, task_index: int) -> int:
        return dataset.seed * 1000 + task_index

    def truth(self, tasks: Sequence[str], qstar_dir: str | None) -> family.TestTruth:
        q_star = load_q_star(tasks, qstar_dir)
        states, actions = paper_test_grid()
        n_tasks = len(tasks)
        table = np.stack([q_star[variant(key).name] for key in tasks])
        return family.TestTruth(states=np.repeat(states[None], n_tasks, axis=0),
                                actions=np.repeat(actions[None], n_tasks, axis=0),
                                q_star=table, q_star_authors=authors_q_star(table, self.gamma))

    def greedy_return(self, policy: family.Policy, n_members: int, tasks: Sequence[str], gamma: float) -> np.ndarray:
        return greedy_return(policy, n_members, [variant(name) for name in tasks], gamma)


family.register(CarOnHillFamily.name, CarOnHillFamily)
