"""A cheap, good but imperfect greedy policy for Car-On-Hill, and what its rollouts need.

Values from value iteration on a grid (optionally another variant's, noisy, biased to +a), actions by a one-step
look-ahead with the variant's own dynamics (:func:`greedy_policy`).

Design notes: docs/tasks.md#the-behaviour-policy-value-iteration-and-look-ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from mtrl_bench.errors import ConfigError
from mtrl_bench.tasks.car_on_hill import dynamics as coh


@dataclass(frozen=True)
class ValueGrid:
    """State values on a grid of nodes: ``values[i, j]`` at (positions[i], velocities[j])."""

    positions: np.ndarray  # (n_position,) from -1 to 1
    velocities: np.ndarray  # (n_velocity,) from -3 to 3
    values: np.ndarray  # (n_position, n_velocity) float64
    iterations: int  # value-iteration sweeps until the tolerance was met

    def interpolate(self, states: np.ndarray) -> np.ndarray:
        """Bilinear interpolation at ``states`` (N, 2), clipped to the grid's box; returns (N,)."""
        rows, cols, weights = _bilinear(self.positions, self.velocities, states)
        return (self.values.reshape(-1)[_flat(rows, cols, len(self.velocities))] * weights).sum(axis=1)


def _flat(rows: np.ndarray, cols: np.ndarray, n_cols: int) -> np.ndarray:
    return rows * n_cols + cols


def _bilinear(positions: np.ndarray, velocities: np.ndarray, states: np.ndarray):
    """Row and column indices (N, 4) of the surrounding nodes and their bilinear weights (N, 4)."""
    states = np.asarray(states, dtype=np.float64).reshape(-1, 2)
    out_r, out_c, out_w = [], [], []
    fractions = []
    lows = []
    for axis, nodes in enumerate((positions, velocities)):
        x = np.clip(states[:, axis], nodes[0], nodes[-1])
        low = np.clip(np.searchsorted(nodes, x, side="right") - 1, 0, len(nodes) - 2)
        fractions.append((x - nodes[low]) / (nodes[low + 1] - nodes[low]))
        lows.append(low)
    (fp, fv), (lp, lv) = fractions, lows
    for dp, wp in ((0, 1.0 - fp), (1, fp)):
        for dv, wv in ((0, 1.0 - fv), (1, fv)):
            out_r.append(lp + dp)
            out_c.append(lv + dv)
            out_w.append(wp * wv)
    return np.stack(out_r, axis=1), np.stack(out_c, axis=1), np.stack(out_w, axis=1)


def solve_values(params: coh.CarOnHillParams, n_position: int, n_velocity: int, gamma: float = coh.GAMMA,
                 tolerance: float = 1e-9, max_iterations: int = 2000) -> ValueGrid:
    """Value iteration on an ``n_position`` x ``n_velocity`` grid with the real one-step dynamics."""
    if n_position < 2 or n_velocity < 2:
        raise ConfigError(f"the value grid needs at least 2 x 2 nodes, got {n_position} x {n_velocity}")
    if not 0.0 < gamma < 1.0:
        raise ConfigError(f"gamma must be in (0, 1), got {gamma}")
    positions = np.linspace(-coh.MAX_POSITION, coh.MAX_POSITION, n_position)
    velocities = np.linspace(-coh.MAX_VELOCITY, coh.MAX_VELOCITY, n_velocity)
    nodes = np.stack(np.meshgrid(positions, velocities, indexing="ij"), axis=-1).reshape(-1, 2)
    n_nodes = len(nodes)
    actions = np.repeat(np.arange(coh.N_ACTIONS)[:, None], n_nodes, axis=1)  # (2, n_nodes)
    nxt, reward, absorbing = coh.step(np.broadcast_to(nodes, (coh.N_ACTIONS, n_nodes, 2)), actions,
                                      params.mass, params.gravity, params.action)
    nxt, reward, absorbing = nxt.reshape(-1, 2), reward.reshape(-1), absorbing.reshape(-1)
    rows, cols, weights = _bilinear(positions, velocities, nxt)
    weights = weights * (~absorbing)[:, None]
    transition = sparse.csr_matrix(
        (weights.reshape(-1), (np.repeat(np.arange(len(nxt)), 4), _flat(rows, cols, n_velocity).reshape(-1))),
        shape=(len(nxt), n_nodes))
    discounted = gamma * transition
    values = np.zeros(n_nodes)
    sweeps = 0
    while sweeps < max_iterations:
        sweeps += 1
        new = (reward + discounted @ values).reshape(coh.N_ACTIONS, n_nodes).max(axis=0)
        change = np.abs(new - values).max()
        values = new
        if change < tolerance:
            break
    return ValueGrid(positions, velocities, values.reshape(n_position, n_velocity), sweeps)


@dataclass(frozen=True)
class Lookahead:
    """Both actions tried from N states: ``greedy`` (N,) int64, and per action (axis 1)
    ``q`` (N, 2), ``next_states`` (N, 2, 2), ``rewards`` (N, 2), ``absorbing`` (N, 2) bool."""

    greedy: np.ndarray
    q: np.ndarray
    next_states: np.ndarray
    rewards: np.ndarray
    absorbing: np.ndarray


@dataclass(frozen=True)
class GreedyPolicy:
    """Greedy one-step look-ahead on a value grid, for one variant (see the module docstring)."""

    params: coh.CarOnHillParams
    grid: ValueGrid
    plus_bias: float = 0.0
    gamma: float = coh.GAMMA

    def act(self, states: np.ndarray) -> Lookahead:
        """Step both actions from ``states`` (N, 2) with the real dynamics; the greedy action maximises
        ``r + gamma (1 - absorbing) V(s')`` (+ ``plus_bias`` for action 1; action 1 on a tie)."""
        states = np.asarray(states, dtype=np.float64).reshape(-1, 2)
        n = len(states)
        both = np.broadcast_to(states[:, None, :], (n, coh.N_ACTIONS, 2))
        actions = np.broadcast_to(np.arange(coh.N_ACTIONS), (n, coh.N_ACTIONS))
        p = self.params
        nxt, reward, absorbing = coh.step(both, actions, p.mass, p.gravity, p.action)
        future = self.grid.interpolate(nxt.reshape(-1, 2)).reshape(n, coh.N_ACTIONS)
        q = reward + self.gamma * np.where(absorbing, 0.0, future)
        greedy = (q[:, 1] + self.plus_bias >= q[:, 0]).astype(np.int64)
        return Lookahead(greedy, q, nxt, reward, absorbing)


def greedy_policy(params: coh.CarOnHillParams, value_grid: int, value_noise: float = 0.0, plus_bias: float = 0.0,
                  noise_seed: int | list[int] = 0, gamma: float = coh.GAMMA,
                  value_params: coh.CarOnHillParams | None = None) -> GreedyPolicy:
    """The greedy policy for ``params`` of value iteration on a ``value_grid`` x ``value_grid`` grid.

    ``value_params`` (default ``params``): the variant whose values the look-ahead uses; the
    look-ahead step itself always uses ``params``' dynamics. ``value_noise`` > 0 adds fixed
    Gaussian noise of that std (return units) to every node's value after value iteration (drawn
    from ``noise_seed``, so the policy is a deterministic function of its arguments);
    ``plus_bias`` favours action 1 by that much.
    """
    if value_noise < 0 or not np.isfinite(value_noise):
        raise ConfigError(f"value_noise must be >= 0, got {value_noise}")
    grid = solve_values(params if value_params is None else value_params, value_grid, value_grid, gamma=gamma)
    if value_noise > 0:
        noise = np.random.default_rng(noise_seed).standard_normal(grid.values.shape)
        grid = ValueGrid(grid.positions, grid.velocities, grid.values + value_noise * noise, grid.iterations)
    return GreedyPolicy(params, grid, float(plus_bias), gamma)
