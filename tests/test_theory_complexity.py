"""Properties of the Gaussian-complexity, Lipschitz and norm estimators."""

import math

import numpy as np
import pytest
import torch

from mtrl_bench.errors import ConfigError
from mtrl_bench.theory.complexity import (
    expected_gaussian_norm,
    gaussian_complexity_finite_set,
    gaussian_complexity_linear_heads,
    gaussian_complexity_linear_heads_bound,
    gaussian_complexity_linear_maps,
    gaussian_complexity_linear_maps_bound,
    lipschitz_upper_bound,
    max_input_jacobian_norm,
    module_lipschitz_upper_bound,
    representation_norms,
)


def _points(n_points: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n_points, dim))


def test_linear_map_complexity_below_its_jensen_bound_and_close_to_it():
    points = _points(40, 3)
    estimate = gaussian_complexity_linear_maps(points, radius=2.0, output_dim=5, n_draws=2000)
    bound = gaussian_complexity_linear_maps_bound(points, radius=2.0, output_dim=5)
    assert estimate.value < bound
    assert estimate.value > 0.9 * bound  # ||Gamma^T X||_F concentrates for many Gaussian entries
    assert 0 < estimate.standard_error < 0.01 * estimate.value


def test_linear_map_complexity_is_linear_in_the_radius():
    points = _points(20, 4)
    one = gaussian_complexity_linear_maps(points, radius=1.0, output_dim=3, n_draws=500, seed=7)
    three = gaussian_complexity_linear_maps(points, radius=3.0, output_dim=3, n_draws=500, seed=7)
    assert math.isclose(three.value, 3 * one.value, rel_tol=1e-12)
    assert math.isclose(three.standard_error, 3 * one.standard_error, rel_tol=1e-12)


def test_linear_map_complexity_grows_like_sqrt_of_the_sample_count():
    small = gaussian_complexity_linear_maps(_points(100, 3, seed=1), 1.0, 2, n_draws=1000).value
    large = gaussian_complexity_linear_maps(_points(1600, 3, seed=2), 1.0, 2, n_draws=1000).value
    assert math.isclose(large / small, 4.0, rel_tol=0.1)


def test_head_complexity_of_one_task_equals_linear_maps_with_one_output():
    features = _points(30, 6)
    heads = gaussian_complexity_linear_heads(features, radius=1.5, n_draws=400, seed=3)
    maps = gaussian_complexity_linear_maps(features, radius=1.5, output_dim=1, n_draws=400, seed=3)
    assert math.isclose(heads.value, maps.value, rel_tol=1e-12)
    assert heads.value <= gaussian_complexity_linear_heads_bound(features, 1.5)


def test_head_complexity_is_additive_over_independent_tasks():
    first, second = _points(25, 4, seed=4), 2.0 * _points(25, 4, seed=5)
    both = gaussian_complexity_linear_heads(np.stack([first, second]), 1.0, n_draws=4000, seed=0)
    one = gaussian_complexity_linear_heads(first, 1.0, n_draws=4000, seed=1)
    two = gaussian_complexity_linear_heads(second, 1.0, n_draws=4000, seed=2)
    spread = 4 * math.sqrt(both.standard_error**2 + one.standard_error**2 + two.standard_error**2)
    assert abs(both.value - (one.value + two.value)) < spread


def test_complexity_of_the_zero_set_is_zero():
    assert gaussian_complexity_finite_set(np.zeros((1, 10)), n_draws=100).value == 0.0
    assert gaussian_complexity_linear_maps(np.zeros((10, 3)), 5.0, 2, n_draws=100).value == 0.0


def test_finite_set_complexity_of_two_opposite_points_is_their_expected_abs_projection():
    # Y = {y, -y}: E max(<g,y>, -<g,y>) = E|<g,y>| = ||y|| sqrt(2/pi).
    y = np.array([3.0, 4.0])
    estimate = gaussian_complexity_finite_set(np.stack([y, -y]), n_draws=20_000, seed=0)
    assert abs(estimate.value - 5 * math.sqrt(2 / math.pi)) < 4 * estimate.standard_error


def test_expected_gaussian_norm_hand_values_and_monte_carlo():
    assert math.isclose(expected_gaussian_norm(1), math.sqrt(2 / math.pi), rel_tol=1e-12)
    assert math.isclose(expected_gaussian_norm(2), math.sqrt(math.pi / 2), rel_tol=1e-12)
    draws = np.linalg.norm(np.random.default_rng(0).standard_normal((50_000, 7)), axis=1)
    assert math.isclose(expected_gaussian_norm(7), draws.mean(), rel_tol=0.01)


def test_lipschitz_bound_hand_computed_and_at_least_the_jacobian_norm():
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Sigmoid(), torch.nn.Linear(8, 8),
                                  torch.nn.Tanh(), torch.nn.Linear(8, 2))
    upper = module_lipschitz_upper_bound(network)
    spectral = [torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item()
                for layer in network if isinstance(layer, torch.nn.Linear)]
    assert math.isclose(upper.value, spectral[0] * 0.25 * spectral[1] * spectral[2], rel_tol=1e-6)
    assert upper.standard_error == 0.0
    points = torch.randn(200, 3)
    assert 0 < max_input_jacobian_norm(network, points) <= upper.value


def test_lipschitz_bound_of_a_diagonal_relu_layer():
    weights = [np.diag([3.0, -2.0]), np.array([[0.5, 0.0]])]
    assert math.isclose(lipschitz_upper_bound(weights, ["relu", "identity"]).value, 1.5)
    with pytest.raises(ConfigError, match="unknown activation"):
        lipschitz_upper_bound(weights, ["softplus", "identity"])


def test_representation_norms_hand_values_and_bootstrap_errors():
    features = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    norms = representation_norms(features, n_bootstrap=300)
    assert math.isclose(norms["stacked_norm"].value, math.sqrt(26.0))
    assert norms["max_point_norm"].value == 5.0
    assert norms["stacked_norm"].standard_error > 0
    constant = representation_norms(np.ones((10, 2)), n_bootstrap=50)
    assert constant["max_point_norm"].standard_error == 0.0


@pytest.mark.parametrize("call", [
    lambda: gaussian_complexity_linear_maps(np.ones((3, 2)), -1.0, 2),
    lambda: gaussian_complexity_linear_maps(np.ones(3), 1.0, 2),
    lambda: gaussian_complexity_linear_maps(np.ones((3, 2)), 1.0, 0),
    lambda: gaussian_complexity_linear_heads(np.ones((3, 2)), 1.0, n_draws=1),
    lambda: gaussian_complexity_finite_set(np.full((2, 2), np.nan)),
])
def test_invalid_estimator_arguments_raise_a_clear_error(call):
    with pytest.raises(ConfigError):
        call()
