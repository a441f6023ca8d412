"""Exact Q* of Car-On-Hill: value set, Bellman optimality, agreement with a plain recursive search."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.qstar import paper_test_grid, solve_q_star

GAMMA = coh.GAMMA
DEPTH = 10  # shallow enough for the plain search and for hypothesis to sample many states
state_st = st.tuples(st.floats(-1, 1), st.floats(-3, 3), st.sampled_from([0, 1]), st.sampled_from([0, 4, 8, 15]))


def plain_recursive_q(params, state, action, depth_left):
    """Textbook depth-limited search, one state at a time: the reference the BFS must match."""
    nxt, reward, absorbing = coh.step(np.asarray(state), np.asarray(action), params.mass, params.gravity,
                                      params.action)
    if absorbing:
        return float(reward)
    if depth_left == 1:
        return 0.0
    return GAMMA * max(plain_recursive_q(params, nxt, a, depth_left - 1) for a in (0, 1))


@given(state_st)
def test_values_lie_in_plus_minus_powers_of_gamma(sample):
    p, v, action, index = sample
    q, depth = solve_q_star(coh.VARIANTS[index], np.array([[p, v]]), np.array([action]), max_depth=DEPTH)
    if depth[0] == 0:
        assert q[0] == 0.0
    else:
        assert np.isclose(abs(q[0]), GAMMA ** (abs(depth[0]) - 1), rtol=0, atol=1e-15)
        assert np.sign(q[0]) == np.sign(depth[0])


@given(state_st)
def test_bellman_optimality_on_sampled_non_terminal_states(sample):
    # Q*_D(s, a) = r + gamma * max_a' Q*_{D-1}(s', a') holds exactly for the depth-capped search,
    # including undecided (0) values; at D = 50 it is the Bellman optimality equation.
    p, v, action, index = sample
    params = coh.VARIANTS[index]
    q, _ = solve_q_star(params, np.array([[p, v]]), np.array([action]), max_depth=DEPTH)
    nxt, reward, absorbing = coh.step(np.array([p, v]), np.array(action), params.mass, params.gravity, params.action)
    if absorbing:
        assert q[0] == reward
        return
    q_next, _ = solve_q_star(params, np.stack([nxt, nxt]), np.array([0, 1]), max_depth=DEPTH - 1)
    assert np.isclose(q[0], reward + GAMMA * q_next.max(), rtol=0, atol=1e-12)


def test_vectorised_search_equals_plain_recursive_search():
    rng = np.random.default_rng(3)
    params = coh.VARIANTS[8]
    states = np.stack([rng.uniform(-1, 1, 12), rng.uniform(-3, 3, 12)], 1)
    actions = rng.integers(0, 2, 12)
    q, _ = solve_q_star(params, states, actions, max_depth=8)
    reference = [plain_recursive_q(params, s, a, 8) for s, a in zip(states, actions)]
    np.testing.assert_allclose(q, reference, atol=1e-14)


def test_merged_search_equals_plain_search_on_paper_grid_pairs_with_short_paths():
    states, actions = paper_test_grid()
    q_plain, depth = solve_q_star(coh.VARIANTS[0], states, actions, max_depth=14)
    q_merged, _ = solve_q_star(coh.VARIANTS[0], states, actions, max_depth=14, merge_resolution=(1e-2, 1e-2))
    decided = depth != 0
    assert decided.sum() > 50
    np.testing.assert_array_equal(q_plain, q_merged)


def test_paper_grid_order_is_action_then_position_then_velocity():
    states, actions = paper_test_grid()
    assert states.shape == (200, 2) and list(actions[:100]) == [0] * 100 and list(actions[100:]) == [1] * 100
    assert states[0].tolist() == [-1.0, -3.0] and states[1].tolist() == [-1.0, -3.0 + 6 / 9]
    assert states[10, 0] == -1 + 2 / 9 and np.array_equal(states[:100], states[100:])


def test_start_state_needs_nineteen_steps_at_best():
    # Regression on a hand-checkable fact: from (-0.5, 0) the shortest successful sequence for
    # variant 0 has 19 steps (found by the plain search during development; the authors report
    # optimal paths of 20-25 steps at most on their grid); starting with +a costs one more step.
    q, depth = solve_q_star(coh.VARIANTS[0], np.array([coh.START_STATE] * 2), np.array([0, 1]), max_depth=25)
    assert depth.tolist() == [19, 20] and np.isclose(q.max(), GAMMA**18)
