"""Error propagation of (multi-task) approximate value and policy iteration.

Theorem 2 of D'Eramo et al. (ICLR 2020) [R] (T = 1: Theorem 1), after Farahmand, Munos & Szepesvari 2010,
Theorem 3; the API counterpart is reconstructed [C, tail unverified]. Errors eps_k are squared L2(nu) norms.

Design notes: docs/theory.md#avi-bound-concentrability-the-infimum-over-r-api.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from mtrl_bench.errors import ConfigError
from mtrl_bench.theory.checks import non_negative, whole_number

ArrayLike = float | Sequence[float] | Sequence[Sequence[float]] | np.ndarray

_R_GRID = np.linspace(0.0, 1.0, 101)


@dataclass(frozen=True)
class PropagationBound:
    """A value of the AVI or API error-propagation bound and its parts.

    ``total = propagated_error_term + tail_term``; both parts already carry the 2 gamma/(1-gamma)^2
    prefactor. ``r_star`` attains the infimum over r in [0, 1]. ``alphas`` has K + 1 entries
    (alpha_0 .. alpha_K). ``discount`` and ``max_reward`` are the task aggregates used (max of the
    discounts, mean of the Rmax values). Units: those of the rewards (the bound is a value).
    """

    total: float
    propagated_error_term: float
    tail_term: float
    r_star: float
    alphas: np.ndarray
    discount: float
    max_reward: float
    n_iterations: int
    kind: str

    def terms(self) -> dict[str, float]:
        """The scalar parts, for printing or tabulating."""
        return {
            "propagated_error_term": self.propagated_error_term,
            "tail_term": self.tail_term,
            "total": self.total,
            "r_star": self.r_star,
            "discount": self.discount,
            "max_reward": self.max_reward,
            "n_iterations": float(self.n_iterations),
        }


def check_discount(discount: float) -> float:
    """Return ``discount`` as a float after checking that it lies in [0, 1)."""
    discount = float(discount)
    if not 0.0 <= discount < 1.0 or not np.isfinite(discount):
        raise ConfigError(f"discount gamma must lie in [0, 1), got {discount}")
    return discount


def avi_coefficients(discount: float, n_iterations: int) -> np.ndarray:
    """The weights alpha_0 .. alpha_K of the error-propagation bound: shape (K + 1,), summing to 1.

    alpha_k = (1-gamma) gamma^(K-k-1) / (1-gamma^(K+1)) for 0 <= k < K and
    alpha_K = (1-gamma) gamma^K / (1-gamma^(K+1)).
    """
    gamma = check_discount(discount)
    n_iterations = _check_iterations(n_iterations)
    normaliser = 1.0 - gamma ** (n_iterations + 1)
    k = np.arange(n_iterations)
    alphas = np.empty(n_iterations + 1)
    alphas[:-1] = (1.0 - gamma) * gamma ** (n_iterations - k - 1) / normaliser
    alphas[-1] = (1.0 - gamma) * gamma**n_iterations / normaliser
    return alphas


def effective_concentrability(
    future_coefficients: np.ndarray, stationary_coefficients: np.ndarray, discount: float, n_iterations: int
) -> np.ndarray:
    """Effective per-iteration coefficients c_k from Farahmand's raw concentrability coefficients.

    ``future_coefficients[m, j]`` is c_VI1(m, j) for m = 0 .. M-1 and j = 1 .. K (column j-1);
    ``stationary_coefficients[m]`` is c_VI2(m+1) for m = 0 .. M-1. The series over m is truncated at
    M terms (so a finite table gives a lower estimate of an infinite series). Returns shape (K,):
    c_k = (1-gamma)/2 * sum_m gamma^m (c_VI1(m, K-k) + c_VI2(m+1)), k = 0 .. K-1.
    """
    gamma = check_discount(discount)
    n_iterations = _check_iterations(n_iterations)
    future = np.asarray(future_coefficients, dtype=float)
    stationary = np.asarray(stationary_coefficients, dtype=float)
    if future.ndim != 2 or future.shape[1] < n_iterations:
        raise ConfigError(f"future_coefficients must have shape (M, >= K={n_iterations}), got {future.shape}")
    if stationary.shape != (future.shape[0],):
        raise ConfigError(
            f"stationary_coefficients must have shape ({future.shape[0]},), got {stationary.shape}"
        )
    if (future < 0).any() or (stationary < 0).any():
        raise ConfigError("concentrability coefficients must be non-negative")
    weights = gamma ** np.arange(future.shape[0])
    steps_ahead = n_iterations - np.arange(n_iterations)  # K - k for k = 0 .. K-1
    series = weights @ (future[:, steps_ahead - 1] + stationary[:, None])
    return (1.0 - gamma) / 2.0 * series


def multitask_avi_bound(
    approximation_errors: ArrayLike,
    discount: float | Sequence[float],
    max_reward: float | Sequence[float] = 1.0,
    concentrability: ArrayLike = 1.0,
) -> PropagationBound:
    """Theorem 2: bound on the task-averaged ||Q*_t - Q_t^{pi_K}||_{1,rho} after K AVI iterations.

    approximation_errors: (K,) task-averaged squared errors eps_avg,0 .. eps_avg,K-1, or (T, K)
        per-task squared errors ||Q_{t,k+1} - T*_t Q_{t,k}||^2_nu, averaged here over tasks.
    discount: gamma, or (T,) per-task discounts; the largest is used (also inside alpha_k).
    max_reward: Rmax, or (T,) per-task values; their mean is used.
    concentrability: effective coefficients c_{t,k} (see the module docstring): a scalar c (the
        constant assumption), (K,) per iteration, or (T, K) per task (the max over tasks is taken).
    """
    return _propagation_bound(approximation_errors, discount, max_reward, concentrability, kind="avi")


def single_task_avi_bound(
    approximation_errors: Sequence[float] | np.ndarray,
    discount: float,
    max_reward: float = 1.0,
    concentrability: float | Sequence[float] = 1.0,
) -> PropagationBound:
    """Theorem 1 (Farahmand): the bound on ||Q* - Q^{pi_K}||_{1,rho} for one task.

    approximation_errors: (K,) squared errors ||Q_{k+1} - T* Q_k||^2_nu; concentrability: c or (K,).
    """
    errors = np.asarray(approximation_errors, dtype=float)
    if errors.ndim != 1:
        raise ConfigError(f"single-task errors must be one sequence (K,), got shape {errors.shape}")
    return _propagation_bound(errors, discount, max_reward, concentrability, kind="avi")


def multitask_api_bound(
    evaluation_errors: ArrayLike,
    discount: float | Sequence[float],
    max_reward: float | Sequence[float] = 1.0,
    concentrability: ArrayLike = 1.0,
) -> PropagationBound:
    """Reconstructed API counterpart of Theorem 2 (not in the paper's main text; [C]).

    2 gamma/(1-gamma)^2 [ inf_r C_PI^{1/2}(K; r) E^{1/2}(eps_avg,0..K-1; r) + gamma^(K-1) Rmax_avg ],
    with eps_avg,k the task-averaged squared policy-evaluation (Bellman residual) errors and the
    same argument conventions as :func:`multitask_avi_bound`. The tail gamma^(K-1) Rmax_avg follows
    Farahmand et al. (2010) and is unverified for the multi-task statement.
    """
    return _propagation_bound(evaluation_errors, discount, max_reward, concentrability, kind="api")


def avi_bound_equal_errors(
    error: float, discount: float, n_iterations: int, max_reward: float = 1.0, concentrability: float = 1.0
) -> float:
    """Closed form of the AVI bound when every eps_k equals ``error`` and every coefficient is c.

    2 gamma/(1-gamma)^2 [ c (1-gamma^K)/(1-gamma^(K+1)) sqrt(eps) + 2 gamma^K Rmax/(1-gamma) ]
    (the infimum is attained at r = 1/2 by Cauchy-Schwarz).
    """
    gamma = check_discount(discount)
    n_iterations = _check_iterations(n_iterations)
    error = non_negative("error", error)
    max_reward = non_negative("max_reward", max_reward)
    c = non_negative("concentrability", concentrability)
    prefactor = 2.0 * gamma / (1.0 - gamma) ** 2
    weight = (1.0 - gamma**n_iterations) / (1.0 - gamma ** (n_iterations + 1))
    return prefactor * (c * weight * np.sqrt(error) + 2.0 * gamma**n_iterations * max_reward / (1.0 - gamma))


def avi_bound_limit(error: float, discount: float, concentrability: float = 1.0) -> float:
    """Limit K -> infinity of the equal-errors AVI bound: 2 gamma c sqrt(eps) / (1-gamma)^2."""
    gamma = check_discount(discount)
    return 2.0 * gamma * float(concentrability) * np.sqrt(float(error)) / (1.0 - gamma) ** 2


def _propagation_bound(
    errors_in, discount_in, max_reward_in, concentrability_in, kind: str
) -> PropagationBound:
    errors = np.asarray(errors_in, dtype=float)
    if errors.ndim == 2:
        if errors.shape[0] < 1:
            raise ConfigError("per-task errors need at least one task (T >= 1)")
        task_averaged = errors.mean(axis=0)
    elif errors.ndim == 1:
        task_averaged = errors
    else:
        raise ConfigError(f"approximation errors must have shape (K,) or (T, K), got {errors.shape}")
    n_iterations = _check_iterations(task_averaged.shape[0])
    if not np.isfinite(errors).all() or (errors < 0).any():
        raise ConfigError("approximation errors must be finite and non-negative (they are squared norms)")

    gamma = _aggregate_discount(discount_in)
    max_reward = _aggregate_max_reward(max_reward_in)
    coefficients = _concentrability_table(concentrability_in, n_iterations)
    alphas = avi_coefficients(gamma, n_iterations)

    r_star, root_product = _infimum_over_r(alphas[:-1], task_averaged, coefficients)
    prefactor = 2.0 * gamma / (1.0 - gamma) ** 2
    if kind == "avi":
        tail = prefactor * 2.0 / (1.0 - gamma) * gamma**n_iterations * max_reward
    else:
        tail = prefactor * gamma ** (n_iterations - 1) * max_reward
    propagated = prefactor * root_product
    return PropagationBound(
        total=float(propagated + tail), propagated_error_term=float(propagated), tail_term=float(tail),
        r_star=float(r_star), alphas=alphas, discount=gamma, max_reward=max_reward,
        n_iterations=n_iterations, kind=kind,
    )


def _infimum_over_r(alphas: np.ndarray, errors: np.ndarray, coefficients: np.ndarray) -> tuple[float, float]:
    """Minimise sqrt(C(K; r) E(eps; r)) over r in [0, 1]; returns (r*, the minimum).

    alphas, errors: (K,); coefficients: (T, K). Log-convex in r, so grid + bounded Brent is exact enough.
    """
    if not errors.any() or not coefficients.any():
        return 0.5, 0.0

    def product(r: float) -> float:
        concentration = np.max(np.sum(alphas ** (2.0 * (1.0 - r)) * coefficients**2, axis=1))
        weighted_errors = np.sum(alphas ** (2.0 * r) * errors)
        return float(concentration * weighted_errors)

    grid_values = np.array([product(r) for r in _R_GRID])
    best = int(np.argmin(grid_values))
    low, high = _R_GRID[max(best - 1, 0)], _R_GRID[min(best + 1, len(_R_GRID) - 1)]
    r_best, value_best = float(_R_GRID[best]), float(grid_values[best])
    if high > low:
        refined = minimize_scalar(product, bounds=(low, high), method="bounded", options={"xatol": 1e-12})
        if refined.fun < value_best:
            r_best, value_best = float(refined.x), float(refined.fun)
    return r_best, float(np.sqrt(max(value_best, 0.0)))


def _aggregate_discount(discount_in) -> float:
    discounts = np.atleast_1d(np.asarray(discount_in, dtype=float))
    if discounts.ndim != 1 or discounts.size < 1:
        raise ConfigError(f"discount must be a number or one per task, got shape {discounts.shape}")
    for gamma in discounts:
        check_discount(gamma)
    return float(discounts.max())


def _aggregate_max_reward(max_reward_in) -> float:
    rewards = np.atleast_1d(np.asarray(max_reward_in, dtype=float))
    if rewards.ndim != 1 or rewards.size < 1:
        raise ConfigError(f"max_reward must be a number or one per task, got shape {rewards.shape}")
    if not np.isfinite(rewards).all() or (rewards < 0).any():
        raise ConfigError("max_reward (Rmax) must be finite and non-negative")
    return float(rewards.mean())


def _concentrability_table(concentrability_in, n_iterations: int) -> np.ndarray:
    """Effective coefficients as a (T, K) table (T = 1 unless given per task)."""
    values = np.asarray(concentrability_in, dtype=float)
    if values.ndim == 0:
        table = np.full((1, n_iterations), float(values))
    elif values.ndim == 1:
        if values.shape[0] != n_iterations:
            raise ConfigError(
                f"a concentrability sequence needs K={n_iterations} entries, got {values.shape[0]}"
            )
        table = values[None, :]
    elif values.ndim == 2:
        if values.shape[1] not in (1, n_iterations):
            raise ConfigError(
                f"a per-task concentrability table needs shape (T, 1) or (T, K={n_iterations}), "
                f"got {values.shape}"
            )
        table = np.broadcast_to(values, (values.shape[0], n_iterations))
    else:
        raise ConfigError(f"concentrability must be a number, (K,) or (T, K), got shape {values.shape}")
    if not np.isfinite(table).all() or (table < 0).any():
        raise ConfigError("concentrability coefficients must be finite and non-negative")
    return np.array(table)


def _check_iterations(n_iterations: int) -> int:
    return whole_number("the number of iterations K", n_iterations, 1)
