"""Exact optimal action-values of Car-On-Hill by breadth-first search over action sequences.

The dynamics are deterministic and rewards are terminal only, so for a state-action pair (s, a):

* Q*(s, a) = +gamma^(k-1) if the car can leave at the top in k steps at best (k counts the step
  taken with a), and
* Q*(s, a) = -gamma^(k-1) if every action sequence fails, with k the largest number of steps any
  sequence postpones failure (immediate failure gives -1),
* 0 when neither is settled within ``max_depth`` steps (the authors' cap of 50, never reached on
  the paper's grid: optimal paths are at most ~25 steps).

The search is vectorised over every start pair and every frontier state at once: depth d holds the
states reached by all surviving length-d sequences, tagged with the index of the pair they came from.
Exact pruning only:

* a branch that ends (success or failure) is not expanded: nothing after an absorbing state counts;
* once a pair's success depth is known, its whole frontier is dropped: BFS finds the smallest k
  first, so deeper successes cannot change the answer, and a pair with a success is no failure case.

Optional de-duplication (``merge_resolution``) keeps one state per (pair, cell) of a grid with the
given cell sizes. It is *not* exact: two merged states are within one cell of each other and their
futures can differ. Measured against the plain search on the 200 test pairs of the paper's variants,
a cell of (1e-3, 1e-3) changed no value (tests/test_qstar.py checks pairs where the plain search is
cheap); it is off by default.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mtrl_bench.errors import ConfigError
from mtrl_bench.results import atomic_write_text
from mtrl_bench.tasks.car_on_hill import dynamics as coh

MAX_DEPTH = 50
QSTAR_COLUMNS = ["position", "velocity", "action", "q_star"]


def paper_test_grid() -> tuple[np.ndarray, np.ndarray]:
    """The paper's 10 x 10 test states x 2 actions.

    Returns ``(states (200, 2), actions (200,))`` ordered action first, then position, with
    velocity varying fastest.
    """
    positions, velocities = np.linspace(-1, 1, 10), np.linspace(-3, 3, 10)
    grid = np.stack(np.meshgrid(positions, velocities, indexing="ij"), axis=-1).reshape(-1, 2)
    states = np.concatenate([grid, grid])
    actions = np.repeat(np.arange(coh.N_ACTIONS), len(grid))
    return states, actions


def solve_q_star(
    params: coh.CarOnHillParams,
    states: np.ndarray,
    actions: np.ndarray,
    gamma: float = coh.GAMMA,
    max_depth: int = MAX_DEPTH,
    max_frontier: int = 40_000_000,
    merge_resolution: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Q*(s, a) for each pair; also the signed depth k (+k success, -k failure, 0 undecided).

    Args:
        states: (N, 2) positions and velocities. actions: (N,) in {0, 1}.
        max_frontier: the largest number of frontier states held at once (memory bound: 16 bytes
            each, twice that while expanding); exceeding it raises ConfigError.
    Returns:
        q_star (N,) float64 and depth (N,) int64.
    """
    states = np.asarray(states, dtype=np.float64).reshape(-1, 2)
    actions = np.asarray(actions).reshape(-1)
    if len(states) != len(actions):
        raise ConfigError(f"{len(states)} states but {len(actions)} actions")
    if not 1 <= max_depth <= 200:
        raise ConfigError(f"max_depth must be in 1..200, got {max_depth}")
    n_pairs = len(states)
    depth = np.zeros(n_pairs, dtype=np.int64)

    def expand(frontier, actions_taken):
        return coh.step(frontier, actions_taken, params.mass, params.gravity, params.action)

    next_states, reward, absorbing = expand(states, actions)
    depth[reward > 0] = 1
    depth[reward < 0] = -1
    frontier, owner = next_states[~absorbing], np.nonzero(~absorbing)[0]
    for d in range(2, max_depth + 1):
        if len(frontier) == 0:
            break
        branch_states = np.repeat(frontier, coh.N_ACTIONS, axis=0)
        branch_actions = np.tile(np.arange(coh.N_ACTIONS), len(frontier))
        branch_owner = np.repeat(owner, coh.N_ACTIONS)
        next_states, reward, absorbing = expand(branch_states, branch_actions)
        solved = np.unique(branch_owner[reward > 0])
        depth[solved] = d
        keep = ~absorbing & (depth[branch_owner] == 0)
        frontier, owner = next_states[keep], branch_owner[keep]
        # Pairs with no surviving branch and no success: every sequence has failed by step d.
        expanded, alive = np.zeros(n_pairs, dtype=bool), np.zeros(n_pairs, dtype=bool)
        expanded[branch_owner] = True
        alive[owner] = True
        failed_now = (depth == 0) & expanded & ~alive
        depth[failed_now] = -d
        if merge_resolution is not None and len(frontier):
            frontier, owner = _merge(frontier, owner, merge_resolution)
        if len(frontier) > max_frontier:
            raise ConfigError(
                f"Q* search frontier reached {len(frontier)} states at depth {d} (> max_frontier "
                f"{max_frontier}); raise max_frontier if memory allows, or pass fewer pairs at once"
            )
    sign = np.sign(depth)
    q_star = np.where(depth == 0, 0.0, sign * gamma ** (np.abs(depth) - 1).astype(np.float64))
    return q_star, depth


def _merge(frontier: np.ndarray, owner: np.ndarray, resolution: tuple[float, float]):
    """Keep the first state of each (owner, grid cell); see the module docstring for the caveat."""
    cells = np.floor(frontier / np.asarray(resolution)).astype(np.int64)
    key = np.stack([owner, cells[:, 0], cells[:, 1]], axis=1)
    _, first = np.unique(key, axis=0, return_index=True)
    first.sort()
    return frontier[first], owner[first]


def q_star_table(params: coh.CarOnHillParams, **kwargs) -> dict[str, np.ndarray]:
    """Q* on the paper's test grid as columns position, velocity, action, q_star (200 rows)."""
    states, actions = paper_test_grid()
    q_star, depth = solve_q_star(params, states, actions, **kwargs)
    return {"position": states[:, 0], "velocity": states[:, 1], "action": actions, "q_star": q_star,
            "depth": depth}


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
