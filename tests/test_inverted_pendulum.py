"""The discrete inverted pendulum (Lagoudakis & Parr 2003) as the paper's DQN experiment used it."""

import math

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from scipy.integrate import odeint

from mtrl_bench.tasks import inverted_pendulum as ip


def test_angular_acceleration_matches_hand_computed_values():
    # alpha = 1/10, m = 2, l = 0.5, g = 9.8: denominator 4*0.5/3 - 0.1*2*0.5*cos^2.
    assert ip.angular_acceleration(0.0, 0.0, 0.0) == 0.0
    # Pole tilted 45 degrees at rest, no force: 9.8 sin(pi/4) / (2/3 - 0.1 * 0.5) = 11.2372...
    expected = 9.8 * math.sqrt(0.5) / (2.0 / 3.0 - 0.05)
    assert ip.angular_acceleration(math.pi / 4, 0.0, 0.0) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(11.23726, abs=1e-5)
    # Upright, pushed with +50 N: -0.1 * 1 * 50 / (2/3 - 0.1) = -8.8235...
    assert ip.angular_acceleration(0.0, 0.0, 50.0) == pytest.approx(-5.0 / (2.0 / 3.0 - 0.1), rel=1e-12)
    # Upright but spinning: the omega^2 sin(2 theta) term vanishes at theta = 0.
    assert ip.angular_acceleration(0.0, 3.0, 0.0) == 0.0
    # theta = 0.3, omega = 2, u = -50, every term by hand.
    th, om, u = 0.3, 2.0, -50.0
    num = 9.8 * math.sin(th) - 0.1 * 2 * 0.5 * om**2 * math.sin(2 * th) / 2 - 0.1 * math.cos(th) * u
    den = 4 * 0.5 / 3 - 0.1 * 2 * 0.5 * math.cos(th) ** 2
    assert ip.angular_acceleration(th, om, u) == pytest.approx(num / den, rel=1e-12)


def test_upright_pole_at_rest_without_force_stays_upright():
    nxt, reward, absorbing = ip.step(np.array([0.0, 0.0]), np.array(1), np.array(0.0))
    assert np.array_equal(nxt, [0.0, 0.0]) and reward == 0.0 and not absorbing


def test_a_step_matches_odeint_to_within_its_default_tolerance():
    rng = np.random.default_rng(0)
    states = np.column_stack([rng.uniform(-1.4, 1.4, 50), rng.uniform(-3, 3, 50)])
    actions = rng.integers(0, 3, 50)
    noise = rng.uniform(-10, 10, 50)
    nxt, _, _ = ip.step(states, actions, noise)
    for state, action, eps, got in zip(states, actions, noise, nxt):
        force = ip.FORCES[action] + eps
        ref = odeint(lambda s, t, u=force: [s[1], ip.angular_acceleration(s[0], s[1], u)],
                     state, [0.0, ip.DT], rtol=1e-12, atol=1e-12)[-1]
        assert got[0] == pytest.approx(ip.wrap_angle(ref[0]), abs=2e-8)
        assert got[1] == pytest.approx(ref[1], abs=2e-7)


def test_small_angle_step_matches_the_linearised_dynamics():
    # Near upright, sin(th) ~ th, cos ~ 1: omega' ~ (g th - alpha u) / (4l/3 - alpha m l) over one short step.
    th0, u = 1e-4, 0.0
    nxt, _, _ = ip.step(np.array([th0, 0.0]), np.array(1), np.array(u))
    rate = 9.8 / (2.0 / 3.0 - 0.1)  # omega' = rate * theta
    k = math.sqrt(rate)
    assert nxt[0] == pytest.approx(th0 * math.cosh(k * ip.DT), rel=1e-6)
    assert nxt[1] == pytest.approx(th0 * k * math.sinh(k * ip.DT), rel=1e-6)


def test_falling_past_ninety_degrees_gives_minus_one_and_ends():
    nxt, reward, absorbing = ip.step(np.array([1.55, 2.0]), np.array(1), np.array(0.0))
    assert abs(nxt[0]) > math.pi / 2 and reward == -1.0 and absorbing
    nxt, reward, absorbing = ip.step(np.array([0.1, 0.0]), np.array(1), np.array(0.0))
    assert reward == 0.0 and not absorbing


def test_forces_push_the_pole_the_opposite_way():
    start = np.array([[0.0, 0.0]] * 3)
    nxt, _, _ = ip.step(start, np.array([0, 1, 2]), np.zeros(3))
    assert nxt[0, 1] > 0 and nxt[1, 1] == 0 and nxt[2, 1] < 0


def test_wrap_angle_maps_into_minus_pi_pi():
    angles = np.array([0.0, 3.0, -3.0, 4.0, -4.0, 7.0, 2 * math.pi])
    wrapped = ip.wrap_angle(angles)
    assert np.all(wrapped >= -math.pi) and np.all(wrapped <= math.pi)
    assert np.allclose(np.sin(wrapped), np.sin(angles)) and np.allclose(np.cos(wrapped), np.cos(angles))


def test_env_passes_gymnasium_check_env():
    check_env(ip.InvertedPendulumEnv(), skip_render_check=True)


def test_env_starts_within_pi_over_eight_at_rest_and_is_reproducible():
    env = ip.InvertedPendulumEnv()
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        assert abs(obs[0]) <= math.pi / 8 and obs[1] == 0.0
    traces = []
    for _ in range(2):
        obs, _ = env.reset(seed=5)
        trace = [obs]
        for action in [0, 2, 1, 1, 2]:
            trace.append(env.step(action)[0])
        traces.append(np.array(trace))
    assert np.array_equal(traces[0], traces[1])


def test_env_noise_is_bounded_by_ten_newtons():
    env = ip.InvertedPendulumEnv()
    env.reset(seed=0, options={"state": [0.2, 0.1]})
    obs, *_ = env.step(1)
    low, _, _ = ip.step(np.array([0.2, 0.1]), np.array(1), np.array(10.0))
    high, _, _ = ip.step(np.array([0.2, 0.1]), np.array(1), np.array(-10.0))
    # More force to the right lowers omega (cos > 0), so the noisy result lies between the extremes.
    assert low[1] <= obs[1] <= high[1]


def test_env_truncates_at_the_horizon_and_rejects_bad_actions():
    env = ip.InvertedPendulumEnv(horizon=3, force_noise=0.0)
    env.reset(seed=0, options={"state": [0.0, 0.0]})
    flags = [env.step(1)[3] for _ in range(3)]
    assert flags == [False, False, True]
    with pytest.raises(ValueError):
        env.step(3)
    assert ip.HORIZON == 3000 and ip.GAMMA == 0.95
