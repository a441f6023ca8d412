"""Car-On-Hill (Ernst, Geurts & Wehenkel 2005) with explicit mass, gravity and action magnitude.

State (position p, velocity v); the hill is H(p) = p^2 + p for p < 0 and p / sqrt(1 + 5 p^2) for
p >= 0. A force u in {-a, +a} (action 0, 1) is held for dt = 0.1 s:

    dp/dt = v,   dv/dt = (u / m - g H'(p) - v^2 H'(p) H''(p)) / (1 + H'(p)^2).

After the step, p < -1 or |v| > 3 gives reward -1 and ends the episode; otherwise p > 1 gives +1 and
ends it; else the reward is 0. Horizon 100, gamma 0.95, start (-0.5, 0).

Design notes: docs/tasks.md#integrating-across-the-kink.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from scipy.integrate import DOP853

from mtrl_bench.errors import ConfigError

DT = 0.1
HORIZON = 100
GAMMA = 0.95
START_STATE = (-0.5, 0.0)
MAX_POSITION = 1.0
MAX_VELOCITY = 3.0
N_ACTIONS = 2
OBS_DIM = 2


@dataclass(frozen=True)
class CarOnHillParams:
    """One task of the family: mass m (kg), gravity g (m/s^2), action magnitude a (N)."""

    mass: float = 1.0
    gravity: float = 9.81
    action: float = 4.0

    def __post_init__(self) -> None:
        for field in ("mass", "gravity", "action"):
            value = getattr(self, field)
            if not np.isfinite(value) or value <= 0:
                raise ConfigError(f"Car-On-Hill {field} must be a positive number, got {value}")

    @property
    def name(self) -> str:
        """The paper's variant name ``"%.3f_%.3f" % (mass, action)`` (gravity appended when not 9.81)."""
        base = f"{self.mass:.3f}_{self.action:.3f}"
        return base if self.gravity == 9.81 else f"{base}_g{self.gravity:.3f}"


# The 16 variants of the paper, by index; gravity is always 9.81.
VARIANTS: tuple[CarOnHillParams, ...] = tuple(
    CarOnHillParams(mass=m, action=a)
    for m, a in [
        (1.00, 4.000), (1.00, 4.125), (1.00, 4.250), (1.00, 4.375),
        (0.80, 4.000), (0.85, 4.000), (0.90, 4.000), (0.95, 4.000),
        (1.00, 4.500), (1.05, 4.500), (1.10, 4.500), (1.15, 4.500),
        (1.20, 4.375), (1.20, 4.500), (1.20, 4.625), (1.20, 4.750),
    ]
)
# The order in which the paper grows its nested task sets: T tasks = the first T of this order.
TASK_ORDER: tuple[int, ...] = (0, 4, 8, 13, 1, 2, 3, 5, 6, 7, 9, 10, 11, 12, 14, 15)


def variant(key: str | int) -> CarOnHillParams:
    """Look a variant up by index (``3``, ``"3"``) or by name (``"1.000_4.375"``)."""
    text = str(key).strip()
    if text.isdigit() and int(text) < len(VARIANTS):
        return VARIANTS[int(text)]
    for params in VARIANTS:
        if params.name == text:
            return params
    names = ", ".join(f"{i}={p.name}" for i, p in enumerate(VARIANTS))
    raise ConfigError(f"unknown Car-On-Hill variant {key!r}; known variants: {names}")


def nested_task_set(n_tasks: int) -> list[CarOnHillParams]:
    """The paper's nested task set of size T (T=16 uses all variants)."""
    if not 1 <= n_tasks <= len(VARIANTS):
        raise ConfigError(f"number of tasks must be in 1..{len(VARIANTS)}, got {n_tasks}")
    return [VARIANTS[i] for i in TASK_ORDER[:n_tasks]]


def _acceleration_left(p, v, force_per_mass, gravity):
    """dv/dt with the left branch (H' = 2p + 1, H'' = 2), valid for p < 0 and extended smoothly."""
    d1 = 2.0 * p + 1.0
    return (force_per_mass - d1 * (gravity + 2.0 * v * v)) / (1.0 + d1 * d1)


def _acceleration_right(p, v, force_per_mass, gravity):
    """dv/dt with the right branch (H' = (1 + 5p^2)^-3/2, H'' = -15p (1 + 5p^2)^-5/2)."""
    root = 1.0 + 5.0 * p * p
    d1 = 1.0 / (root * np.sqrt(root))
    return (force_per_mass - d1 * (gravity - 15.0 * v * v * p * d1 / root)) / (1.0 + d1 * d1)


def acceleration(p, v, force_per_mass, gravity, left):
    """dv/dt (arrays broadcast), choosing each element's branch by ``left``."""
    return np.where(left, _acceleration_left(p, v, force_per_mass, gravity),
                    _acceleration_right(p, v, force_per_mass, gravity))


# Dormand & Prince's explicit 8th-order Runge-Kutta tableau (12 stages), as scipy ships it.
_RK_A, _RK_B = DOP853.A, DOP853.B


def _rk_step(p, v, force_per_mass, gravity, accel, h):
    """One explicit 8th-order Runge-Kutta step of length h (scalar or array) with dv/dt = accel(...)."""
    kp, kv = [], []
    for i, row in enumerate(_RK_A[: len(_RK_B)]):
        pi, vi = p, v
        for j in range(i):
            if row[j] != 0.0:
                pi = pi + (h * row[j]) * kp[j]
                vi = vi + (h * row[j]) * kv[j]
        kp.append(vi)
        kv.append(accel(pi, vi, force_per_mass, gravity))
    dp = sum(b * k for b, k in zip(_RK_B, kp))
    dv = sum(b * k for b, k in zip(_RK_B, kv))
    return p + h * dp, v + h * dv


def _branch_step(p, v, f, g, on_left: bool, h):
    """A sub-step for states that all start on one branch; crossings of p = 0 are split there."""
    accel, other = ((_acceleration_left, _acceleration_right) if on_left
                    else (_acceleration_right, _acceleration_left))
    p_end, v_end = _rk_step(p, v, f, g, accel, h)
    crossed = (p_end < 0.0) != on_left
    if crossed.any():
        idx = np.nonzero(crossed)
        p0, v0, f0, g0 = p[idx], v[idx], f[idx], g[idx]
        # Newton on tau -> p(tau) = 0 (dp/dtau = v), started from linear interpolation; a state
        # starting exactly at p = 0 is moving into the right branch first, so its crossing is the
        # later root: start that search from the end of the sub-step.
        tau = np.where(p0 == 0.0, h, h * p0 / np.where(p0 == 0.0, -1.0, p0 - p_end[idx]))
        for _ in range(5):
            pc, vc = _rk_step(p0, v0, f0, g0, accel, tau)
            safe_v = np.where(np.abs(vc) > 1e-12, vc, 1e-12)
            tau = np.clip(tau - pc / safe_v, 0.0, h)
        pc, vc = _rk_step(p0, v0, f0, g0, accel, tau)
        p_end[idx], v_end[idx] = _rk_step(pc, vc, f0, g0, other, h - tau)
    return p_end, v_end


def integrate(position, velocity, force_per_mass, gravity, dt: float = DT, substeps: int = 3,
              refine_depth: int = 2):
    """Integrate the dynamics for ``dt`` seconds; all array arguments broadcast together (float64).

    Returns ``(position, velocity)`` after ``dt``. Each sub-step integrates the states left and
    right of p = 0 separately with their branch's formula; a state that crosses p = 0 within the
    sub-step is split at the crossing (Newton's method on the step length, 5 iterations) so that
    every piece integrates a smooth right-hand side with the 8th-order method. A state that turns
    round (its velocity changes sign) close to p = 0 may cross twice in one sub-step, which the end
    points cannot show: such states redo the sub-step with 8 finer sub-steps (``refine_depth``
    levels deep). 3 sub-steps agree with a 1e-12-tolerance odeint to ~1e-7.
    """
    p, v, f, g = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in
                                       (position, velocity, force_per_mass, gravity)))
    shape = p.shape
    p, v, f, g = (x.reshape(-1).copy() for x in (p, v, f, g))
    h = dt / substeps
    for _ in range(substeps):
        p_start, v_start = p.copy(), v.copy()
        left = p < 0.0
        for on_left, idx in ((True, np.nonzero(left)[0]), (False, np.nonzero(~left)[0])):
            if len(idx):
                p[idx], v[idx] = _branch_step(p[idx], v[idx], f[idx], g[idx], on_left, h)
        if refine_depth > 0:
            # A turning state never gets further from its end points than max(|v|) h.
            near = np.minimum(np.abs(p_start), np.abs(p)) <= np.maximum(np.abs(v_start), np.abs(v)) * h
            turned = np.nonzero(near & (v_start * v <= 0.0))[0]
            if len(turned):
                p[turned], v[turned] = integrate(p_start[turned], v_start[turned], f[turned], g[turned], h,
                                                 substeps=8, refine_depth=refine_depth - 1)
    return p.reshape(shape), v.reshape(shape)


def reward_and_absorbing(position: np.ndarray, velocity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reward (-1, 0, +1) and the absorbing flag of the state reached after a step."""
    fail = (position < -MAX_POSITION) | (np.abs(velocity) > MAX_VELOCITY)
    success = ~fail & (position > MAX_POSITION)
    reward = np.where(fail, -1.0, np.where(success, 1.0, 0.0))
    return reward, fail | success


def step(states: np.ndarray, actions: np.ndarray, mass, gravity, action_magnitude):
    """One batched environment step.

    Args:
        states: (..., 2) float64 positions and velocities.
        actions: (...) integers in {0, 1} (0 = -a, 1 = +a).
        mass, gravity, action_magnitude: scalars or arrays broadcasting with ``actions``.
    Returns:
        next_states (..., 2), rewards (...), absorbing (...) bool.
    """
    states = np.asarray(states, dtype=np.float64)
    force = np.where(np.asarray(actions) == 1, 1.0, -1.0) * np.asarray(action_magnitude, dtype=np.float64)
    p, v = integrate(states[..., 0], states[..., 1], force / np.asarray(mass, dtype=np.float64), gravity)
    reward, absorbing = reward_and_absorbing(p, v)
    return np.stack([p, v], axis=-1), reward, absorbing


class CarOnHillEnv(gym.Env):
    """Gymnasium environment for one Car-On-Hill variant (deterministic; start (-0.5, 0))."""

    metadata = {"render_modes": []}

    def __init__(self, mass: float = 1.0, gravity: float = 9.81, action_magnitude: float = 4.0,
                 horizon: int = HORIZON):
        self.params = CarOnHillParams(mass, gravity, action_magnitude)
        self.horizon = horizon
        self.gamma = GAMMA
        # States can leave [-1,1] x [-3,3] on the terminal step, so the space is unbounded;
        # ``state_bounds`` gives the nominal box for normalisation.
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(OBS_DIM,), dtype=np.float64)
        self.action_space = spaces.Discrete(N_ACTIONS)
        self.state_bounds = np.array([[-MAX_POSITION, -MAX_VELOCITY], [MAX_POSITION, MAX_VELOCITY]])
        self._state = np.array(START_STATE)
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        start = START_STATE if not options or "state" not in options else options["state"]
        self._state = np.array(start, dtype=np.float64)
        self._steps = 0
        return self._state.copy(), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0 or 1, got {action!r}")
        p = self.params
        nxt, reward, absorbing = step(self._state, np.asarray(action), p.mass, p.gravity, p.action)
        self._state = nxt
        self._steps += 1
        truncated = bool(self._steps >= self.horizon and not absorbing)
        return nxt.copy(), float(reward), bool(absorbing), truncated, {}
