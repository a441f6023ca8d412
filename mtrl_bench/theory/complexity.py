"""Estimators of the quantities in Theorem 3: Gaussian complexities, Lipschitz constants, norms.

Gaussian complexities are unnormalised, Monte Carlo with standard errors; Lipschitz constants are upper bounds
checked from below by input-Jacobian norms; norms of representations on data come with bootstrap errors.

Design notes: docs/theory.md#complexity-estimators-what-is-exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mtrl_bench.errors import ConfigError
from mtrl_bench.theory.checks import non_negative, whole_number

ACTIVATION_LIPSCHITZ = {"identity": 1.0, "relu": 1.0, "tanh": 1.0, "sigmoid": 0.25}
_ACTIVATION_MODULES = {torch.nn.Identity: "identity", torch.nn.ReLU: "relu", torch.nn.Tanh: "tanh",
                       torch.nn.Sigmoid: "sigmoid"}
# Numbers per Monte Carlo chunk: keeps the (draws, points, outputs) Gaussian array small.
_CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class Estimate:
    """A scalar estimate, the standard error of the estimator and the number of draws behind it."""

    value: float
    standard_error: float
    n_draws: int


def gaussian_complexity_linear_maps(
    inputs: np.ndarray | torch.Tensor, radius: float, output_dim: int, n_draws: int = 1000, seed: int = 0
) -> Estimate:
    """Monte Carlo G of {x -> A x : ||A||_F <= radius} on the points ``inputs`` (m, d); A is (output_dim, d).

    G = radius * E ||Gamma^T X||_F with Gamma (m, output_dim) standard Gaussian. Units: those of x.
    """
    points = _as_matrix(inputs, "inputs")
    radius = non_negative("radius", radius)
    if int(output_dim) != output_dim or output_dim < 1:
        raise ConfigError(f"output_dim must be an integer >= 1, got {output_dim}")
    samples = _linear_map_suprema(points, int(output_dim), _check_draws(n_draws), np.random.default_rng(seed))
    return _mean_estimate(radius * samples)


def gaussian_complexity_linear_maps_bound(
    inputs: np.ndarray | torch.Tensor, radius: float, output_dim: int
) -> float:
    """Jensen's upper bound on :func:`gaussian_complexity_linear_maps`: radius sqrt(J) ||X||_F."""
    points = _as_matrix(inputs, "inputs")
    return float(non_negative("radius", radius) * math.sqrt(output_dim) * np.linalg.norm(points))


def gaussian_complexity_linear_heads(
    features: np.ndarray | torch.Tensor, radius: float, n_draws: int = 1000, seed: int = 0
) -> Estimate:
    """Monte Carlo G of norm-bounded linear heads ||beta_t|| <= radius on fixed representations.

    features: (m, K) for one task or (T, m, K) for T tasks with independent heads; the complexity is
    radius * sum_t E ||Phi_t^T gamma_t|| (additive over tasks). Units: those of the features.
    """
    stacked = _as_array(features, "features")
    if stacked.ndim == 2:
        stacked = stacked[None]
    if stacked.ndim != 3:
        raise ConfigError(f"features must have shape (m, K) or (T, m, K), got {stacked.shape}")
    radius = non_negative("radius", radius)
    rng = np.random.default_rng(seed)
    n_draws = _check_draws(n_draws)
    samples = sum(_linear_map_suprema(task_features, 1, n_draws, rng) for task_features in stacked)
    return _mean_estimate(radius * samples)


def gaussian_complexity_linear_heads_bound(features: np.ndarray | torch.Tensor, radius: float) -> float:
    """Upper bound radius * sum_t ||Phi_t||_F on :func:`gaussian_complexity_linear_heads`."""
    stacked = _as_array(features, "features")
    if stacked.ndim == 2:
        stacked = stacked[None]
    return float(non_negative("radius", radius) * sum(np.linalg.norm(task) for task in stacked))


def gaussian_complexity_finite_set(
    outputs: np.ndarray | torch.Tensor, n_draws: int = 1000, seed: int = 0
) -> Estimate:
    """Monte Carlo G of a finite set: outputs (N, m), N members' output vectors; the max is exact."""
    members = _as_matrix(outputs, "outputs")
    n_draws = _check_draws(n_draws)
    gaussians = np.random.default_rng(seed).standard_normal((n_draws, members.shape[1]))
    return _mean_estimate((gaussians @ members.T).max(axis=1))


def expected_gaussian_norm(dim: int) -> float:
    """E ||g|| for g ~ N(0, I_dim): sqrt(2) Gamma((dim+1)/2) / Gamma(dim/2) (exact)."""
    if int(dim) != dim or dim < 1:
        raise ConfigError(f"dim must be an integer >= 1, got {dim}")
    return math.sqrt(2.0) * math.exp(math.lgamma((dim + 1) / 2.0) - math.lgamma(dim / 2.0))


def lipschitz_upper_bound(
    weights: Sequence[np.ndarray | torch.Tensor], activations: Sequence[str]
) -> Estimate:
    """Upper bound on the Lipschitz constant (Euclidean norms) of x -> act_L(W_L ... act_1(W_1 x + b_1) ...).

    weights: the layers' matrices (out, in) in order; activations: one name per layer, from
    :data:`ACTIVATION_LIPSCHITZ`. Returns prod_l ||W_l||_2 * Lip(act_l); exact, so standard error 0.
    """
    if len(weights) != len(activations) or not weights:
        raise ConfigError("give one activation name per weight matrix, and at least one layer")
    bound = 1.0
    for matrix, activation in zip(weights, activations, strict=True):
        if activation not in ACTIVATION_LIPSCHITZ:
            raise ConfigError(f"unknown activation {activation!r}: use one of {sorted(ACTIVATION_LIPSCHITZ)}")
        bound *= spectral_norm(matrix) * ACTIVATION_LIPSCHITZ[activation]
    return Estimate(float(bound), 0.0, 0)


def module_lipschitz_upper_bound(module: torch.nn.Module) -> Estimate:
    """:func:`lipschitz_upper_bound` for an ``nn.Sequential`` of Linear layers and activation modules."""
    weights: list[torch.Tensor] = []
    activations: list[str] = []
    for layer in module.children() if isinstance(module, torch.nn.Sequential) else [module]:
        if isinstance(layer, torch.nn.Linear):
            weights.append(layer.weight.detach())
            activations.append("identity")
        elif type(layer) in _ACTIVATION_MODULES:
            if not activations:
                raise ConfigError("an activation before the first Linear layer is not supported")
            if activations[-1] != "identity":
                raise ConfigError("two activations in a row are not supported")
            activations[-1] = _ACTIVATION_MODULES[type(layer)]
        else:
            raise ConfigError(f"cannot bound the Lipschitz constant of layer {type(layer).__name__}")
    return lipschitz_upper_bound(weights, activations)


def spectral_norm(matrix: np.ndarray | torch.Tensor) -> float:
    """Largest singular value of a matrix (out, in)."""
    values = _as_matrix(matrix, "weight matrix")
    return float(np.linalg.norm(values, ord=2)) if values.size else 0.0


def max_input_jacobian_norm(function: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor) -> float:
    """Largest spectral norm of the input Jacobian of ``function`` over the points ``inputs`` (m, d).

    ``function`` maps one point (d,) to outputs (k,) or a scalar; the result is a lower bound on the
    Lipschitz constant and should not exceed :func:`lipschitz_upper_bound`.
    """
    if inputs.ndim != 2:
        raise ConfigError(f"inputs must have shape (m, d), got {tuple(inputs.shape)}")
    jacobians = torch.func.vmap(torch.func.jacrev(function))(inputs.detach())
    jacobians = jacobians.reshape(inputs.shape[0], -1, inputs.shape[1])
    return float(torch.linalg.matrix_norm(jacobians.detach(), ord=2).max())


def representation_norms(
    features: np.ndarray | torch.Tensor, n_bootstrap: int = 200, seed: int = 0
) -> dict[str, Estimate]:
    """Norms of a representation on data, with bootstrap standard errors over the points.

    features: (m, K) outputs of the representation on m points (for Theorem 3, all T n stacked points).
    Returns ``stacked_norm`` (||Phi||_F, the Euclidean norm Theorem 3 uses; it grows like sqrt(m))
    and ``max_point_norm`` (max_i ||phi(x_i)||, the sup-norm on the data).
    """
    values = _as_matrix(features, "features")
    n_bootstrap = _check_draws(n_bootstrap)
    point_norms = np.linalg.norm(values, axis=1)
    n_points = len(point_norms)
    resampled = np.random.default_rng(seed).integers(0, n_points, size=(n_bootstrap, n_points))
    boot_stacked = np.sqrt((point_norms[resampled] ** 2).sum(axis=1))
    boot_max = point_norms[resampled].max(axis=1)
    stacked_norm = float(np.sqrt((point_norms**2).sum()))
    return {
        "stacked_norm": Estimate(stacked_norm, float(boot_stacked.std(ddof=1)), n_bootstrap),
        "max_point_norm": Estimate(float(point_norms.max()), float(boot_max.std(ddof=1)), n_bootstrap),
    }


def _linear_map_suprema(
    points: np.ndarray, output_dim: int, n_draws: int, rng: np.random.Generator
) -> np.ndarray:
    """||Gamma^T X||_F for n_draws Gaussian Gamma (m, output_dim); points X (m, d). Shape (n_draws,)."""
    n_points = points.shape[0]
    chunk = max(1, _CHUNK_ELEMENTS // max(1, n_points * output_dim))
    suprema = []
    for start in range(0, n_draws, chunk):
        size = min(chunk, n_draws - start)
        gaussians = rng.standard_normal((size, n_points, output_dim))
        products = np.einsum("smj,md->sjd", gaussians, points)
        suprema.append(np.sqrt((products**2).sum(axis=(1, 2))))
    return np.concatenate(suprema)


def _mean_estimate(samples: np.ndarray) -> Estimate:
    n_draws = len(samples)
    error = float(samples.std(ddof=1) / math.sqrt(n_draws)) if n_draws > 1 else float("nan")
    return Estimate(float(samples.mean()), error, n_draws)


def _as_array(values: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    array = np.asarray(values, dtype=float)
    if not np.isfinite(array).all():
        raise ConfigError(f"{name} contain NaN or inf")
    return array


def _as_matrix(values: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    array = _as_array(values, name)
    if array.ndim != 2:
        raise ConfigError(f"{name} must be a matrix (2-D), got shape {array.shape}")
    return array


def _check_draws(n_draws: int) -> int:
    return whole_number("the number of Monte Carlo draws", n_draws, 2)
