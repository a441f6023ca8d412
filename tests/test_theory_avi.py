"""Properties of the multi-task AVI / API error-propagation bounds (Theorems 1 and 2)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtrl_bench.errors import ConfigError
from mtrl_bench.theory.avi import (
    avi_bound_equal_errors,
    avi_bound_limit,
    avi_coefficients,
    effective_concentrability,
    multitask_api_bound,
    multitask_avi_bound,
    single_task_avi_bound,
)

FAST = settings(max_examples=50, deadline=None)
discounts = st.floats(0.05, 0.99)
iterations = st.integers(1, 60)
errors_lists = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30)


@FAST
@given(discounts, iterations)
def test_alphas_are_positive_sum_to_one_and_grow_by_one_over_gamma(gamma, n_iterations):
    alphas = avi_coefficients(gamma, n_iterations)
    assert alphas.shape == (n_iterations + 1,)
    assert (alphas > 0).all()
    assert math.isclose(alphas.sum(), 1.0, rel_tol=1e-12)
    np.testing.assert_allclose(alphas[1:-1] / alphas[:-2], 1.0 / gamma, rtol=1e-10)


def test_alphas_hand_computed_for_two_iterations():
    # gamma = 1/2, K = 2: normaliser 1 - 1/8 = 7/8; alpha_0 = (1/2)(1/2)/(7/8) = 2/7,
    # alpha_1 = (1/2)/(7/8) = 4/7, alpha_2 = (1/2)(1/4)/(7/8) = 1/7.
    np.testing.assert_allclose(avi_coefficients(0.5, 2), [2 / 7, 4 / 7, 1 / 7], rtol=1e-14)


def test_avi_bound_hand_computed_for_one_iteration():
    # K = 1, gamma = 1/2: alpha_0 = (1/2)/(3/4) = 2/3; C E = c^2 eps alpha_0^2 for every r.
    # prefactor 2 gamma/(1-gamma)^2 = 4; bound = 4 [c 2/3 sqrt(eps) + 2/(1-gamma) gamma Rmax] = 1.6 + 8.
    bound = multitask_avi_bound([0.09], 0.5, max_reward=1.0, concentrability=2.0)
    assert math.isclose(bound.propagated_error_term, 4 * 2 * (2 / 3) * 0.3, rel_tol=1e-9)
    assert math.isclose(bound.tail_term, 4 * 2.0, rel_tol=1e-12)
    assert math.isclose(bound.total, 1.6 + 8.0, rel_tol=1e-9)


@FAST
@given(errors_lists, discounts, st.floats(0.0, 5.0), st.floats(0.1, 5.0))
def test_avi_bound_is_non_negative_and_sums_its_terms(errors, gamma, max_reward, c):
    bound = multitask_avi_bound(errors, gamma, max_reward, c)
    assert bound.propagated_error_term >= 0 and bound.tail_term >= 0
    assert math.isclose(bound.total, bound.propagated_error_term + bound.tail_term, rel_tol=1e-12)
    assert 0.0 <= bound.r_star <= 1.0


@FAST
@given(errors_lists, discounts, st.data())
def test_avi_bound_increases_with_every_error(errors, gamma, data):
    index = data.draw(st.integers(0, len(errors) - 1))
    increase = data.draw(st.floats(1e-3, 1.0))
    larger = list(errors)
    larger[index] += increase
    assert multitask_avi_bound(larger, gamma).total >= multitask_avi_bound(errors, gamma).total * (1 - 1e-12)
    assert multitask_avi_bound(larger, gamma).total > multitask_avi_bound(errors, gamma).tail_term


@FAST
@given(errors_lists, discounts, st.floats(0.1, 3.0), st.floats(1.0, 3.0))
def test_avi_bound_non_decreasing_in_concentrability_rmax_and_discount(errors, gamma, c, factor):
    base = multitask_avi_bound(errors, gamma, 1.0, c).total
    tolerance = 1 + 1e-9
    assert multitask_avi_bound(errors, gamma, 1.0, c * factor).total * tolerance >= base
    assert multitask_avi_bound(errors, gamma, factor, c).total * tolerance >= base
    larger_gamma = min(gamma + 0.5 * (1 - gamma) * (factor - 1) / 2, 0.995)
    assert multitask_avi_bound(errors, larger_gamma, 1.0, c).total * tolerance >= base


@FAST
@given(st.floats(1e-6, 1.0), discounts, iterations, st.floats(0.1, 5.0), st.floats(0.0, 3.0))
def test_equal_errors_match_closed_form_with_r_star_one_half(error, gamma, n_iterations, c, max_reward):
    bound = multitask_avi_bound([error] * n_iterations, gamma, max_reward, c)
    closed = avi_bound_equal_errors(error, gamma, n_iterations, max_reward, c)
    assert math.isclose(bound.total, closed, rel_tol=1e-8)
    if n_iterations > 1:
        assert abs(bound.r_star - 0.5) < 1e-3


@FAST
@given(st.floats(1e-4, 1.0), discounts, st.floats(0.5, 3.0))
def test_tail_vanishes_and_bound_tends_to_its_limit_as_iterations_grow(error, gamma, c):
    tails = [multitask_avi_bound([error] * k, gamma, 1.0, c).tail_term for k in (1, 10, 100, 2000)]
    assert all(later < earlier for earlier, later in zip(tails, tails[1:], strict=False))
    assert tails[-1] < 1e-6 * max(tails[0], 1e-300) or tails[-1] < 1e-12
    long_run = multitask_avi_bound([error] * 3000, gamma, 1.0, c).total
    assert math.isclose(long_run, avi_bound_limit(error, gamma, c), rel_tol=1e-6)


@FAST
@given(errors_lists, discounts, st.floats(0.1, 2.0), st.floats(0.01, 100.0))
def test_reward_scaling_scales_the_bound(errors, gamma, max_reward, scale):
    # Rewards times c: Q-values times c, squared errors times c^2, Rmax times c.
    base = multitask_avi_bound(errors, gamma, max_reward).total
    scaled = multitask_avi_bound(np.asarray(errors) * scale**2, gamma, max_reward * scale).total
    assert math.isclose(scaled, scale * base, rel_tol=1e-7, abs_tol=1e-12)


@FAST
@given(errors_lists, discounts, st.floats(0.0, 2.0), st.floats(0.5, 2.0))
def test_one_task_reproduces_the_single_task_theorem(errors, gamma, max_reward, c):
    multi = multitask_avi_bound(np.asarray(errors)[None, :], [gamma], [max_reward], [[c]])
    single = single_task_avi_bound(errors, gamma, max_reward, c)
    assert math.isclose(multi.total, single.total, rel_tol=1e-12)


@FAST
@given(st.integers(1, 5), st.integers(1, 10), st.integers(0, 10_000))
def test_bound_invariant_to_task_permutation_and_duplication(n_tasks, n_iterations, seed):
    rng = np.random.default_rng(seed)
    errors = rng.uniform(0, 0.1, size=(n_tasks, n_iterations))
    gammas = rng.uniform(0.5, 0.99, size=n_tasks)
    rewards = rng.uniform(0.5, 2.0, size=n_tasks)
    coefficients = rng.uniform(1.0, 3.0, size=(n_tasks, n_iterations))
    base = multitask_avi_bound(errors, gammas, rewards, coefficients).total
    order = rng.permutation(n_tasks)
    permuted = multitask_avi_bound(errors[order], gammas[order], rewards[order], coefficients[order]).total
    doubled = multitask_avi_bound(np.tile(errors, (2, 1)), np.tile(gammas, 2), np.tile(rewards, 2),
                                  np.tile(coefficients, (2, 1))).total
    assert math.isclose(permuted, base, rel_tol=1e-9)
    assert math.isclose(doubled, base, rel_tol=1e-9)


@FAST
@given(st.integers(1, 4), st.integers(1, 10), st.integers(0, 10_000))
def test_adding_a_task_with_larger_discount_or_concentrability_never_lowers_it(n_tasks, n_iterations, seed):
    rng = np.random.default_rng(seed)
    errors = rng.uniform(0, 0.1, size=(n_tasks, n_iterations))
    gammas = rng.uniform(0.5, 0.9, size=n_tasks)
    coefficients = rng.uniform(1.0, 2.0, size=(n_tasks, n_iterations))
    mean_error = errors.mean(axis=0, keepdims=True)  # so the task average of eps is unchanged
    base = multitask_avi_bound(errors, gammas, 1.0, coefficients).total
    extended = multitask_avi_bound(np.vstack([errors, mean_error]), np.append(gammas, 0.95), 1.0,
                                   np.vstack([coefficients, np.full((1, n_iterations), 5.0)])).total
    assert extended >= base * (1 - 1e-12)


def test_per_task_errors_are_averaged_over_tasks():
    per_task = np.array([[0.01, 0.04], [0.03, 0.00]])
    averaged = multitask_avi_bound([0.02, 0.02], 0.9).total
    assert math.isclose(multitask_avi_bound(per_task, 0.9).total, averaged)


def test_constant_raw_coefficients_give_the_constant_effective_coefficient():
    # c_VI1 = c_VI2 = c for all m: (1-gamma)/2 * sum_m gamma^m 2c -> c as the series length grows.
    gamma, n_iterations, c = 0.9, 5, 2.5
    length = 2000
    future, stationary = np.full((length, n_iterations), c), np.full(length, c)
    effective = effective_concentrability(future, stationary, gamma, n_iterations)
    np.testing.assert_allclose(effective, c, rtol=1e-9)


def test_api_bound_uses_the_gamma_to_k_minus_one_tail():
    gamma, n_iterations = 0.9, 7
    api = multitask_api_bound([0.0] * n_iterations, gamma, 2.0)
    assert math.isclose(api.tail_term, 2 * gamma / (1 - gamma) ** 2 * gamma ** (n_iterations - 1) * 2.0)
    avi = multitask_avi_bound([0.01] * n_iterations, gamma)
    api = multitask_api_bound([0.01] * n_iterations, gamma)
    assert math.isclose(avi.propagated_error_term, api.propagated_error_term)


@pytest.mark.parametrize(
    ("errors", "gamma", "max_reward", "concentrability", "message"),
    [
        ([0.1], 1.0, 1.0, 1.0, "discount"),
        ([0.1], -0.1, 1.0, 1.0, "discount"),
        ([0.1], [0.5, 1.2], 1.0, 1.0, "discount"),
        ([-0.1], 0.9, 1.0, 1.0, "non-negative"),
        ([float("nan")], 0.9, 1.0, 1.0, "non-negative"),
        ([], 0.9, 1.0, 1.0, "iterations"),
        (np.zeros((0, 3)), 0.9, 1.0, 1.0, "T >= 1"),
        ([0.1], 0.9, -1.0, 1.0, "Rmax"),
        ([0.1], 0.9, 1.0, -1.0, "concentrability"),
        ([0.1, 0.2], 0.9, 1.0, [1.0, 2.0, 3.0], "K=2"),
    ],
)
def test_invalid_arguments_raise_a_clear_error(errors, gamma, max_reward, concentrability, message):
    with pytest.raises(ConfigError, match=message):
        multitask_avi_bound(errors, gamma, max_reward, concentrability)
