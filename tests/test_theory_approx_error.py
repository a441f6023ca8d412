"""Properties of the Theorem 3 approximation-error bound and its single-task and Maurer special cases."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtrl_bench.errors import ConfigError
from mtrl_bench.theory.approx_error import (
    ApproximationErrorBound,
    ClassComplexities,
    ComplexityRates,
    approximation_error_bound,
    approximation_error_bound_from_rates,
    maurer_bound,
    single_task_approximation_error_bound,
)

FAST = settings(max_examples=50, deadline=None)
positive = st.floats(0.0, 10.0)
rates_strategy = st.builds(ComplexityRates, positive, positive, positive, positive, positive, positive,
                           positive, positive)
complexities_strategy = st.builds(ClassComplexities, positive, positive, positive, positive, positive,
                                  positive, positive, positive)
sample_counts = st.integers(1, 10_000)
task_counts = st.integers(1, 512)
deltas = st.floats(1e-6, 0.999)
best_errors = st.floats(0.0, 1.0)


@FAST
@given(sample_counts, task_counts, deltas, complexities_strategy, best_errors)
def test_every_term_is_non_negative_and_total_at_least_best_in_class(n, n_tasks, delta, complexities, best):
    bound = approximation_error_bound(n, n_tasks, delta, complexities, best_in_class_error=best)
    terms = bound.terms()
    assert all(value >= 0 for value in terms.values())
    assert bound.total >= best
    parts = sum(value for name, value in terms.items() if name != "total")
    assert math.isclose(bound.total, parts, rel_tol=1e-12)


@FAST
@given(sample_counts, task_counts, deltas, rates_strategy, st.integers(1, 1000))
def test_bound_non_increasing_in_sample_count(n, n_tasks, delta, rates, extra):
    smaller = approximation_error_bound_from_rates(n, n_tasks, delta, rates).total
    larger = approximation_error_bound_from_rates(n + extra, n_tasks, delta, rates).total
    assert larger <= smaller * (1 + 1e-12)


@FAST
@given(sample_counts, task_counts, deltas, rates_strategy, st.floats(0.0, 1.0))
def test_bound_non_increasing_as_delta_grows(n, n_tasks, delta, rates, fraction):
    larger_delta = delta + fraction * (0.999 - delta)
    assert (approximation_error_bound_from_rates(n, n_tasks, larger_delta, rates).total
            <= approximation_error_bound_from_rates(n, n_tasks, delta, rates).total * (1 + 1e-12))


@FAST
@given(sample_counts, task_counts, deltas, rates_strategy, st.integers(1, 1000))
def test_representation_terms_shrink_and_the_rest_stays_as_tasks_grow(n, n_tasks, delta, rates, extra):
    fewer = approximation_error_bound_from_rates(n, n_tasks, delta, rates)
    more = approximation_error_bound_from_rates(n, n_tasks + extra, delta, rates)
    tolerance = 1 + 1e-9
    assert more.shared_representation <= fewer.shared_representation * tolerance
    assert more.shared_offset <= fewer.shared_offset * tolerance
    assert more.confidence <= fewer.confidence * tolerance
    assert math.isclose(more.input_maps, fewer.input_maps, rel_tol=1e-9, abs_tol=1e-15)
    assert math.isclose(more.heads, fewer.heads, rel_tol=1e-9, abs_tol=1e-15)
    assert more.total <= fewer.total * tolerance


@FAST
@given(sample_counts, deltas, rates_strategy, best_errors)
def test_total_tends_to_the_terms_without_task_benefit(n, delta, rates, best):
    # T large enough that terms ~ rate^2 / sqrt(nT) (rates up to ~10) fall below the 1e-4 checked here.
    many = approximation_error_bound_from_rates(n, 10**16, delta, rates, best_in_class_error=best)
    assert many.shrinking_with_tasks < 1e-4
    assert math.isclose(many.total, many.limit_many_tasks, rel_tol=1e-4, abs_tol=1e-4)


@FAST
@given(sample_counts, deltas, rates_strategy)
def test_shape_in_tasks_is_alpha_plus_beta_over_sqrt_t_plus_kappa_over_t(n, delta, rates):
    one = approximation_error_bound_from_rates(n, 1, delta, rates)
    alpha = one.limit_many_tasks
    beta = one.shared_representation + one.confidence
    kappa = one.shared_offset
    for n_tasks in (2, 7, 64):
        bound = approximation_error_bound_from_rates(n, n_tasks, delta, rates)
        expected = alpha + beta / math.sqrt(n_tasks) + kappa / n_tasks
        assert math.isclose(bound.total, expected, rel_tol=1e-9, abs_tol=1e-12)


@FAST
@given(sample_counts, deltas, complexities_strategy, best_errors)
def test_one_task_reproduces_the_single_task_bound(n, delta, complexities, best):
    multi = approximation_error_bound(n, 1, delta, complexities, best_in_class_error=best).total
    single = single_task_approximation_error_bound(n, delta, complexities, best_in_class_error=best)
    assert math.isclose(multi, single, rel_tol=1e-12, abs_tol=1e-15)


@FAST
@given(sample_counts, task_counts, deltas, complexities_strategy, st.integers(0, 3), st.floats(0.0, 5.0))
def test_bound_is_linear_in_each_universal_constant(n, n_tasks, delta, complexities, index, constant):
    constants = [1.0, 1.0, 1.0, 1.0]
    zero = approximation_error_bound(n, n_tasks, delta, complexities, constants=_with(constants, index, 0.0))
    unit = approximation_error_bound(n, n_tasks, delta, complexities, constants=_with(constants, index, 1.0))
    scaled = approximation_error_bound(n, n_tasks, delta, complexities,
                                       constants=_with(constants, index, constant))
    expected = zero.total + constant * (unit.total - zero.total)
    assert math.isclose(scaled.total, expected, rel_tol=1e-9, abs_tol=1e-12)


@FAST
@given(sample_counts, task_counts, deltas, positive, positive, positive, positive, positive)
def test_trivial_input_maps_give_maurers_form(n, n_tasks, delta, lip, input_norm, ratio_h, offset, ratio_f):
    # W = {identity}: A = 0, and B + C is the chain-rule bound on G(H(X)) in Maurer's first term.
    rep_norm = 3.0
    complexities = ClassComplexities(lipschitz_heads=lip, lipschitz_shared=2.0, input_map_gaussian=0.0,
                                     input_map_output_norm=input_norm, shared_gaussian_ratio=ratio_h,
                                     shared_offset_gaussian=offset, representation_output_norm=rep_norm,
                                     head_gaussian_ratio=ratio_f)
    ours = approximation_error_bound(n, n_tasks, delta, complexities, log_numerator=4.0)
    chain_rule_gaussian = input_norm * ratio_h + offset
    theirs = maurer_bound(n, n_tasks, delta, lipschitz_heads=lip, representation_gaussian=chain_rule_gaussian,
                          representation_output_norm=rep_norm, head_gaussian_ratio=ratio_f)
    assert ours.input_maps == 0.0
    assert math.isclose(ours.total, theirs, rel_tol=1e-9, abs_tol=1e-12)


def test_hand_computed_terms():
    # n = 4, T = 4, delta = 3 e^-2 so ln(3/delta) = 2: E = sqrt(16/16) = 1.
    complexities = ClassComplexities(lipschitz_heads=2.0, lipschitz_shared=3.0, input_map_gaussian=4.0,
                                     input_map_output_norm=8.0, shared_gaussian_ratio=0.5,
                                     shared_offset_gaussian=1.6, representation_output_norm=6.0,
                                     head_gaussian_ratio=1.0)
    bound = approximation_error_bound(4, 4, 3 * math.exp(-2), complexities, best_in_class_error=0.25)
    expected = ApproximationErrorBound(input_maps=2 * 3 * 4 / 4, shared_representation=2 * 8 * 0.5 / 16,
                                       shared_offset=2 * 1.6 / 16, heads=6 * 1.0 / (4 * 2), confidence=1.0,
                                       best_in_class_error=0.25, total=6 + 0.5 + 0.2 + 0.75 + 1 + 0.25)
    for name, value in expected.terms().items():
        assert math.isclose(bound.terms()[name], value, rel_tol=1e-12), name


def test_loss_scaling_multiplies_complexity_terms_and_confidence_separately():
    complexities = ClassComplexities(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    base = approximation_error_bound(10, 3, 0.1, complexities)
    scaled = approximation_error_bound(10, 3, 0.1, complexities, loss_lipschitz=4.0, loss_range=9.0)
    assert math.isclose(scaled.input_maps, 4 * base.input_maps)
    assert math.isclose(scaled.heads, 4 * base.heads)
    assert math.isclose(scaled.confidence, 9 * base.confidence)


@pytest.mark.parametrize(
    ("n", "n_tasks", "delta", "message"),
    [(0, 1, 0.1, "n_samples"), (2.5, 1, 0.1, "n_samples"), (10, 0, 0.1, "n_tasks"),
     (10, 1, 0.0, "delta"), (10, 1, 1.0, "delta"), (10, 1, -0.5, "delta")],
)
def test_invalid_counts_and_delta_raise_a_clear_error(n, n_tasks, delta, message):
    with pytest.raises(ConfigError, match=message):
        approximation_error_bound(n, n_tasks, delta, ClassComplexities())


def test_negative_complexities_and_errors_raise_a_clear_error():
    with pytest.raises(ConfigError, match="input_map_gaussian"):
        ClassComplexities(input_map_gaussian=-1.0)
    with pytest.raises(ConfigError, match="best_in_class_error"):
        approximation_error_bound(10, 2, 0.1, ClassComplexities(), best_in_class_error=-0.1)
    with pytest.raises(ConfigError, match="c1, c2, c3, c4"):
        approximation_error_bound(10, 2, 0.1, ClassComplexities(), constants=(1.0, 1.0))


def _with(values: list[float], index: int, value: float) -> tuple[float, ...]:
    changed = list(values)
    changed[index] = value
    return tuple(changed)
