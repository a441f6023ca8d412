"""Discrete-action inverted pendulum on a cart (Lagoudakis & Parr 2003, "Least-Squares Policy Iteration").

State (theta rad, omega rad/s); actions 0, 1, 2 = -50, 0, +50 N plus uniform noise in [-10, 10] N, dt = 0.1 s;
reward -1 and end when |theta| > pi/2; horizon 3000, gamma 0.95; fixed-step RK4 (:func:`integrate`).

Design notes: docs/tasks.md#the-discrete-inverted-pendulum.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces

POLE_MASS = 2.0  # kg
CART_MASS = 8.0  # kg
POLE_LENGTH = 0.5  # m
GRAVITY = 9.8  # m/s^2
ALPHA = 1.0 / (POLE_MASS + CART_MASS)
DT = 0.1  # s
FORCES = (-50.0, 0.0, 50.0)  # N, by action
FORCE_NOISE = 10.0  # N, half-width of the uniform noise added every step
START_ANGLE = math.pi / 8.0  # rad, half-width of the uniform start angle
FALL_ANGLE = math.pi / 2.0  # rad
HORIZON = 3000
GAMMA = 0.95
N_ACTIONS = 3
OBS_DIM = 2
RK4_SUBSTEPS = 8


def angular_acceleration(theta: np.ndarray, omega: np.ndarray, force: np.ndarray) -> np.ndarray:
    """domega/dt (rad/s^2) for angle ``theta`` (rad), velocity ``omega`` (rad/s), cart force (N)."""
    cos_theta, sin_theta = np.cos(theta), np.sin(theta)
    # sin(2 theta) / 2 = sin(theta) cos(theta)
    numerator = (GRAVITY * sin_theta
                 - ALPHA * POLE_MASS * POLE_LENGTH * omega * omega * sin_theta * cos_theta
                 - ALPHA * cos_theta * force)
    return numerator / (4.0 * POLE_LENGTH / 3.0 - ALPHA * POLE_MASS * POLE_LENGTH * cos_theta * cos_theta)


def integrate(theta, omega, force, dt: float = DT, substeps: int = RK4_SUBSTEPS):
    """Hold ``force`` (N) for ``dt`` seconds from (theta, omega); arrays broadcast (float64).

    Returns ``(theta, omega)`` after ``dt`` (theta not wrapped), by ``substeps`` RK4 steps.
    """
    theta, omega, force = (np.asarray(x, dtype=np.float64) for x in (theta, omega, force))
    h = dt / substeps
    for _ in range(substeps):
        k1t, k1w = omega, angular_acceleration(theta, omega, force)
        k2t = omega + 0.5 * h * k1w
        k2w = angular_acceleration(theta + 0.5 * h * k1t, k2t, force)
        k3t = omega + 0.5 * h * k2w
        k3w = angular_acceleration(theta + 0.5 * h * k2t, k3t, force)
        k4t = omega + h * k3w
        k4w = angular_acceleration(theta + h * k3t, k4t, force)
        theta = theta + h / 6.0 * (k1t + 2.0 * k2t + 2.0 * k3t + k4t)
        omega = omega + h / 6.0 * (k1w + 2.0 * k2w + 2.0 * k3w + k4w)
    return theta, omega


def wrap_angle(theta: np.ndarray) -> np.ndarray:
    """Angle(s) in radians mapped to [-pi, pi]."""
    two_pi = 2.0 * math.pi
    wrapped = np.fmod(np.fmod(theta, two_pi) + two_pi, two_pi)
    return np.where(wrapped > math.pi, wrapped - two_pi, wrapped)


def reset_states(uniform: np.ndarray) -> np.ndarray:
    """Start states (..., 2) from uniforms in [0, 1) of shape (...): theta in [-pi/8, pi/8), omega 0."""
    theta = -START_ANGLE + 2.0 * START_ANGLE * np.asarray(uniform, dtype=np.float64)
    return np.stack([theta, np.zeros_like(theta)], axis=-1)


def step(states: np.ndarray, actions: np.ndarray, noise: np.ndarray):
    """One batched step.

    Args:
        states: (..., 2) float64 angle (rad) and angular velocity (rad/s).
        actions: (...) integers in {0, 1, 2} (force -50, 0, +50 N).
        noise: (...) force noise in newtons (uniform in [-10, 10] for the task as published).
    Returns:
        next_states (..., 2), rewards (...) in {-1, 0}, absorbing (...) bool.
    """
    states = np.asarray(states, dtype=np.float64)
    force = np.asarray(FORCES, dtype=np.float64)[np.asarray(actions)] + noise
    theta, omega = integrate(states[..., 0], states[..., 1], force)
    theta = wrap_angle(theta)
    fallen = np.abs(theta) > FALL_ANGLE
    return np.stack([theta, omega], axis=-1), np.where(fallen, -1.0, 0.0), fallen


class InvertedPendulumEnv(gym.Env):
    """Gymnasium environment of the discrete inverted pendulum (noise from the env's ``np_random``)."""

    metadata = {"render_modes": []}

    def __init__(self, horizon: int = HORIZON, force_noise: float = FORCE_NOISE):
        self.horizon = horizon
        self.gamma = GAMMA
        self.force_noise = force_noise
        # theta is wrapped into [-pi, pi]; omega has no natural bound.
        self.observation_space = spaces.Box(np.array([-math.pi, -np.inf]), np.array([math.pi, np.inf]),
                                            dtype=np.float64)
        self.action_space = spaces.Discrete(N_ACTIONS)
        self._state = np.zeros(OBS_DIM)
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options and "state" in options:
            self._state = np.array(options["state"], dtype=np.float64)
        else:
            self._state = reset_states(self.np_random.random())
        self._steps = 0
        return self._state.copy(), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0, 1 or 2, got {action!r}")
        noise = self.np_random.uniform(-self.force_noise, self.force_noise)
        nxt, reward, absorbing = step(self._state, np.asarray(action), noise)
        self._state = nxt
        self._steps += 1
        truncated = bool(self._steps >= self.horizon and not absorbing)
        return nxt.copy(), float(reward), bool(absorbing), truncated, {}
