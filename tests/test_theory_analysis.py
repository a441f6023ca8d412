"""The bound-vs-measurement analysis: FQI bound table and figure, testbed bound terms and figure."""

import math

import pandas as pd
import pytest

from analysis import theory_figures as figures
from analysis import theory_tables as tables
from analysis.theory_figures import plot_fqi_bound, plot_testbed
from analysis.theory_tables import fqi_bound_comparison, fqi_bound_table
from mtrl_bench.experiments.testbed import SyntheticRegressionConfig, run
from mtrl_bench.results import write_results
from mtrl_bench.theory.avi import avi_bound_equal_errors


def _fqi_rows(n_tasks: int, seed: int, squared_error: float, final_distance: float, iterations: int = 5):
    rows = []
    for task in range(n_tasks):
        for step in range(1, iterations + 1):
            for metric, value in (("approx_error", squared_error), ("avi_diff", final_distance + 0.1 * task)):
                rows.append({"experiment": "fqi", "algorithm": "mfqi", "variants": "x", "n_tasks": n_tasks,
                             "task": str(task), "width": 30, "seed": seed, "step": step, "metric": metric,
                             "value": value})
    return rows


def test_fqi_bound_uses_task_averaged_errors_and_last_iteration_distance():
    frame = pd.DataFrame(_fqi_rows(1, 0, 0.01, 0.2) + _fqi_rows(2, 0, 0.04, 0.3))
    comparison = fqi_bound_comparison(frame, concentrability=2.0).set_index("n_tasks")
    assert math.isclose(comparison.loc[1, "bound"], avi_bound_equal_errors(0.01, 0.95, 5, 1.0, 2.0), rel_tol=1e-8)
    assert math.isclose(comparison.loc[2, "measured_avi_diff"], 0.35)  # mean of tasks 0.3 and 0.4
    assert comparison["below_bound"].all()


def test_fqi_bound_table_flags_a_measurement_above_the_bound():
    comparison = pd.DataFrame({"n_tasks": [1, 1, 2], "width": 30, "seed": [0, 1, 0],
                               "measured_avi_diff": [0.1, 5.0, 0.1], "bound": [1.0, 1.0, 1.0],
                               "propagated_error_term": 0.5, "tail_term": 0.5, "below_bound": [True, False, True]})
    table = fqi_bound_table(comparison).set_index("n_tasks")
    assert not table.loc[1, "below_bound"] and table.loc[1, "fraction_below"] == 0.5
    assert table.loc[2, "below_bound"]


def test_fqi_bound_without_fqi_rows_is_a_clear_error():
    with pytest.raises(ValueError, match="approx_error"):
        fqi_bound_comparison(pd.DataFrame(columns=["experiment", "metric", "value"]))


def test_analysis_figures_and_bound_terms_from_a_small_testbed(tmp_path):
    config = SyntheticRegressionConfig(task_counts=(1, 2, 4), widths=(3,), n_samples=10, n_test=20, epochs=20,
                                       log_every=10, complexity_draws=10)
    frame = pd.DataFrame(run(config, [0, 1], "cpu").rows)
    terms = tables.testbed_bound_terms(frame, n_samples=10).set_index("n_tasks")
    assert (terms["confidence"].diff().dropna() < 0).all()  # E shrinks like 1/sqrt(nT)
    assert (terms["total"] >= terms["input_maps"]).all()
    seed_table = tables.testbed_seed_table(frame)
    assert len(seed_table) == 3 * 2
    written = plot_testbed(seed_table, terms.reset_index(), tmp_path, n_boot=20)
    comparison = fqi_bound_comparison(pd.DataFrame(_fqi_rows(1, 0, 0.01, 0.2) + _fqi_rows(2, 0, 0.04, 0.3)))
    written += plot_fqi_bound(comparison, tmp_path)
    assert sorted(path.suffix for path in written) == [".pdf", ".pdf", ".png", ".png"]
    assert all(path.stat().st_size > 0 for path in written)


def _testbed_rows(seeds=range(4)):
    """Synthetic testbed rows: excess risk 0.1 + 0.2/sqrt(T) plus seed noise, two tasks per run."""
    rows = []
    for n_tasks in (1, 2, 4, 8):
        for seed in seeds:
            for task in ("0", "1"):
                value = 0.1 + 0.2 / math.sqrt(n_tasks) + 0.01 * ((seed * 7 + n_tasks) % 5 - 2)
                rows.append({"experiment": "testbed", "algorithm": "erm-task-input-maps", "variants": "synthetic",
                             "n_tasks": n_tasks, "task": task, "width": 3, "seed": seed, "step": 10,
                             "metric": "excess_risk", "value": value})
    return rows


def test_theory_command_lines_share_the_analysis_shape_and_honour_seed_and_ci(tmp_path):
    fqi = write_results(tmp_path / "fqi.csv", pd.DataFrame(
        [r for s in range(4) for r in _fqi_rows(1, s, 0.01, 0.2 + 0.01 * s) + _fqi_rows(2, s, 0.04, 0.3 - 0.01 * s)]),
        {"git_commit": "test"})
    testbed = write_results(tmp_path / "testbed.csv", pd.DataFrame(_testbed_rows()), {"git_commit": "test"})
    tables_of = {}
    for name, ci, seed in (("wide", "0.95", "1"), ("again", "0.95", "1"), ("narrow", "0.5", "1")):
        out = tmp_path / name
        assert tables.main(["fqi-bound", "--runs", str(fqi), "--outdir", str(out), "--n-boot", "200",
                            "--seed", seed, "--ci", ci]) == 0
        assert tables.main(["testbed-fit", "--runs", str(testbed), "--outdir", str(out), "--n-boot", "200",
                            "--seed", seed, "--ci", ci]) == 0
        assert all((out / f"{stem}.{ext}").stat().st_size > 0 for stem in ("fqi_bound", "testbed_fit")
                   for ext in ("csv", "md", "tex"))
        tables_of[name] = {stem: pd.read_csv(out / f"{stem}.csv") for stem in ("fqi_bound", "testbed_fit")}
    for stem in ("fqi_bound", "testbed_fit"):
        pd.testing.assert_frame_equal(tables_of["wide"][stem], tables_of["again"][stem])
    wide, narrow = tables_of["wide"]["fqi_bound"], tables_of["narrow"]["fqi_bound"]
    assert ((wide["measured_error_hi"] - wide["measured_error_lo"])
            > (narrow["measured_error_hi"] - narrow["measured_error_lo"])).all()
    fit_wide, fit_narrow = (t["testbed_fit"].set_index("model") for t in (tables_of["wide"], tables_of["narrow"]))
    assert fit_wide.loc["inv_sqrt", "a_hi"] - fit_wide.loc["inv_sqrt", "a_lo"] > (
        fit_narrow.loc["inv_sqrt", "a_hi"] - fit_narrow.loc["inv_sqrt", "a_lo"])
    figures_out = tmp_path / "figures"
    assert figures.main(["fqi-bound", "--runs", str(fqi), "--outdir", str(figures_out), "--n-boot", "50"]) == 0
    assert figures.main(["testbed", "--runs", str(testbed), "--outdir", str(figures_out), "--n-boot", "50",
                         "--n-samples", "10", "--ci", "0.9"]) == 0
    assert (figures_out / "fqi_avi_bound_vs_T.png").stat().st_size > 1000
    assert (figures_out / "testbed_excess_risk_vs_T.png").stat().st_size > 1000
    with pytest.raises(SystemExit):
        tables.main(["fqi-bound", "--runs", str(fqi), "--outdir", str(tmp_path), "--ci", "95"])
