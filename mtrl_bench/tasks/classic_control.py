"""Gymnasium's CartPole-v1, Acrobot-v1 and MountainCar-v0 physics, batched over any leading shape.

Per task, pure numpy functions on float64 states (..., state_dim): ``*_reset(uniform)``, ``*_step(states, actions)
-> (next_states, rewards, terminated)`` (bit-identical to gymnasium 1.x's scalar step), ``*_observe(states)``.

Design notes: docs/tasks.md#batched-classic-control.
"""

from __future__ import annotations

import math

import numpy as np

# --- CartPole-v1 (gymnasium.envs.classic_control.cartpole.CartPoleEnv) ---------------------------
CARTPOLE_GRAVITY = 9.8
CARTPOLE_CART_MASS = 1.0
CARTPOLE_POLE_MASS = 0.1
CARTPOLE_TOTAL_MASS = CARTPOLE_POLE_MASS + CARTPOLE_CART_MASS
CARTPOLE_HALF_LENGTH = 0.5
CARTPOLE_POLEMASS_LENGTH = CARTPOLE_POLE_MASS * CARTPOLE_HALF_LENGTH
CARTPOLE_FORCE = 10.0  # N
CARTPOLE_TAU = 0.02  # s
CARTPOLE_ANGLE_LIMIT = 12 * 2 * math.pi / 360  # rad
CARTPOLE_POSITION_LIMIT = 2.4  # m


def cartpole_reset(uniform: np.ndarray) -> np.ndarray:
    """States (..., 4) = (x, x_dot, theta, theta_dot), each uniform in [-0.05, 0.05), from (..., 4) uniforms."""
    return -0.05 + (0.05 - -0.05) * np.asarray(uniform, dtype=np.float64)


def cartpole_step(states: np.ndarray, actions: np.ndarray):
    """One explicit-Euler step of 0.02 s; action 1 pushes right (+10 N), 0 left. Reward 1 every step."""
    x, x_dot, theta, theta_dot = (states[..., i] for i in range(4))
    force = np.where(actions == 1, CARTPOLE_FORCE, -CARTPOLE_FORCE)
    cos_theta = np.cos(theta)
    sin_theta = np.sin(theta)
    temp = (force + CARTPOLE_POLEMASS_LENGTH * np.square(theta_dot) * sin_theta) / CARTPOLE_TOTAL_MASS
    theta_acc = (CARTPOLE_GRAVITY * sin_theta - cos_theta * temp) / (
        CARTPOLE_HALF_LENGTH * (4.0 / 3.0 - CARTPOLE_POLE_MASS * np.square(cos_theta) / CARTPOLE_TOTAL_MASS))
    x_acc = temp - CARTPOLE_POLEMASS_LENGTH * theta_acc * cos_theta / CARTPOLE_TOTAL_MASS
    x = x + CARTPOLE_TAU * x_dot
    x_dot = x_dot + CARTPOLE_TAU * x_acc
    theta = theta + CARTPOLE_TAU * theta_dot
    theta_dot = theta_dot + CARTPOLE_TAU * theta_acc
    terminated = ((x < -CARTPOLE_POSITION_LIMIT) | (x > CARTPOLE_POSITION_LIMIT)
                  | (theta < -CARTPOLE_ANGLE_LIMIT) | (theta > CARTPOLE_ANGLE_LIMIT))
    return np.stack([x, x_dot, theta, theta_dot], axis=-1), np.ones_like(x), terminated


def cartpole_observe(states: np.ndarray) -> np.ndarray:
    return states.astype(np.float32)


# --- Acrobot-v1 (gymnasium.envs.classic_control.acrobot.AcrobotEnv, "book" dynamics) -------------
ACROBOT_DT = 0.2  # s
ACROBOT_LINK_LENGTH_1 = 1.0
ACROBOT_LINK_MASS_1 = 1.0
ACROBOT_LINK_MASS_2 = 1.0
ACROBOT_LINK_COM_1 = 0.5
ACROBOT_LINK_COM_2 = 0.5
ACROBOT_LINK_MOI = 1.0
ACROBOT_MAX_VEL_1 = 4 * math.pi
ACROBOT_MAX_VEL_2 = 9 * math.pi
ACROBOT_TORQUES = (-1.0, 0.0, 1.0)
ACROBOT_GRAVITY = 9.8


def acrobot_reset(uniform: np.ndarray) -> np.ndarray:
    """States (..., 4) = (theta1, theta2, dtheta1, dtheta2) uniform in [-0.1, 0.1), rounded to float32 as gymnasium."""
    states = -0.1 + (0.1 - -0.1) * np.asarray(uniform, dtype=np.float64)
    return states.astype(np.float32).astype(np.float64)


def _square(x: np.ndarray) -> np.ndarray:
    # gymnasium squares numpy scalars with ``**2``, which calls the C library's pow(); pow(x, 2) is not
    # always the correctly rounded x*x that numpy's array ``**2`` gives (about 1 in 1000 differ in the
    # last bit), and float_power is the array operation that calls pow() too.
    return np.float_power(x, 2.0)


def _acrobot_derivatives(theta1, theta2, dtheta1, dtheta2, torque):
    # Written term by term as gymnasium's AcrobotEnv._dsdt so that rounding is identical.
    m1, m2 = ACROBOT_LINK_MASS_1, ACROBOT_LINK_MASS_2
    l1, lc1, lc2 = ACROBOT_LINK_LENGTH_1, ACROBOT_LINK_COM_1, ACROBOT_LINK_COM_2
    inertia_1 = inertia_2 = ACROBOT_LINK_MOI
    g, pi = ACROBOT_GRAVITY, math.pi
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * np.cos(theta2)) + inertia_1 + inertia_2
    d2 = m2 * (lc2**2 + l1 * lc2 * np.cos(theta2)) + inertia_2
    phi2 = m2 * lc2 * g * np.cos(theta1 + theta2 - pi / 2.0)
    phi1 = (-m2 * l1 * lc2 * _square(dtheta2) * np.sin(theta2)
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * np.sin(theta2)
            + (m1 * lc1 + m2 * l1) * g * np.cos(theta1 - pi / 2)
            + phi2)
    ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * _square(dtheta1) * np.sin(theta2) - phi2) / (
        m2 * lc2**2 + inertia_2 - _square(d2) / d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return dtheta1, dtheta2, ddtheta1, ddtheta2


def _wrap(x: np.ndarray, low: float, high: float) -> np.ndarray:
    # gymnasium's wrap(): repeated subtraction/addition of the period (not fmod), for identical rounding.
    period = high - low
    x = x.copy()
    while (above := x > high).any():
        x[above] = x[above] - period
    while (below := x < low).any():
        x[below] = x[below] + period
    return x


def acrobot_step(states: np.ndarray, actions: np.ndarray):
    """One RK4 step of 0.2 s with torque -1, 0, +1 (actions 0, 1, 2). Reward -1 until the tip is up."""
    torque = np.asarray(ACROBOT_TORQUES)[actions]
    y = [states[..., i] for i in range(4)]
    dt = ACROBOT_DT - 0
    dt2 = dt / 2.0
    k1 = _acrobot_derivatives(*y, torque)
    k2 = _acrobot_derivatives(*(y[i] + dt2 * k1[i] for i in range(4)), torque)
    k3 = _acrobot_derivatives(*(y[i] + dt2 * k2[i] for i in range(4)), torque)
    k4 = _acrobot_derivatives(*(y[i] + dt * k3[i] for i in range(4)), torque)
    nxt = [y[i] + dt / 6.0 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]) for i in range(4)]
    theta1 = _wrap(nxt[0], -math.pi, math.pi)
    theta2 = _wrap(nxt[1], -math.pi, math.pi)
    dtheta1 = np.minimum(np.maximum(nxt[2], -ACROBOT_MAX_VEL_1), ACROBOT_MAX_VEL_1)
    dtheta2 = np.minimum(np.maximum(nxt[3], -ACROBOT_MAX_VEL_2), ACROBOT_MAX_VEL_2)
    terminated = -np.cos(theta1) - np.cos(theta2 + theta1) > 1.0
    return (np.stack([theta1, theta2, dtheta1, dtheta2], axis=-1),
            np.where(terminated, 0.0, -1.0), terminated)


def acrobot_observe(states: np.ndarray) -> np.ndarray:
    """(..., 6) float32: cos/sin of both angles and both angular velocities."""
    t1, t2 = states[..., 0], states[..., 1]
    return np.stack([np.cos(t1), np.sin(t1), np.cos(t2), np.sin(t2), states[..., 2], states[..., 3]],
                    axis=-1).astype(np.float32)


def acrobot_observe_start(states: np.ndarray) -> np.ndarray:
    """Observation right after a reset: gymnasium then holds a float32 state and takes cos/sin in float32."""
    return acrobot_observe(states.astype(np.float32))


# --- MountainCar-v0 (gymnasium.envs.classic_control.mountain_car.MountainCarEnv) ------------------
MOUNTAINCAR_MIN_POSITION = -1.2
MOUNTAINCAR_MAX_POSITION = 0.6
MOUNTAINCAR_MAX_SPEED = 0.07
MOUNTAINCAR_GOAL_POSITION = 0.5
MOUNTAINCAR_FORCE = 0.001
MOUNTAINCAR_GRAVITY = 0.0025


def mountaincar_reset(uniform: np.ndarray) -> np.ndarray:
    """States (..., 2): position uniform in [-0.6, -0.4) from (..., 1) uniforms, velocity 0."""
    position = -0.6 + (-0.4 - -0.6) * np.asarray(uniform, dtype=np.float64)[..., 0]
    return np.stack([position, np.zeros_like(position)], axis=-1)


def mountaincar_step(states: np.ndarray, actions: np.ndarray):
    """Push left, none, right (actions 0, 1, 2). Reward -1 every step; ends at position >= 0.5."""
    position, velocity = states[..., 0], states[..., 1]
    velocity = velocity + ((actions - 1) * MOUNTAINCAR_FORCE + np.cos(3 * position) * (-MOUNTAINCAR_GRAVITY))
    velocity = np.clip(velocity, -MOUNTAINCAR_MAX_SPEED, MOUNTAINCAR_MAX_SPEED)
    position = position + velocity
    position = np.clip(position, MOUNTAINCAR_MIN_POSITION, MOUNTAINCAR_MAX_POSITION)
    velocity = np.where((position == MOUNTAINCAR_MIN_POSITION) & (velocity < 0), 0.0, velocity)
    terminated = (position >= MOUNTAINCAR_GOAL_POSITION) & (velocity >= 0)
    return np.stack([position, velocity], axis=-1), np.full_like(position, -1.0), terminated


def mountaincar_observe(states: np.ndarray) -> np.ndarray:
    return states.astype(np.float32)
