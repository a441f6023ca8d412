"""Properties of analysis.fit: parameter recovery, model choice, degenerate inputs, determinism."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import fit

WIDE_T = np.array([1, 2, 3, 4, 6, 8, 12, 16, 24, 32])
# Recovery is statistical: a 95% interval misses now and then (about 1 example in 400 fails the
# doubled-interval check below). derandomize fixes the examples, so the suite is not flaky.
RECOVERY = settings(max_examples=20, deadline=None, derandomize=True)


def seed_table(n_tasks, curve, n_seeds: int, noise: float, rng: np.random.Generator,
               centred: bool = False) -> pd.DataFrame:
    """Synthetic runs: ``curve(T) + N(0, noise^2)``; ``centred`` makes each T's noise mean exactly 0."""
    rows = []
    for t in n_tasks:
        eps = rng.normal(0.0, noise, size=n_seeds)
        if centred:
            eps -= eps.mean()
        rows += [{"n_tasks": int(t), "seed": s, "value": float(curve(t) + e)} for s, e in enumerate(eps)]
    return pd.DataFrame(rows)


def widened_contains(row: pd.Series, param: str, truth: float) -> bool:
    """The truth lies inside the CI doubled about its centre (a ~4-sigma band for a 95% CI)."""
    low, high = row[f"{param}_lo"], row[f"{param}_hi"]
    half = high - low
    return low - half / 2 <= truth <= high + half / 2


@RECOVERY
@given(a=st.floats(0.05, 1.0), b=st.floats(0.05, 1.0), noise=st.floats(0.002, 0.03),
       seed=st.integers(0, 2**31))
def test_fit_recovers_inv_sqrt_parameters(a, b, noise, seed):
    rng = np.random.default_rng(seed)
    data = seed_table([1, 2, 4, 8, 16], lambda t: a + b / math.sqrt(t), 20, noise, rng)
    row = fit.fit_table(data, models=["inv_sqrt"], n_boot=300, rng=seed).iloc[0]
    assert widened_contains(row, "a", a) and widened_contains(row, "b", b)
    # Informative as well as correct: the intervals are a few noise levels wide, no more.
    assert row["a_hi"] - row["a_lo"] < 6 * noise
    assert row["a_lo"] <= row["a"] <= row["a_hi"] and row["b_lo"] <= row["b"] <= row["b_hi"]


@RECOVERY
@given(a=st.floats(0.0, 0.5), b=st.floats(0.3, 1.0), alpha=st.floats(0.3, 1.5), seed=st.integers(0, 2**31))
def test_fit_recovers_power_exponent(a, b, alpha, seed):
    rng = np.random.default_rng(seed)
    noise = 0.01
    data = seed_table(WIDE_T, lambda t: a + b * t ** (-alpha), 10, noise, rng)
    row = fit.fit_table(data, models=["power"], n_boot=300, rng=seed).iloc[0]
    for param, truth in (("a", a), ("b", b), ("alpha", alpha)):
        close = abs(row[param] - truth) < 0.02
        assert widened_contains(row, param, truth) or close, (param, row[param], truth)


@pytest.mark.parametrize("model", fit.MODEL_NAMES)
def test_exact_data_gives_exact_parameters(model):
    truth = {"a": 0.2, "b": 0.35, "alpha": 0.8}
    t = WIDE_T.astype(float)
    y = fit.predict(model, t, **truth)
    result = fit.fit_model(t, y, None, model)
    assert result.a == pytest.approx(0.2, abs=1e-6)
    if fit.MODELS[model].has_b:
        assert result.b == pytest.approx(0.35, abs=1e-6)
    if model == "power":
        assert result.alpha == pytest.approx(0.8, abs=1e-5)
    np.testing.assert_allclose(result.predict(t), y, atol=1e-7)


# Exponents of a true power law that no fixed-exponent rival can imitate.
DISTINCT_ALPHA = st.one_of(st.floats(0.15, 0.3), st.floats(1.6, 2.5))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(true_model=st.sampled_from(fit.MODEL_NAMES), a=st.floats(0.05, 0.5), b=st.floats(0.3, 1.0),
       alpha=DISTINCT_ALPHA, seed=st.integers(0, 2**31))
def test_information_criterion_prefers_true_model_on_clean_data(true_model, a, b, alpha, seed):
    # Clean: the per-T means lie exactly on the true curve while the seeds still have a spread, so
    # the true model's chi2 is ~0 and the simplest model that contains the truth wins on its penalty.
    rng = np.random.default_rng(seed)
    t = [1, 2, 3, 4, 6, 8, 12, 16]
    data = seed_table(t, lambda x: fit.predict(true_model, x, a, b, alpha), 10, 0.01, rng, centred=True)
    table = fit.fit_all_models(data)
    preferred = table.loc[table["preferred"], "model"].tolist()
    assert preferred == [true_model], table[["model", "chi2", "aicc"]].to_string()


def test_power_needs_four_distinct_tasks_counts():
    data = seed_table([1, 2, 4], lambda t: 0.1 + 0.2 / t, 5, 0.01, np.random.default_rng(0))
    table = fit.fit_table(data, n_boot=50, rng=0).set_index("model")
    assert math.isnan(table.loc["power", "a"]) and "needs >= 4 distinct T" in table.loc["power", "note"]
    assert not table.loc["power", "preferred"]
    # AICc is undefined for two parameters at three T points; AIC chooses, and says so.
    assert table["preferred"].sum() == 1 and table["note"].str.contains("chosen by AIC").all()
    assert np.isfinite(table.loc["inv", ["a", "b", "a_lo", "b_hi"]].to_numpy(float)).all()


def test_single_task_count_fits_only_the_constant():
    data = seed_table([4], lambda t: 0.3, 6, 0.01, np.random.default_rng(1))
    table = fit.fit_table(data, n_boot=50, rng=0).set_index("model")
    assert table.loc["constant", "a"] == pytest.approx(data["value"].mean())
    assert table.loc["constant", "a_lo"] < table.loc["constant", "a_hi"]
    assert table.loc[["inv_sqrt", "inv", "power"], "a"].isna().all()


def test_one_seed_per_task_count_is_unweighted_without_ci():
    data = seed_table([1, 2, 4, 8], lambda t: 0.1 + 0.2 / math.sqrt(t), 1, 0.01, np.random.default_rng(2))
    table = fit.fit_table(data, n_boot=50, rng=0).set_index("model")
    assert not table["weighted"].any()
    assert table[["a_lo", "a_hi", "b_lo", "b_hi"]].isna().all().all()
    assert "no bootstrap CI" in table.loc["inv_sqrt", "note"]
    assert np.isfinite(table.loc["inv_sqrt", ["a", "b"]].to_numpy(float)).all()


def test_task_count_without_spread_borrows_largest_sem():
    data = seed_table([1, 2, 4, 8], lambda t: 0.1 + 0.2 / t, 4, 0.01, np.random.default_rng(3))
    data = data.loc[~((data["n_tasks"] == 8) & (data["seed"] > 0))]
    row = fit.fit_all_models(data, models=["inv"]).iloc[0]
    assert row["weighted"] and "without seed spread" in row["note"]


def test_fit_table_is_deterministic_for_a_seed_and_grouped():
    rng = np.random.default_rng(4)
    parts = [seed_table([1, 2, 4, 8], lambda t, w=w: 0.01 * w + 0.2 / math.sqrt(t), 6, 0.01, rng)
             .assign(width=w) for w in (10, 30)]
    data = pd.concat(parts, ignore_index=True)
    first = fit.fit_table(data, by=["width"], n_boot=100, rng=7)
    second = fit.fit_table(data, by=["width"], n_boot=100, rng=7)
    pd.testing.assert_frame_equal(first, second)
    assert sorted(first["width"].unique()) == [10, 30]
    assert first.groupby("width")["preferred"].sum().tolist() == [1, 1]
    assert first["boot_preferred"].between(0, 1).all()


def test_bootstrap_band_covers_the_fitted_curve():
    data = seed_table([1, 2, 4, 8], lambda t: 0.1 + 0.2 / math.sqrt(t), 8, 0.01, np.random.default_rng(5))
    boot = fit.bootstrap_fits(data, "inv_sqrt", n_boot=200, rng=0)
    assert len(boot) == 200 and boot[["a", "b"]].notna().all().all()
    grid = np.geomspace(1, 8, 20)
    low, high = fit.curve_band(boot, "inv_sqrt", grid)
    point = fit.fit_all_models(data, models=["inv_sqrt"]).iloc[0]
    curve = fit.predict("inv_sqrt", grid, point["a"], point["b"])
    assert (low <= curve + 1e-12).all() and (curve <= high + 1e-12).all()


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError):
        fit.fit_model([1, 2], [0.1], None, "inv")
    with pytest.raises(ValueError):
        fit.fit_model([1, 2], [0.1, 0.2], None, "quadratic")
    with pytest.raises(ValueError):
        fit.fit_all_models(pd.DataFrame({"n_tasks": [1, 2], "seed": [0, 0], "value": [0.1, np.nan]}))
    with pytest.raises(ValueError):
        fit.fit_all_models(pd.DataFrame({"T": [1, 2], "value": [0.1, 0.2]}))
