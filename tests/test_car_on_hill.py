"""Car-On-Hill dynamics: agreement with scipy's odeint, rewards, the gymnasium API, variants."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import odeint

from mtrl_bench.errors import ConfigError
from mtrl_bench.tasks.car_on_hill import dynamics as coh


def odeint_step(position, velocity, force, mass, gravity):
    """The authors' reference: one dt with scipy's odeint at its default tolerances."""

    def rhs(y, _t):
        p, v = y
        d1, d2 = (2 * p + 1, 2.0) if p < 0 else ((1 + 5 * p * p) ** -1.5, -15 * p * (1 + 5 * p * p) ** -2.5)
        return [v, (force / mass - gravity * d1 - v * v * d1 * d2) / (1 + d1 * d1)]

    return odeint(rhs, [position, velocity], [0.0, coh.DT])[-1]


states = st.tuples(st.floats(-1, 1), st.floats(-3, 3), st.sampled_from([0, 1]), st.sampled_from(range(16)))


@given(states)
def test_batched_step_matches_odeint_on_single_states(sample):
    p, v, action, index = sample
    params = coh.VARIANTS[index]
    nxt, _, _ = coh.step(np.array([p, v]), np.array(action), params.mass, params.gravity, params.action)
    reference = odeint_step(p, v, (1 if action else -1) * params.action, params.mass, params.gravity)
    np.testing.assert_allclose(nxt, reference, atol=1e-6, rtol=0)


def test_steps_crossing_the_kink_at_zero_match_odeint():
    # States just left/right of p = 0 moving across it: H'' jumps there.
    rng = np.random.default_rng(1)
    p = np.concatenate([rng.uniform(-0.25, -0.01, 200), rng.uniform(0.01, 0.25, 200)])
    v = np.where(p < 0, rng.uniform(0.5, 3, 400), rng.uniform(-3, -0.5, 400))
    actions = rng.integers(0, 2, 400)
    nxt, _, _ = coh.step(np.stack([p, v], 1), actions, 1.0, 9.81, 4.0)
    crossed = np.sign(nxt[:, 0]) != np.sign(p)
    assert crossed.sum() > 100, "the sample must exercise crossing steps"
    reference = np.array([odeint_step(p[i], v[i], (1 if actions[i] else -1) * 4.0, 1.0, 9.81) for i in range(400)])
    assert np.abs(nxt - reference).max() < 1e-6


def test_plain_rk4_without_crossing_handling_is_worse_on_crossing_steps():
    # Guards the reason the integrator splits crossing sub-steps: a single branch per sub-step
    # (decided at its start) is measurably less accurate on crossing steps.
    rng = np.random.default_rng(2)
    p, v = rng.uniform(-0.2, -0.01, 100), rng.uniform(1, 3, 100)
    ref = np.array([odeint_step(p[i], v[i], 4.0, 1.0, 9.81) for i in range(100)])
    pp, vv = p.copy(), v.copy()
    h = coh.DT / 3
    for _ in range(3):
        pp, vv = coh._rk_step(pp, vv, 4.0, 9.81, coh._acceleration_left, h)  # branch fixed per step
    naive_err = np.abs(np.stack([pp, vv], 1) - ref).max()
    ours = np.abs(coh.step(np.stack([p, v], 1), np.ones(100, int), 1.0, 9.81, 4.0)[0] - ref).max()
    assert ours < 1e-6 < naive_err


def test_rewards_and_absorbing_follow_the_paper():
    reward, absorbing = coh.reward_and_absorbing(np.array([-1.1, 0.0, 1.05, 1.05, 0.2]),
                                                 np.array([0.0, 3.2, 2.0, 3.5, 1.0]))
    np.testing.assert_array_equal(reward, [-1, -1, 1, -1, 0])
    np.testing.assert_array_equal(absorbing, [True, True, True, True, False])


def test_mass_enters_only_through_force_over_mass():
    s = np.array([[-0.3, 0.7]])
    a, _, _ = coh.step(s, np.array([1]), 1.0, 9.81, 4.0)
    b, _, _ = coh.step(s, np.array([1]), 1.2, 9.81, 4.8)
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_gymnasium_env_passes_check_env_and_matches_batched_step():
    env = coh.CarOnHillEnv(mass=0.8, action_magnitude=4.0)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, coh.START_STATE)
    nxt, reward, terminated, truncated, _ = env.step(1)
    expected, _, _ = coh.step(np.array(coh.START_STATE), np.array(1), 0.8, 9.81, 4.0)
    np.testing.assert_array_equal(nxt, expected)
    assert reward == 0.0 and not terminated and not truncated


def test_env_truncates_at_the_horizon():
    env = coh.CarOnHillEnv(horizon=3)
    env.reset(options={"state": (-0.4, 0.0)})
    flags = [env.step(0)[3] for _ in range(3)]
    assert flags == [False, False, True]


def test_variants_by_index_and_name_and_nested_sets():
    assert coh.variant(3).name == "1.000_4.375"
    assert coh.variant("1.200_4.750") is coh.VARIANTS[15]
    assert [coh.VARIANTS.index(p) for p in coh.nested_task_set(4)] == [0, 4, 8, 13]
    assert len(coh.nested_task_set(16)) == 16 and len(set(coh.nested_task_set(16))) == 16
    with pytest.raises(ConfigError, match="unknown Car-On-Hill variant"):
        coh.variant("9.999_1.000")
    with pytest.raises(ConfigError, match="mass must be a positive"):
        coh.CarOnHillParams(mass=-1.0)


def test_states_turning_round_near_zero_match_odeint():
    # A car at p ~ 0 moving slowly can cross p = 0 and come back within one sub-step: the end
    # points show no crossing, so the integrator must detect the turn and refine.
    rng = np.random.default_rng(4)
    p = np.concatenate([np.zeros(50), rng.choice([-1, 1], 150) * 10.0 ** rng.uniform(-8, -2, 150)])
    v = rng.uniform(-0.3, 0.3, 200)
    force = rng.choice([-1, 1], 200) * rng.uniform(3.3, 5.0, 200)
    ours = np.stack(coh.integrate(p, v, force, 9.81), 1)
    reference = np.array([odeint_step(p[i], v[i], force[i], 1.0, 9.81) for i in range(200)])
    assert np.abs(ours - reference).max() < 1e-6
