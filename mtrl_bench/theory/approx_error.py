"""The approximation-error bound of multi-task learning with a shared representation (Theorem 3).

D'Eramo et al. (ICLR 2020) [R, bracket typo repaired]: terms A-E plus the best-in-class error; c1..c4 default 1.

Design notes: docs/theory.md#theorem-3-conventions-and-loss-scaling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from mtrl_bench.errors import ConfigError
from mtrl_bench.theory.checks import non_negative, whole_number


@dataclass(frozen=True)
class ClassComplexities:
    """The class-dependent numbers of Theorem 3, as plain values at a given (n, T).

    lipschitz_heads: L(F); lipschitz_shared: L(H);
    input_map_gaussian: sup_l G(W(X_l)), the largest per-task Gaussian complexity of the input maps;
    input_map_output_norm: sup_w ||w(X)||, Euclidean norm of all T n stacked input-map outputs;
    shared_gaussian_ratio: O(H); shared_offset_gaussian: min_p G(H(p));
    representation_output_norm: sup_{h,w} ||h(w(X))|| over the T n stacked points;
    head_gaussian_ratio: O(F). All must be finite and non-negative.
    """

    lipschitz_heads: float = 1.0
    lipschitz_shared: float = 1.0
    input_map_gaussian: float = 0.0
    input_map_output_norm: float = 0.0
    shared_gaussian_ratio: float = 0.0
    shared_offset_gaussian: float = 0.0
    representation_output_norm: float = 0.0
    head_gaussian_ratio: float = 0.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"complexity {name} must be finite and non-negative, got {value}")


@dataclass(frozen=True)
class ComplexityRates:
    """The paper's rate assumptions: complexities per unit of their growth in n and T.

    input_map_gaussian_rate g_W: sup_l G(W(X_l)) = g_W sqrt(n);
    input_norm_rate b_W: sup_w ||w(X)|| = b_W sqrt(n T);
    representation_norm_rate b_H: sup ||h(w(X))|| = b_H sqrt(n T);
    the Lipschitz constants, O(H), O(F) and min_p G(H(p)) do not grow.
    """

    lipschitz_heads: float = 1.0
    lipschitz_shared: float = 1.0
    input_map_gaussian_rate: float = 0.0
    input_norm_rate: float = 0.0
    shared_gaussian_ratio: float = 0.0
    shared_offset_gaussian: float = 0.0
    representation_norm_rate: float = 0.0
    head_gaussian_ratio: float = 0.0

    def at(self, n_samples: int, n_tasks: int) -> ClassComplexities:
        """The complexities these rates give for n samples per task and T tasks."""
        n_samples, n_tasks = _check_counts(n_samples, n_tasks)
        stacked = math.sqrt(n_samples * n_tasks)
        return ClassComplexities(
            lipschitz_heads=self.lipschitz_heads,
            lipschitz_shared=self.lipschitz_shared,
            input_map_gaussian=self.input_map_gaussian_rate * math.sqrt(n_samples),
            input_map_output_norm=self.input_norm_rate * stacked,
            shared_gaussian_ratio=self.shared_gaussian_ratio,
            shared_offset_gaussian=self.shared_offset_gaussian,
            representation_output_norm=self.representation_norm_rate * stacked,
            head_gaussian_ratio=self.head_gaussian_ratio,
        )


@dataclass(frozen=True)
class ApproximationErrorBound:
    """Every term of Theorem 3 separately and their sum (units: those of the loss).

    ``limit_many_tasks`` is what the bound tends to as T grows under the paper's rates
    (A + D + best-in-class); it equals A + D + eps* only when the complexities follow those rates.
    """

    input_maps: float
    shared_representation: float
    shared_offset: float
    heads: float
    confidence: float
    best_in_class_error: float
    total: float

    @property
    def shrinking_with_tasks(self) -> float:
        """B + C + E: the terms that vanish as T grows (under the paper's rates)."""
        return self.shared_representation + self.shared_offset + self.confidence

    @property
    def limit_many_tasks(self) -> float:
        """A + D + eps*: the terms with no T benefit (under the paper's rates)."""
        return self.input_maps + self.heads + self.best_in_class_error

    def terms(self) -> dict[str, float]:
        """The terms by name, in the order of the theorem, and the total."""
        return asdict(self)


def approximation_error_bound(
    n_samples: int,
    n_tasks: int,
    delta: float,
    complexities: ClassComplexities,
    *,
    best_in_class_error: float = 0.0,
    constants: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    log_numerator: float = 3.0,
    loss_lipschitz: float = 1.0,
    loss_range: float = 1.0,
) -> ApproximationErrorBound:
    """Theorem 3: the excess multi-task risk bound of the empirical minimiser, term by term.

    n_samples: n >= 1 per task; n_tasks: T >= 1; delta in (0, 1); complexities at this (n, T);
    best_in_class_error: eps*_avg >= 0; constants: (c1, c2, c3, c4) >= 0; log_numerator: q > 0 in
    ln(q / delta) (3 in the paper, 4 in Maurer et al.); loss_lipschitz, loss_range: see module docstring.
    """
    n_samples, n_tasks = _check_counts(n_samples, n_tasks)
    delta = _check_delta(delta)
    c1, c2, c3, c4 = _check_constants(constants)
    best_in_class_error = non_negative("best_in_class_error", best_in_class_error)
    loss_lipschitz = non_negative("loss_lipschitz", loss_lipschitz)
    loss_range = non_negative("loss_range", loss_range)
    if float(log_numerator) <= 0 or not math.isfinite(log_numerator):
        raise ConfigError(f"log_numerator must be positive and finite, got {log_numerator}")
    k = complexities
    stacked = n_samples * n_tasks
    input_maps = c1 * k.lipschitz_heads * k.lipschitz_shared * k.input_map_gaussian / n_samples
    shared = c2 * k.lipschitz_heads * k.input_map_output_norm * k.shared_gaussian_ratio / stacked
    offset = c3 * k.lipschitz_heads * k.shared_offset_gaussian / stacked
    heads = c4 * k.representation_output_norm * k.head_gaussian_ratio / (n_samples * math.sqrt(n_tasks))
    # ln(q/delta) is negative only if q < delta; clip so the term stays a real, non-negative number.
    confidence = math.sqrt(8.0 * max(math.log(log_numerator / delta), 0.0) / stacked)
    parts = [loss_lipschitz * input_maps, loss_lipschitz * shared, loss_lipschitz * offset,
             loss_lipschitz * heads, loss_range * confidence]
    return ApproximationErrorBound(*parts, best_in_class_error=best_in_class_error,
                                   total=sum(parts) + best_in_class_error)


def approximation_error_bound_from_rates(
    n_samples: int, n_tasks: int, delta: float, rates: ComplexityRates, **options: float
) -> ApproximationErrorBound:
    """Theorem 3 evaluated under the paper's rate assumptions (see :class:`ComplexityRates`).

    ``options`` are passed to :func:`approximation_error_bound` (best_in_class_error, constants, ...).
    """
    return approximation_error_bound(n_samples, n_tasks, delta, rates.at(n_samples, n_tasks), **options)


def single_task_approximation_error_bound(
    n_samples: int,
    delta: float,
    complexities: ClassComplexities,
    *,
    best_in_class_error: float = 0.0,
    constants: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    log_numerator: float = 3.0,
) -> float:
    """The single-task chain-rule bound (Maurer's chain rule on f o h o w, one task), as a total.

    c1 L(F) L(H) G(W(X))/n + c2 L(F) ||w(X)|| O(H)/n + c3 L(F) min_p G(H(p))/n
    + c4 ||h(w(X))|| O(F)/n + sqrt(8 ln(q/delta)/n) + eps*. Theorem 3 at T = 1 must equal it.
    """
    n_samples, _ = _check_counts(n_samples, 1)
    delta = _check_delta(delta)
    c1, c2, c3, c4 = _check_constants(constants)
    k = complexities
    complexity_part = (
        c1 * k.lipschitz_heads * k.lipschitz_shared * k.input_map_gaussian
        + c2 * k.lipschitz_heads * k.input_map_output_norm * k.shared_gaussian_ratio
        + c3 * k.lipschitz_heads * k.shared_offset_gaussian
        + c4 * k.representation_output_norm * k.head_gaussian_ratio
    ) / n_samples
    confidence = math.sqrt(8.0 * max(math.log(log_numerator / delta), 0.0) / n_samples)
    return complexity_part + confidence + best_in_class_error


def maurer_bound(
    n_samples: int,
    n_tasks: int,
    delta: float,
    *,
    lipschitz_heads: float,
    representation_gaussian: float,
    representation_output_norm: float,
    head_gaussian_ratio: float,
    best_in_class_error: float = 0.0,
    constants: Sequence[float] = (1.0, 1.0),
    log_numerator: float = 4.0,
) -> float:
    """Maurer, Pontil & Romera-Paredes (2016): multi-task representation learning without input maps.

    c1 L(F) G(H(X)) / (n T) + c2 O(F) sup_h ||h(X)|| / (n sqrt(T)) + sqrt(8 ln(q/delta) / (n T)) + eps*.
    With W the identity, Theorem 3's A vanishes (one input map: G of a single point set is 0) and its
    B + C are the chain-rule bound on G(H(X)) inside the first term here.
    """
    n_samples, n_tasks = _check_counts(n_samples, n_tasks)
    delta = _check_delta(delta)
    c1, c2 = (non_negative("constant", c) for c in constants)
    named_values = {"lipschitz_heads": lipschitz_heads, "representation_gaussian": representation_gaussian,
                    "representation_output_norm": representation_output_norm,
                    "head_gaussian_ratio": head_gaussian_ratio}
    for name, value in named_values.items():
        non_negative(name, value)
    stacked = n_samples * n_tasks
    return (
        c1 * lipschitz_heads * representation_gaussian / stacked
        + c2 * head_gaussian_ratio * representation_output_norm / (n_samples * math.sqrt(n_tasks))
        + math.sqrt(8.0 * math.log(log_numerator / delta) / stacked)
        + non_negative("best_in_class_error", best_in_class_error)
    )


def _check_counts(n_samples: int, n_tasks: int) -> tuple[int, int]:
    return (whole_number("n_samples (n, samples per task)", n_samples, 1),
            whole_number("n_tasks (T)", n_tasks, 1))


def _check_delta(delta: float) -> float:
    delta = float(delta)
    if not 0.0 < delta < 1.0:
        raise ConfigError(f"confidence parameter delta must lie in (0, 1), got {delta}")
    return delta


def _check_constants(constants: Sequence[float]) -> tuple[float, float, float, float]:
    if len(constants) != 4:
        raise ConfigError(f"constants must be four numbers (c1, c2, c3, c4), got {len(constants)}")
    c1, c2, c3, c4 = (non_negative("constant c_i", c) for c in constants)
    return c1, c2, c3, c4
