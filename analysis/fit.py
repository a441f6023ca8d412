"""Error against the number of tasks T: a + b/sqrt(T) and its rivals, with stratified bootstrap CIs.

Models: :data:`MODELS`. Pure functions, no I/O. The input is a *seed table*: one row per run with ``n_tasks``
(T, int >= 1), ``value`` (the run's measured error, float), ``seed`` (run identifier, for counting) and the
grouping columns named in ``by``.

Design notes: docs/analysis.md#the-fit-of-error-against-t.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from mtrl_bench.random_streams import as_generator

ALPHA_BOUNDS = (0.05, 4.0)
"""Range searched for the power model's exponent; below 0.05 T^-alpha is nearly the intercept."""

_ALPHA_GRID = np.geomspace(ALPHA_BOUNDS[0], ALPHA_BOUNDS[1], 161)
_GOLDEN_STEPS = 48


@dataclass(frozen=True)
class Model:
    """One candidate shape ``a + b * g(T)``; ``exponent`` is the fixed alpha of ``g = T^-alpha``."""

    name: str
    formula: str
    n_params: int
    min_distinct_t: int
    exponent: float | None = None
    """Fixed alpha (inv_sqrt 0.5, inv 1); None for constant (no b) and power (alpha fitted)."""

    @property
    def has_b(self) -> bool:
        return self.n_params >= 2

    @property
    def free_alpha(self) -> bool:
        return self.n_params == 3


MODELS: dict[str, Model] = {
    "constant": Model("constant", "a", 1, 1),
    "inv_sqrt": Model("inv_sqrt", "a + b/sqrt(T)", 2, 2, exponent=0.5),
    "inv": Model("inv", "a + b/T", 2, 2, exponent=1.0),
    "power": Model("power", "a + b*T^(-alpha)", 3, 4),
}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


@dataclass(frozen=True)
class FitResult:
    """A weighted least-squares fit of one model to per-T points.

    ``b`` is NaN for the constant model and ``alpha`` NaN unless the model is ``power``. ``chi2`` is
    the weighted residual sum; ``aic``/``aicc``/``bic`` are NaN when the fit was impossible (then
    ``note`` says why) and ``aicc`` is inf when there are too few points for its correction.
    """

    model: str
    a: float
    b: float
    alpha: float
    n_points: int
    chi2: float
    aic: float
    aicc: float
    bic: float
    weighted: bool
    note: str = ""

    @property
    def ok(self) -> bool:
        return math.isfinite(self.a)

    def predict(self, n_tasks: float | np.ndarray) -> np.ndarray:
        """The fitted curve at ``n_tasks``."""
        return predict(self.model, n_tasks, self.a, self.b, self.alpha)


def _model(model: str | Model) -> Model:
    if isinstance(model, Model):
        return model
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: choose one of {', '.join(MODEL_NAMES)}")
    return MODELS[model]


def predict(model: str | Model, n_tasks: float | np.ndarray, a: float, b: float = math.nan,
            alpha: float = math.nan) -> np.ndarray:
    """Evaluate ``model`` at ``n_tasks`` (any shape) with parameters a, b, alpha."""
    spec = _model(model)
    t = np.asarray(n_tasks, dtype=float)
    if not spec.has_b:
        return np.full_like(t, a)
    exponent = alpha if spec.free_alpha else spec.exponent
    return a + b * t ** (-exponent)


# ---------------------------------------------------------------------------------------------
# Per-T seed means and weights


def _check_seed_table(seed_table: pd.DataFrame, by: Sequence[str]) -> None:
    missing = [c for c in ("n_tasks", "value", *by) if c not in seed_table.columns]
    if missing:
        raise ValueError(f"seed table lacks columns {missing}: it needs n_tasks, value (and seed)")
    values = seed_table["value"].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError("seed table has NaN or inf values: drop failed runs before fitting")
    if (seed_table["n_tasks"].to_numpy(dtype=float) < 1).any():
        raise ValueError("n_tasks must be >= 1")


def seed_means(seed_table: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Per-T summary over seeds: columns ``by..., n_tasks, mean, sd, sem, n_seeds``.

    ``sd`` uses ddof=1 and is NaN for a single seed, as is ``sem``.
    """
    by = list(by)
    _check_seed_table(seed_table, by)
    grouped = seed_table.groupby([*by, "n_tasks"], sort=True)["value"]
    out = grouped.agg(mean="mean", sd="std", n_seeds="count").reset_index()
    out["sem"] = out["sd"] / np.sqrt(out["n_seeds"])
    return out[[*by, "n_tasks", "mean", "sd", "sem", "n_seeds"]]


def _weights_from_sem(sem: np.ndarray) -> tuple[np.ndarray | None, list[str]]:
    """Weights 1/SEM^2; T points without a spread borrow the largest SEM of the others."""
    sem = np.asarray(sem, dtype=float)
    usable = np.isfinite(sem) & (sem > 0)
    if not usable.any():
        return None, ["no seed spread at any T: unweighted fit, criteria from residual variance"]
    notes = []
    if not usable.all():
        # The largest observed SEM is the conservative stand-in: it never up-weights an unknown point.
        sem = np.where(usable, sem, sem[usable].max())
        notes.append(f"{int((~usable).sum())} T point(s) without seed spread given the largest SEM")
    return 1.0 / sem**2, notes


# ---------------------------------------------------------------------------------------------
# Weighted least squares, batched over bootstrap replicates


def _wls_line(g: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form weighted fit of ``y = a + b g``; broadcasts over leading axes (last axis = points).

    Returns ``(a, b, chi2)`` with the leading shape of ``broadcast(g, y)``.
    """
    s = w.sum(-1)
    sg = (w * g).sum(-1)
    sgg = (w * g * g).sum(-1)
    sy = (w * y).sum(-1)
    sgy = (w * g * y).sum(-1)
    det = s * sgg - sg**2
    with np.errstate(divide="ignore", invalid="ignore"):
        b = (s * sgy - sg * sy) / det
    a = (sy - b * sg) / s
    resid = y - a[..., None] - b[..., None] * g
    chi2 = (w * resid**2).sum(-1)
    return a, b, chi2


def _power_profile(t: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Fit ``a + b T^-alpha`` to each row of ``y`` (replicates, points) by profiling alpha.

    Grid search over :data:`_ALPHA_GRID`, then golden-section search inside the bracket formed by
    the best grid point's neighbours. Returns ``(a, b, alpha, chi2)``, each of shape (replicates,).
    """
    log_t = np.log(t)
    g_grid = np.exp(-_ALPHA_GRID[:, None] * log_t[None, :])  # (grid, points)
    w_grid = w[:, None, :] if w.ndim == 2 else w
    _, _, chi2_grid = _wls_line(g_grid[None, :, :], y[:, None, :], w_grid)  # (replicates, grid)
    best = np.nanargmin(np.where(np.isfinite(chi2_grid), chi2_grid, np.inf), axis=1)
    low = _ALPHA_GRID[np.maximum(best - 1, 0)]
    high = _ALPHA_GRID[np.minimum(best + 1, _ALPHA_GRID.size - 1)]

    def chi2_at(alpha: np.ndarray) -> np.ndarray:
        return _wls_line(np.exp(-alpha[:, None] * log_t[None, :]), y, w)[2]

    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    c = high - ratio * (high - low)
    d = low + ratio * (high - low)
    fc, fd = chi2_at(c), chi2_at(d)
    for _ in range(_GOLDEN_STEPS):
        left = fc < fd
        high = np.where(left, d, high)
        low = np.where(left, low, c)
        c_new = high - ratio * (high - low)
        d_new = low + ratio * (high - low)
        c, d = c_new, d_new
        fc, fd = chi2_at(c), chi2_at(d)
    alpha = 0.5 * (low + high)
    a, b, chi2 = _wls_line(np.exp(-alpha[:, None] * log_t[None, :]), y, w)
    # Keep the grid optimum when the refinement wandered (non-unimodal profile inside the bracket).
    grid_chi2 = chi2_grid[np.arange(best.size), best]
    worse = ~(chi2 <= grid_chi2)
    if worse.any():
        alpha = np.where(worse, _ALPHA_GRID[best], alpha)
        a, b, chi2 = _wls_line(np.exp(-alpha[:, None] * log_t[None, :]), y, w)
    return a, b, alpha, chi2


def _fit_batch(spec: Model, t: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, np.ndarray]:
    """Fit ``spec`` to every row of ``y`` (replicates, points); returns arrays a, b, alpha, chi2."""
    n_rep = y.shape[0]
    nan = np.full(n_rep, np.nan)
    if not spec.has_b:
        a = (w * y).sum(-1) / w.sum(-1)
        chi2 = (w * (y - a[:, None]) ** 2).sum(-1)
        return {"a": a, "b": nan, "alpha": nan, "chi2": chi2}
    if spec.free_alpha:
        a, b, alpha, chi2 = _power_profile(t, y, w)
        return {"a": a, "b": b, "alpha": alpha, "chi2": chi2}
    a, b, chi2 = _wls_line(t ** (-spec.exponent), y, w)
    return {"a": a, "b": b, "alpha": nan, "chi2": chi2}


def _criteria(chi2: np.ndarray | float, n_points: int, n_params: int, weighted: bool) -> tuple:
    """``(aic, aicc, bic)`` for a fit with ``n_params`` parameters to ``n_points`` points."""
    chi2 = np.asarray(chi2, dtype=float)
    k = n_params
    if weighted:
        fit_term = chi2
    else:
        # Unknown noise variance: profile it out; it counts as one more parameter.
        fit_term = n_points * np.log(np.maximum(chi2, 1e-300) / n_points)
        k = n_params + 1
    aic = fit_term + 2 * k
    correction = 2 * k * (k + 1) / (n_points - k - 1) if n_points - k - 1 > 0 else math.inf
    aicc = aic + correction
    bic = fit_term + k * math.log(n_points)
    return aic, aicc, bic


def fit_model(n_tasks: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray,
              weights: Sequence[float] | np.ndarray | None = None,
              model: str | Model = "inv_sqrt") -> FitResult:
    """Weighted least-squares fit of ``model`` to points ``(n_tasks[i], values[i])``.

    ``values`` are typically per-T seed means and ``weights`` 1/SEM^2 (None: unweighted, and the
    information criteria then use the residual variance). A model that needs more distinct T than
    given returns NaN parameters and a ``note`` instead of raising.
    """
    spec = _model(model)
    t = np.asarray(n_tasks, dtype=float)
    y = np.asarray(values, dtype=float)
    if t.shape != y.shape or t.ndim != 1:
        raise ValueError("n_tasks and values must be 1-D arrays of the same length")
    if not (np.isfinite(t).all() and np.isfinite(y).all()) or (t < 1).any():
        raise ValueError("n_tasks must be finite and >= 1, values finite")
    weighted = weights is not None
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != y.shape or not (np.isfinite(w).all() and (w > 0).all()):
        raise ValueError("weights must be positive, finite and one per point")
    n_distinct = int(np.unique(t).size)
    if n_distinct < spec.min_distinct_t:
        note = f"{spec.name} needs >= {spec.min_distinct_t} distinct T (got {n_distinct})"
        return FitResult(spec.name, *(math.nan,) * 3, n_distinct, *(math.nan,) * 4, weighted, note)
    fit = {k: float(v[0]) for k, v in _fit_batch(spec, t, y[None, :], w).items()}
    notes: list[str] = []
    if spec.free_alpha:
        fit = _polish_power(t, y, w, fit)
        if min(abs(fit["alpha"] - bound) for bound in ALPHA_BOUNDS) < 1e-3:
            notes.append(f"alpha at the search bound {ALPHA_BOUNDS}: not identified")
    if spec.has_b and n_distinct == spec.n_params:
        notes.append("as many parameters as T points: exact fit, no residual")
    aic, aicc, bic = _criteria(fit["chi2"], n_distinct, spec.n_params, weighted)
    if not math.isfinite(aicc):
        notes.append("AICc undefined for so few T points (n <= k+1): never preferred")
    return FitResult(spec.name, fit["a"], fit["b"], fit["alpha"], n_distinct, fit["chi2"], float(aic),
                     float(aicc), float(bic), weighted, "; ".join(notes))


def _polish_power(t: np.ndarray, y: np.ndarray, w: np.ndarray, start: dict[str, float]) -> dict[str, float]:
    """Refine the profiled power fit with scipy's bounded least squares; keep it only if better."""
    sqrt_w = np.sqrt(w)

    def residuals(p: np.ndarray) -> np.ndarray:
        return sqrt_w * (y - p[0] - p[1] * t ** (-p[2]))

    x0 = np.array([start["a"], start["b"], np.clip(start["alpha"], *ALPHA_BOUNDS)])
    try:
        sol = optimize.least_squares(residuals, x0, bounds=([-np.inf, -np.inf, ALPHA_BOUNDS[0]],
                                                            [np.inf, np.inf, ALPHA_BOUNDS[1]]),
                                     x_scale="jac", xtol=1e-12, ftol=1e-12, gtol=1e-12)
    except (ValueError, np.linalg.LinAlgError):
        return start
    chi2 = float(np.sum(residuals(sol.x) ** 2))
    if sol.success and chi2 < start["chi2"]:
        return {"a": float(sol.x[0]), "b": float(sol.x[1]), "alpha": float(sol.x[2]), "chi2": chi2}
    return start


# ---------------------------------------------------------------------------------------------
# Whole seed tables: all models, bootstrap, CI table


def _groups(seed_table: pd.DataFrame, by: Sequence[str]):
    if not by:
        yield (), seed_table
        return
    for key, group in seed_table.groupby(list(by), sort=True):
        yield (key if isinstance(key, tuple) else (key,)), group


def _points(group: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray | None, list[str]]:
    means = seed_means(group)
    weights, notes = _weights_from_sem(means["sem"].to_numpy())
    return means, weights, notes


def _preferred(scores: dict[str, float]) -> str:
    finite = {name: s for name, s in scores.items() if math.isfinite(s)}
    return min(finite, key=finite.get) if finite else ""


def _criterion_used(fits: dict[str, FitResult], criterion: str) -> tuple[str, list[str]]:
    """The criterion that chooses the model: AICc falls back to AIC when it ranks fewer than two fits.

    With n T points AICc is undefined for every model with k >= n-1 parameters; choosing among the
    remaining one would be a choice by default (e.g. three T points leave only the constant).
    """
    fitted = [fit for fit in fits.values() if fit.ok]
    ranked = [fit for fit in fitted if math.isfinite(getattr(fit, criterion))]
    if criterion == "aicc" and len(ranked) < 2 <= len(fitted):
        return "aic", [f"model chosen by AIC: AICc ranks fewer than two models with {fitted[0].n_points} T points"]
    return criterion, []


def _fit_all_models(seed_table: pd.DataFrame, models: Sequence[str], by: Sequence[str],
                    criterion: str) -> tuple[pd.DataFrame, dict[tuple, str]]:
    if criterion not in ("aic", "aicc", "bic"):
        raise ValueError("criterion must be aic, aicc or bic")
    by = list(by)
    _check_seed_table(seed_table, by)
    rows = []
    used_by_group = {}
    for key, group in _groups(seed_table, by):
        means, weights, notes = _points(group)
        fits = {name: fit_model(means["n_tasks"], means["mean"], weights, name) for name in models}
        used, choice_notes = _criterion_used(fits, criterion)
        used_by_group[key] = used
        best = _preferred({name: getattr(fit, used) for name, fit in fits.items()})
        finite_scores = [getattr(fit, criterion) for fit in fits.values()
                         if math.isfinite(getattr(fit, criterion))]
        best_score = min(finite_scores) if finite_scores else math.nan
        for name, fit in fits.items():
            rows.append({
                **dict(zip(by, key, strict=True)), "model": name, "formula": MODELS[name].formula,
                "n_points": fit.n_points, "n_seeds": int(means["n_seeds"].sum()),
                "n_seeds_min": int(means["n_seeds"].min()),
                "a": fit.a, "b": fit.b, "alpha": fit.alpha, "chi2": fit.chi2,
                "aic": fit.aic, "aicc": fit.aicc, "bic": fit.bic,
                f"delta_{criterion}": getattr(fit, criterion) - best_score,
                "preferred": name == best, "weighted": fit.weighted,
                "note": "; ".join([*notes, *choice_notes, *([fit.note] if fit.note else [])]),
            })
    return pd.DataFrame(rows), used_by_group


def fit_all_models(seed_table: pd.DataFrame, models: Sequence[str] = MODEL_NAMES, by: Sequence[str] = (),
                   criterion: str = "aicc") -> pd.DataFrame:
    """Fit every model in ``models`` to each ``by`` group's per-T seed means (no bootstrap).

    One row per group and model: ``by..., model, formula, n_points, n_seeds, a, b, alpha, chi2, aic,
    aicc, bic, delta_<criterion> (from the smallest finite value), preferred (bool), weighted, note``.
    ``preferred`` marks the model with the smallest ``criterion`` (``aic``, ``aicc`` or ``bic``) among
    those with a finite value; when AICc is finite for fewer than two fitted models (too few T
    points), AIC chooses instead and ``note`` says so.
    """
    return _fit_all_models(seed_table, models, by, criterion)[0]


def _resample(group: pd.DataFrame, t_points: np.ndarray, base_weights: np.ndarray | None, n_boot: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stratified bootstrap of the per-T means and weights: two (n_boot, points) arrays.

    Seeds are resampled within each T after inflating their deviations from the T's mean by
    sqrt(n/(n-1)), which removes the bootstrap's variance shrinkage for few seeds. The weights are
    re-estimated from each resample (their own uncertainty then widens the intervals, which keeps
    the coverage near nominal), with the resampled SEM floored at a quarter of the original one so
    that a resample repeating one seed does not get an infinite weight.
    """
    means = np.empty((n_boot, t_points.size))
    weights = np.ones((n_boot, t_points.size))
    base_sem = None if base_weights is None else 1.0 / np.sqrt(base_weights)
    for j, t in enumerate(t_points):
        values = group.loc[group["n_tasks"] == t, "value"].to_numpy(dtype=float)
        n = values.size
        if n > 1:
            values = values.mean() + math.sqrt(n / (n - 1)) * (values - values.mean())
        sample = values[rng.integers(0, n, size=(n_boot, n))]
        means[:, j] = sample.mean(axis=1)
        if base_sem is None:
            continue
        if n > 1:
            sem = sample.std(axis=1, ddof=1) / math.sqrt(n)
            weights[:, j] = 1.0 / np.maximum(sem, 0.25 * base_sem[j]) ** 2
        else:
            weights[:, j] = base_weights[j]
    return means, weights


def bootstrap_fits(seed_table: pd.DataFrame, model: str | Model, n_boot: int = 2000,
                   rng: np.random.Generator | int | None = 0) -> pd.DataFrame:
    """Refit ``model`` on ``n_boot`` stratified resamples (seeds within each T) of one seed table.

    Returns a DataFrame with columns ``replicate, a, b, alpha, chi2`` (NaN columns for parameters
    the model lacks; empty when the model cannot be fitted); see :func:`_resample` for the scheme.
    Deterministic for an integer ``rng``.
    """
    spec = _model(model)
    _check_seed_table(seed_table, ())
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    rng = as_generator(rng)
    means, weights, _ = _points(seed_table)
    t_points = means["n_tasks"].to_numpy(dtype=float)
    if t_points.size < spec.min_distinct_t:
        return pd.DataFrame(columns=["replicate", "a", "b", "alpha", "chi2"])
    y, w = _resample(seed_table, t_points, weights, n_boot, rng)
    fits = _fit_batch(spec, t_points, y, w)
    return pd.DataFrame({"replicate": np.arange(n_boot), **fits})


def curve_band(boot: pd.DataFrame, model: str | Model, n_tasks: Sequence[float] | np.ndarray,
               ci: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise percentile band of the bootstrap curves from :func:`bootstrap_fits` at ``n_tasks``."""
    t = np.asarray(n_tasks, dtype=float)
    if boot.empty:
        return np.full(t.shape, np.nan), np.full(t.shape, np.nan)
    curves = predict(model, t[None, :], boot["a"].to_numpy()[:, None], boot["b"].to_numpy()[:, None],
                     boot["alpha"].to_numpy()[:, None])
    tail = 50.0 * (1.0 - ci)
    low, high = np.nanpercentile(curves, [tail, 100.0 - tail], axis=0)
    return low, high


def fit_table(seed_table: pd.DataFrame, models: Sequence[str] = MODEL_NAMES, by: Sequence[str] = (),
              n_boot: int = 2000, rng: np.random.Generator | int | None = 0, ci: float = 0.95,
              criterion: str = "aicc") -> pd.DataFrame:
    """Point fits, bootstrap CIs and model preference for every ``by`` group and model.

    Columns: those of :func:`fit_all_models` plus ``a_lo, a_hi, b_lo, b_hi, alpha_lo, alpha_hi``
    (percentile CIs at level ``ci``) and ``boot_preferred`` (share of bootstrap resamples in which
    the model has the smallest criterion). The resamples are shared across models of a group.
    CIs are NaN, with a note, when no T has two seeds or the bootstrap is switched off (n_boot=0).
    """
    if not 0.0 < ci < 1.0:
        raise ValueError("ci must lie in (0, 1)")
    by = list(by)
    rng = as_generator(rng)
    points, used_by_group = _fit_all_models(seed_table, models, by, criterion)
    tail = 50.0 * (1.0 - ci)
    extra = []
    for key, group in _groups(seed_table, by):
        means, weights, _ = _points(group)
        t_points = means["n_tasks"].to_numpy(dtype=float)
        can_boot = n_boot > 0 and (means["n_seeds"] >= 2).any()
        y, w = _resample(group, t_points, weights, n_boot, rng) if can_boot else (None, None)
        scores = {}
        intervals = {}
        for name in models:
            spec = MODELS[name]
            row = {**dict(zip(by, key, strict=True)), "model": name}
            for param in ("a", "b", "alpha"):
                row[f"{param}_lo"] = row[f"{param}_hi"] = math.nan
            if y is not None and t_points.size >= spec.min_distinct_t:
                fits = _fit_batch(spec, t_points, y, w)
                for param in ("a", "b", "alpha"):
                    draws = fits[param][np.isfinite(fits[param])]
                    if draws.size:
                        row[f"{param}_lo"], row[f"{param}_hi"] = np.percentile(draws, [tail, 100 - tail])
                crit = _criteria(fits["chi2"], t_points.size, spec.n_params, weights is not None)
                used = used_by_group[key]
                scores[name] = np.asarray(crit[("aic", "aicc", "bic").index(used)], dtype=float)
            intervals[name] = row
        if scores:
            stacked = np.vstack([np.broadcast_to(s, (n_boot,)) for s in scores.values()])
            stacked = np.where(np.isfinite(stacked), stacked, np.inf)
            winners = np.argmin(stacked, axis=0)
            all_inf = ~np.isfinite(stacked).any(axis=0)
            for i, name in enumerate(scores):
                intervals[name]["boot_preferred"] = float(np.mean((winners == i) & ~all_inf))
        for name in models:
            intervals[name].setdefault("boot_preferred", math.nan)
            if not can_boot:
                intervals[name]["ci_note"] = ("bootstrap off" if n_boot <= 0
                                              else "one seed per T: no bootstrap CI")
            extra.append(intervals[name])
    extra_frame = pd.DataFrame(extra)
    table = points.merge(extra_frame, on=[*by, "model"], how="left", validate="one_to_one")
    if "ci_note" in table.columns:
        joined = [
            "; ".join(part for part in (note, ci_note) if isinstance(part, str) and part)
            for note, ci_note in zip(table["note"], table["ci_note"], strict=True)
        ]
        table["note"] = joined
        table = table.drop(columns="ci_note")
    order = [*by, "model", "formula", "n_points", "n_seeds", "n_seeds_min",
             "a", "a_lo", "a_hi", "b", "b_lo", "b_hi", "alpha", "alpha_lo", "alpha_hi",
             "chi2", "aic", "aicc", "bic", f"delta_{criterion}", "preferred", "boot_preferred",
             "weighted", "note"]
    return table[order]

