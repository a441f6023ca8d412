"""Exact optimal action-values of Car-On-Hill by a search over action sequences.

Q*(s, a) = +gamma^(k-1) (success in k steps at best), -gamma^(k-1) (every sequence fails; k the longest
postponement), 0 when unsettled within ``max_depth``; ``method="bounded"`` (A*, default) or ``"plain"`` (BFS).

Design notes: docs/tasks.md#exact-q-values-and-the-two-searches.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from mtrl_bench.checksums import matches_sidecar, sidecar, sidecar_text
from mtrl_bench.errors import ConfigError
from mtrl_bench.results import atomic_write_text, read_plain_table
from mtrl_bench.tasks.car_on_hill import dynamics as coh

MAX_DEPTH = 50
QSTAR_COLUMNS = ["position", "velocity", "action", "q_star"]
METHODS = ("bounded", "plain")
BOUND_CELLS = (128, 128)  # grid of the lower bound over (position, velocity)
_BOX_WIDENING = 1.0  # each side of a cell's image box moves out by this many half-widths ...
_BOX_MARGIN = 1e-5  # ... plus this (position and velocity units)
_NEVER = np.iinfo(np.int64).max // 4  # "no success found / possible"
_EXPAND_CHUNK = 1 << 15  # most nodes stepped per call of the dynamics (bounds the step's temporaries)
_BATCH = 2048  # nodes the best-first search gathers per call when it can (a call costs ~1,000 states)


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


@dataclass(frozen=True)
class SearchResult:
    """Signed depths (N,) int64 (+k success, -k failure, 0 undecided) and the search's size.

    ``expanded``: states stepped through the dynamics (2 per expanded node); ``peak_nodes``: the
    largest number of search nodes (16-byte states plus owner and depth) held at once: the plain
    search's frontier, or the bounded search's queue (the batch being stepped adds at most
    ``_EXPAND_CHUNK`` nodes to it).
    """

    depth: np.ndarray
    expanded: int
    peak_nodes: int


def solve_q_star(
    params: coh.CarOnHillParams,
    states: np.ndarray,
    actions: np.ndarray,
    gamma: float = coh.GAMMA,
    max_depth: int = MAX_DEPTH,
    max_frontier: int = 40_000_000,
    merge_resolution: tuple[float, float] | None = None,
    method: str = "bounded",
) -> tuple[np.ndarray, np.ndarray]:
    """Q*(s, a) for each pair; also the signed depth k (+k success, -k failure, 0 undecided).

    Args:
        states: (N, 2) positions and velocities. actions: (N,) in {0, 1}.
        max_frontier: the largest number of search nodes held at once (memory bound: ~32 bytes
            each, see :class:`SearchResult`); exceeding it raises ConfigError. The bounded search
            holds <40,000 on the paper's grid; the plain one up to ~10^8 (variant 12).
        merge_resolution: merge frontier states per cell of this size (not exact; plain search only).
        method: "bounded" (best-first with a lower bound, default) or "plain" (breadth-first); both
            give identical values, see the module docstring.
    Returns:
        q_star (N,) float64 and depth (N,) int64.
    """
    depth = search(params, states, actions, max_depth, max_frontier, merge_resolution, method).depth
    sign = np.sign(depth)
    q_star = np.where(depth == 0, 0.0, sign * gamma ** (np.abs(depth) - 1).astype(np.float64))
    return q_star, depth


def search(
    params: coh.CarOnHillParams,
    states: np.ndarray,
    actions: np.ndarray,
    max_depth: int = MAX_DEPTH,
    max_frontier: int = 40_000_000,
    merge_resolution: tuple[float, float] | None = None,
    method: str = "bounded",
) -> SearchResult:
    """The signed depth of each pair (see :func:`solve_q_star` for the arguments) and the search's size."""
    states = np.asarray(states, dtype=np.float64).reshape(-1, 2)
    actions = np.asarray(actions).reshape(-1)
    if len(states) != len(actions):
        raise ConfigError(f"{len(states)} states but {len(actions)} actions")
    if not 1 <= max_depth <= 200:
        raise ConfigError(f"max_depth must be in 1..200, got {max_depth}")
    if method not in METHODS:
        raise ConfigError(f"Q* search method must be one of {METHODS}, got {method!r}")
    if merge_resolution is not None or method == "plain":
        return _plain_search(params, states, actions, max_depth, max_frontier, merge_resolution)
    return _bounded_search(params, states, actions, max_depth, max_frontier)


def _expand(params: coh.CarOnHillParams, states: np.ndarray, actions: np.ndarray):
    return coh.step(states, actions, params.mass, params.gravity, params.action)


def _frontier_error(size: int, depth: int, max_frontier: int) -> ConfigError:
    return ConfigError(
        f"Q* search held {size} nodes at depth {depth} (> max_frontier {max_frontier}); raise "
        f"max_frontier if memory allows, or pass fewer pairs at once"
    )


def _plain_search(params, states, actions, max_depth, max_frontier, merge_resolution) -> SearchResult:
    """Breadth-first over all surviving sequences of all pairs (see the module docstring)."""
    n_pairs = len(states)
    depth = np.zeros(n_pairs, dtype=np.int64)
    next_states, reward, absorbing = _expand(params, states, actions)
    expanded, peak = n_pairs, n_pairs
    depth[reward > 0] = 1
    depth[reward < 0] = -1
    frontier, owner = next_states[~absorbing], np.nonzero(~absorbing)[0]
    for d in range(2, max_depth + 1):
        if len(frontier) == 0:
            break
        branch_states = np.repeat(frontier, coh.N_ACTIONS, axis=0)
        branch_actions = np.tile(np.arange(coh.N_ACTIONS), len(frontier))
        branch_owner = np.repeat(owner, coh.N_ACTIONS)
        next_states, reward, absorbing = _expand(params, branch_states, branch_actions)
        expanded += len(branch_states)
        peak = max(peak, len(branch_states))
        solved = np.unique(branch_owner[reward > 0])
        depth[solved] = d
        keep = ~absorbing & (depth[branch_owner] == 0)
        frontier, owner = next_states[keep], branch_owner[keep]
        # Pairs with no surviving branch and no success: every sequence has failed by step d.
        expanded_pair, alive = np.zeros(n_pairs, dtype=bool), np.zeros(n_pairs, dtype=bool)
        expanded_pair[branch_owner] = True
        alive[owner] = True
        failed_now = (depth == 0) & expanded_pair & ~alive
        depth[failed_now] = -d
        if merge_resolution is not None and len(frontier):
            frontier, owner = _merge(frontier, owner, merge_resolution)
        if len(frontier) > max_frontier:
            raise _frontier_error(len(frontier), d, max_frontier)
    return SearchResult(depth, expanded, peak)


class _Buckets:
    """Search nodes (states (n, 2), owner pair (n,), depth (n,)) grouped by their bound f."""

    def __init__(self, max_frontier: int):
        self.by_f: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self.size, self.peak, self.max_frontier = 0, 0, max_frontier

    def push(self, states: np.ndarray, owner: np.ndarray, depth: np.ndarray, f: np.ndarray) -> None:
        for value in np.unique(f):
            pick = f == value
            self.by_f.setdefault(int(value), []).append((states[pick], owner[pick], depth[pick]))
        self.size += len(f)
        self.peak = max(self.peak, self.size)
        if self.size > self.max_frontier:
            raise _frontier_error(self.size, int(depth.max()), self.max_frontier)

    def lowest(self) -> int | None:
        """The smallest bound that has nodes, or None when empty."""
        filled = [f for f, parts in self.by_f.items() if parts]
        return min(filled) if filled else None

    def pop(self, first_f: int, last_f: int, wanted: int, limit: int):
        """Nodes of bounds first_f..last_f in increasing bound, most recently pushed first, until ``wanted``.

        Returns ``(states, owner, depth, f)``, at most ``limit`` nodes. Taking more than the lowest
        bound's nodes expands some nodes early, which changes no result (see :func:`_bounded_search`)
        and saves calls of the dynamics, whose fixed cost is that of ~1,000 states.
        """
        taken, count = [], 0
        for f in range(first_f, last_f + 1):
            parts = self.by_f.get(f, [])
            while parts and count < min(wanted, limit):
                states, owner, depth = parts.pop()
                room = limit - count
                if len(owner) > room:
                    parts.append((states[:-room], owner[:-room], depth[:-room]))
                    states, owner, depth = states[-room:], owner[-room:], depth[-room:]
                taken.append((states, owner, depth, np.full(len(owner), f)))
                count += len(owner)
            if count >= wanted:
                break
        self.size -= count
        return tuple(np.concatenate(column) for column in zip(*taken))


def _bounded_search(params, states, actions, max_depth, max_frontier) -> SearchResult:
    """Best-first search in increasing lower bound f (see the module docstring)."""
    bound = steps_to_success_bound(params)
    n_pairs = len(states)
    success = np.full(n_pairs, _NEVER, dtype=np.int64)  # best success depth found so far
    longest = np.zeros(n_pairs, dtype=np.int64)  # deepest node generated (ended or not)
    capped = np.zeros(n_pairs, dtype=bool)  # some sequence survives max_depth steps
    buckets = _Buckets(max_frontier)
    beyond = max_depth + 1  # every f above max_depth: expanded last, without the bound

    def record(next_states, reward, absorbing, owner, depth, parent_f):
        """Book the children (depth = theirs) and queue those that go on."""
        np.maximum.at(longest, owner, depth)
        won = reward > 0
        if won.any():
            if (parent_f[won] > depth[won]).any():
                raise RuntimeError("Q* search: a success came earlier than the lower bound allowed; "
                                   "the bound is wrong for these parameters, use method='plain'")
            np.minimum.at(success, owner[won], depth[won])
        going = ~absorbing
        capped[owner[going & (depth >= max_depth)]] = True
        going &= depth < max_depth
        if going.any():
            child_states, child_depth = next_states[going], depth[going]
            f = np.maximum(child_depth + _lookup(bound, child_states), parent_f[going])
            buckets.push(child_states, owner[going], child_depth, np.minimum(f, beyond))

    next_states, reward, absorbing = _expand(params, states, actions)
    expanded = n_pairs
    record(next_states, reward, absorbing, np.arange(n_pairs), np.ones(n_pairs, dtype=np.int64),
           np.ones(n_pairs, dtype=np.int64))
    # Nodes go in increasing f; nodes with f up to beyond - 1 may be taken early to fill a batch: a
    # success is booked at its true depth and the minimum kept, and every node with f below a pair's
    # final success depth is still expanded, so the result is the same as strict order.
    while (f_low := buckets.lowest()) is not None:
        last = beyond if f_low == beyond else beyond - 1
        nodes, owner, depth, f = buckets.pop(f_low, last, _BATCH, _EXPAND_CHUNK)
        # A node only leads to successes at depth >= f: useless once its pair has one that early. Past
        # max_depth (f = beyond, taken once no smaller f is left) only pairs with no success are
        # expanded, to find their failure depth, and only until a sequence survives max_depth steps.
        live = np.where(f < beyond, success[owner] > f, (success[owner] == _NEVER) & ~capped[owner])
        nodes, owner, depth, f = nodes[live], owner[live], depth[live], f[live]
        if len(owner) == 0:
            continue
        branch_actions = np.tile(np.arange(coh.N_ACTIONS), len(owner))
        next_states, reward, absorbing = _expand(params, np.repeat(nodes, coh.N_ACTIONS, axis=0), branch_actions)
        expanded += len(branch_actions)
        record(next_states, reward, absorbing, np.repeat(owner, coh.N_ACTIONS),
               np.repeat(depth, coh.N_ACTIONS) + 1, np.repeat(f, coh.N_ACTIONS))
    depth = np.where(success < _NEVER, success, np.where(capped, 0, -longest))
    return SearchResult(depth.astype(np.int64), expanded, buckets.peak)


@functools.lru_cache(maxsize=32)
def steps_to_success_bound(params: coh.CarOnHillParams, cells: tuple[int, int] = BOUND_CELLS) -> np.ndarray:
    """A lower bound on the steps any action sequence needs to leave at the top, per grid cell.

    Returns ``(n_p, n_v)`` int64 over cells of [-1, 1] x [-3, 3] (position, velocity); ``_NEVER``
    where no abstract path exists. For each cell and action, a box that contains the states the cell's
    states reach in one step (the bounding box of the images of a 3 x 3 lattice of the cell's points,
    widened on each side by its own half-width plus 1e-5); the bound is the shortest path, in the graph
    "cell -> every cell its box touches", to a box that reaches p > 1. It holds for every state of a cell
    as long as each box contains its cell's image (measured, not proven: see the module docstring).
    """
    lower, upper = _cell_image_boxes(params, cells)
    n_p, n_v = cells
    width = np.array([2.0 / n_p, 6.0 / n_v])
    corner = np.array([-coh.MAX_POSITION, -coh.MAX_VELOCITY])
    reaches_top = ((upper[..., 0] > coh.MAX_POSITION) & (lower[..., 1] <= coh.MAX_VELOCITY)
                   & (upper[..., 1] >= -coh.MAX_VELOCITY)).any(axis=0)
    inside = ((upper[..., 0] >= -coh.MAX_POSITION) & (lower[..., 0] <= coh.MAX_POSITION)
              & (upper[..., 1] >= -coh.MAX_VELOCITY) & (lower[..., 1] <= coh.MAX_VELOCITY))
    first = np.clip(np.floor((lower - corner) / width), 0, np.array(cells) - 1).astype(np.int64)
    last = np.clip(np.floor((upper - corner) / width), 0, np.array(cells) - 1).astype(np.int64)
    steps = np.where(reaches_top, 1, _NEVER)
    for k in range(1, MAX_DEPTH + 200):
        # Cells whose box touches a cell with steps <= k need at most k + 1: count via a summed-area table.
        table = np.zeros((n_p + 1, n_v + 1), dtype=np.int64)
        table[1:, 1:] = (steps <= k).cumsum(axis=0).cumsum(axis=1)
        touched = (table[last[..., 0] + 1, last[..., 1] + 1] - table[first[..., 0], last[..., 1] + 1]
                   - table[last[..., 0] + 1, first[..., 1]] + table[first[..., 0], first[..., 1]])
        new = (inside & (touched > 0)).any(axis=0) & (steps == _NEVER)
        if not new.any():
            break
        steps[new] = k + 1
    steps.setflags(write=False)
    return steps


def _cell_image_boxes(params: coh.CarOnHillParams, cells: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper corners (actions, n_p, n_v, 2) of boxes holding each cell's image after one step."""
    n_p, n_v = cells
    lattice = np.stack(np.meshgrid(np.linspace(-coh.MAX_POSITION, coh.MAX_POSITION, 2 * n_p + 1),
                                   np.linspace(-coh.MAX_VELOCITY, coh.MAX_VELOCITY, 2 * n_v + 1),
                                   indexing="ij"), axis=-1).reshape(-1, 2)
    lower, upper = [], []
    for action in range(coh.N_ACTIONS):
        images, _, _ = _expand(params, lattice, np.full(len(lattice), action))
        # Each cell's 3 x 3 lattice points (corners, edge midpoints, centre): windows of stride 2.
        windows = sliding_window_view(images.reshape(2 * n_p + 1, 2 * n_v + 1, 2), (3, 3), axis=(0, 1))[::2, ::2]
        low, high = windows.min(axis=(-2, -1)), windows.max(axis=(-2, -1))
        # A non-finite image (only for extreme parameters) leaves the cell's box unbounded: still a bound.
        bad = ~(np.isfinite(low) & np.isfinite(high)).all(axis=-1, keepdims=True)
        low, high = np.where(bad, -np.inf, low), np.where(bad, np.inf, high)
        widen = _BOX_WIDENING * (high - low) / 2 + _BOX_MARGIN
        lower.append(low - widen)
        upper.append(high + widen)
    return np.stack(lower), np.stack(upper)


def _lookup(bound: np.ndarray, states: np.ndarray) -> np.ndarray:
    """The bound (n,) of each state (n, 2) of [-1, 1] x [-3, 3] from its cell."""
    n_p, n_v = bound.shape
    i = np.clip(np.floor((states[:, 0] + coh.MAX_POSITION) * (n_p / 2.0)), 0, n_p - 1).astype(np.int64)
    j = np.clip(np.floor((states[:, 1] + coh.MAX_VELOCITY) * (n_v / 6.0)), 0, n_v - 1).astype(np.int64)
    return bound[i, j]


def _merge(frontier: np.ndarray, owner: np.ndarray, resolution: tuple[float, float]):
    """Keep the first state of each (owner, grid cell); see the module docstring for the caveat."""
    cells = np.floor(frontier / np.asarray(resolution)).astype(np.int64)
    key = np.stack([owner, cells[:, 0], cells[:, 1]], axis=1)
    _, first = np.unique(key, axis=0, return_index=True)
    first.sort()
    return frontier[first], owner[first]


MIN_PUSH_PER_GRAVITY = 0.3
"""The weakest car whose exact Q* the search is known to finish: force / mass >= 0.3 x gravity (the paper's
16 variants span 0.37-0.51, the Car-On-Hill similarity ablation goes down to 0.31). A weaker car neither
leaves nor fails for many steps, and the search tree of such a pair grows until ``max_frontier``."""


def check_solvable(params: coh.CarOnHillParams) -> None:
    """A one-line ConfigError, at once, for a variant whose exact Q* search is not known to finish."""
    ratio = params.action / params.mass / params.gravity
    if ratio < MIN_PUSH_PER_GRAVITY:
        raise ConfigError(f"Car-On-Hill task {params.name}: force / mass / gravity = {ratio:.3f} is below "
                          f"{MIN_PUSH_PER_GRAVITY}, the weakest car whose exact Q* search is known to finish (the "
                          f"paper's variants: 0.37-0.51): choose a force of at least "
                          f"{MIN_PUSH_PER_GRAVITY * params.mass * params.gravity:.3f}")


def q_star_table(params: coh.CarOnHillParams, **kwargs) -> dict[str, np.ndarray]:
    """Q* on the paper's test grid as columns position, velocity, action, q_star (200 rows); a variant the
    search cannot finish is refused first (:func:`check_solvable`)."""
    check_solvable(params)
    states, actions = paper_test_grid()
    q_star, depth = solve_q_star(params, states, actions, **kwargs)
    return {"position": states[:, 0], "velocity": states[:, 1], "action": actions, "q_star": q_star,
            "depth": depth}


def write_q_star_csv(path: str | Path, table: dict[str, np.ndarray]) -> None:
    """Write a Q* table (columns :data:`QSTAR_COLUMNS`, a plain CSV) atomically, then its checksum file
    ``<path>.sha256`` (:func:`mtrl_bench.checksums.sidecar`), which :func:`read_q_star_csv` checks."""
    frame = pd.DataFrame({c: table[c] for c in QSTAR_COLUMNS})
    written = atomic_write_text(path, frame.to_csv(index=False, float_format="%.17g"))
    atomic_write_text(sidecar(written), sidecar_text(written))


def read_q_star_csv(path: str | Path) -> np.ndarray:
    """Q* values (200,) from a ``qstar`` CSV, checked: against its checksum file, the paper's grid and order,
    and every value in [-1, 1]. A file without a checksum file (an older version, or made by hand) is read
    with a warning, and its values must also be 0 or +-gamma^(k-1) (the search's). Anything wrong is a
    one-line ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Q* file {path} does not exist: create it with `mtrl-bench qstar --out {path}`")
    fix = f"delete it to recompute, or rewrite it with `mtrl-bench qstar --out {path}`"
    intact = matches_sidecar(path)
    if intact is False:
        raise ConfigError(f"Q* file {path} fails its checksum ({sidecar(path).name}): altered or truncated; {fix}")
    try:
        frame = read_plain_table(path, QSTAR_COLUMNS, "Q* file", warn_unchecked=intact is None)
    except ConfigError as err:
        raise ConfigError(f"{err}; {fix}") from None
    if list(frame.columns) != QSTAR_COLUMNS:
        raise ConfigError(f"{path} has columns {list(frame.columns)}, expected {QSTAR_COLUMNS}; {fix}")
    states, actions = paper_test_grid()
    numeric = all(pd.api.types.is_numeric_dtype(frame[c]) for c in QSTAR_COLUMNS)
    if (not numeric or len(frame) != len(actions)
            or not np.allclose(frame[["position", "velocity"]].to_numpy(dtype=float), states)
            or not np.array_equal(frame["action"].to_numpy(), actions)):
        raise ConfigError(f"{path} is not on the paper's 200-pair test grid in the paper's order; {fix}")
    q_star = frame["q_star"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(q_star == 0, 1.0, np.log(np.abs(q_star)) / np.log(coh.GAMMA) + 1)
    valid = np.isfinite(q_star) & (np.abs(q_star) <= 1)
    if intact is None:  # no checksum: the values must also have the search's form
        valid &= np.isfinite(depth) & (np.abs(depth - np.round(depth)) < 1e-6) & (depth >= 1) & (depth <= 200)
    if not valid.all():
        row = int(np.argmin(valid))
        raise ConfigError(f"{path}: row {row + 1}: q_star {q_star[row]!r} is not in [-1, 1] or not 0 or "
                          f"+-gamma^(k-1): damaged; {fix}")
    return q_star
