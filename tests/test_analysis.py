"""analysis.aggregate, analysis.fqi_figures and analysis.fqi_tables on a small synthetic tidy table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from rliable import metrics as rly_metrics
from scipy import stats

from analysis import aggregate, cli, reference, vs_published
from analysis import fqi_figures as figures
from analysis import fqi_tables as tables
from mtrl_bench.errors import ConfigError
from mtrl_bench.results import write_results

TASK_ORDER = ["0", "4", "8", "13"]


def synthetic_rows(n_tasks_list=(1, 2, 4), widths=(10, 30), n_seeds=4, n_steps=5, seed=0,
                   metrics=("avi_diff", "approx_error", "J")) -> pd.DataFrame:
    """Tidy FQI-like rows: per-task values decreasing with the iteration and with T."""
    rng = np.random.default_rng(seed)
    rows = []
    for width in widths:
        for n_tasks in n_tasks_list:
            tasks = TASK_ORDER[:n_tasks]
            for s in range(n_seeds):
                for step in range(1, n_steps + 1):
                    for task in tasks:
                        base = {"experiment": "fqi", "algorithm": "fqi", "variants": "-".join(tasks),
                                "n_tasks": n_tasks, "task": task, "width": width, "seed": s, "step": step}
                        level = 0.15 + 0.05 / math.sqrt(n_tasks) + 0.3 * math.exp(-step)
                        values = {"avi_diff": level + rng.normal(0, 0.01),
                                  "approx_error": 0.1 * level + abs(rng.normal(0, 0.001)),
                                  "J": 0.3 - level + rng.normal(0, 0.01)}
                        rows += [{**base, "metric": m, "value": values[m]} for m in metrics]
    return pd.DataFrame(rows)


def diverged_run(n_tasks=2, width=10, seed=99) -> pd.DataFrame:
    """A run that recorded two iterations and then diverged."""
    base = {"experiment": "fqi", "algorithm": "fqi", "variants": "0-4", "n_tasks": n_tasks, "task": "all",
            "width": width, "seed": seed}
    return pd.DataFrame([{**base, "step": 1, "metric": "avi_diff", "value": 5.0},
                         {**base, "step": 2, "metric": "avi_diff", "value": 50.0},
                         {**base, "step": 2, "metric": "diverged", "value": 1.0}])


@pytest.fixture
def all_runs(tmp_path) -> pd.DataFrame:
    """Two results files (one with a diverged run) loaded through analysis.aggregate."""
    rows = synthetic_rows()
    first = write_results(tmp_path / "runs" / "a.csv", rows.loc[rows["width"] == 10],
                          {"git_commit": "abc", "config": {}})
    failing = pd.concat([rows.loc[rows["width"] == 30], diverged_run()], ignore_index=True)
    second = write_results(tmp_path / "runs" / "b.csv", failing, {"git_commit": "def", "config": {}})
    return aggregate.load_runs([first, second])


# --- aggregation ------------------------------------------------------------------------------


def test_iqm_matches_hand_computed_value():
    # Sorted: 1 2 3 4 5 6 10 100; a quarter (2 values) cut from each end leaves 3 4 5 6.
    assert aggregate.iqm([10, 1, 2, 3, 100, 4, 5, 6]) == pytest.approx(4.5)
    values = np.arange(12.0) ** 2  # cut 3 each side: 9, 16, ..., 64
    assert aggregate.iqm(values) == pytest.approx(np.mean(values[3:9]))
    assert aggregate.iqm(values) == pytest.approx(rly_metrics.aggregate_iqm(values))


def test_stratified_bootstrap_interval_brackets_the_iqm_and_is_reproducible():
    scores = np.random.default_rng(0).normal(1.0, 0.2, size=(20, 3))
    point, low, high = aggregate.stratified_bootstrap_ci(scores, n_boot=300, rng=1)
    assert point == pytest.approx(rly_metrics.aggregate_iqm(scores))
    assert low < point < high
    assert aggregate.stratified_bootstrap_ci(scores, n_boot=300, rng=1) == (point, low, high)


def test_stratified_bootstrap_resamples_within_each_stratum():
    # Each column is constant, so any resampling within columns reproduces the IQM exactly.
    scores = np.tile(np.array([1.0, 2.0, 7.0, 9.0]), (5, 1))
    point, low, high = aggregate.stratified_bootstrap_ci(scores, n_boot=100, rng=0)
    assert low == pytest.approx(point) and high == pytest.approx(point)


def test_single_run_has_no_interval():
    point, low, high = aggregate.stratified_bootstrap_ci([0.3], n_boot=100, rng=0)
    assert point == 0.3 and math.isnan(low) and math.isnan(high)


def test_load_runs_flags_failed_runs_and_adds_provenance(all_runs):
    assert set(all_runs["git_commit"]) == {"abc", "def"}
    ok, failed = aggregate.split_failed(all_runs)
    assert len(failed) == 1 and failed.iloc[0]["seed"] == 99
    assert (ok["seed"] != 99).all() and (ok["metric"] != aggregate.FAILURE_METRIC).all()


def test_all_runs_round_trip(tmp_path, all_runs):
    path = aggregate.write_all_runs(all_runs, tmp_path / "tables" / "all_runs.csv")
    back = aggregate.read_all_runs(path)
    assert len(back) == len(all_runs) and back["failed"].sum() == all_runs["failed"].sum()
    assert not list(path.parent.glob(".*.tmp"))


def test_run_values_average_tasks_and_prefer_an_explicit_aggregate_row():
    rows = synthetic_rows(n_tasks_list=(2,), widths=(30,), n_seeds=1, n_steps=1, metrics=("avi_diff",))
    expected = rows["value"].mean()
    assert aggregate.run_values(rows, "avi_diff")["value"].iloc[0] == pytest.approx(expected)
    explicit = rows.iloc[:1].assign(task="all", value=0.123)
    with_all = pd.concat([rows, explicit], ignore_index=True)
    assert aggregate.run_values(with_all, "avi_diff")["value"].iloc[0] == pytest.approx(0.123)


def test_final_values_take_each_runs_last_step(all_runs):
    ok, _ = aggregate.split_failed(all_runs)
    finals = aggregate.final_values(ok, "avi_diff")
    assert (finals["step"] == 5).all()
    assert len(finals) == 2 * 3 * 4  # widths x T x seeds


def test_aggregate_seeds_summarises_each_group(all_runs):
    ok, _ = aggregate.split_failed(all_runs)
    finals = aggregate.final_values(ok, "avi_diff")
    summary = aggregate.aggregate_seeds(finals, ["width", "n_tasks"], n_boot=100, rng=0)
    assert len(summary) == 6 and (summary["n_seeds"] == 4).all()
    first = finals.loc[(finals["width"] == 10) & (finals["n_tasks"] == 1), "value"]
    assert summary.iloc[0]["iqm"] == pytest.approx(aggregate.iqm(first))
    assert (summary["iqm_lo"] <= summary["iqm_hi"]).all()


# --- figures ----------------------------------------------------------------------------------


def test_figures_write_nonempty_pdf_and_png(tmp_path, all_runs):
    paths = figures.make_all(all_runs, tmp_path / "figures", n_boot=50, seed=0)
    names = sorted(p.name for p in paths)
    assert names == sorted(f"fqi_{stem}.{ext}" for stem in
                           ("avi_diff_per_iteration", "final_error_vs_T", "J_per_iteration")
                           for ext in ("pdf", "png"))
    assert all(p.stat().st_size > 1000 for p in paths)
    assert not list((tmp_path / "figures").glob(".*.tmp"))


def test_figures_degrade_with_one_task_count_and_one_seed(tmp_path):
    rows = synthetic_rows(n_tasks_list=(4,), widths=(30,), n_seeds=1, n_steps=3)
    paths = figures.make_all(rows.assign(failed=False), tmp_path, n_boot=20, seed=0)
    assert len(paths) == 6 and all(p.stat().st_size > 0 for p in paths)


def test_missing_metric_gives_a_placeholder_figure(tmp_path):
    rows = synthetic_rows(n_steps=2, metrics=("avi_diff",))
    paths = figures.plot_per_iteration(rows, tmp_path, metric="J", n_boot=10)
    assert [p.suffix for p in paths] == [".pdf", ".png"] and all(p.stat().st_size > 0 for p in paths)


def test_pdf_is_reproducible_for_a_seed(tmp_path, all_runs):
    first = figures.plot_final_vs_tasks(all_runs, tmp_path / "one", n_boot=30, rng=3)[0].read_bytes()
    second = figures.plot_final_vs_tasks(all_runs, tmp_path / "two", n_boot=30, rng=3)[0].read_bytes()
    assert first == second


# --- tables -----------------------------------------------------------------------------------


def test_tables_write_csv_markdown_and_latex(tmp_path, all_runs):
    paths = tables.make_all(all_runs, tmp_path / "tables", n_boot=50, seed=0)
    stems = ("fit", "final_error", "fqi_vs_published")
    assert sorted(p.name for p in paths) == sorted(f"{stem}.{ext}" for stem in stems for ext in ("csv", "md", "tex"))
    assert all(p.stat().st_size > 100 for p in paths if "published" not in p.name)
    assert "\\begin{tabular}" in (tmp_path / "tables" / "fit.tex").read_text()
    fit_table = pd.read_csv(tmp_path / "tables" / "fit.csv")
    assert len(fit_table) == 2 * 2 * 4  # metrics x widths x models
    assert fit_table.groupby(["metric", "width"])["preferred"].sum().eq(1).all()
    power = fit_table.loc[fit_table["model"] == "power"]
    assert power["a"].isna().all() and power["note"].str.contains("distinct T").all()  # only 3 T values
    finals = pd.read_csv(tmp_path / "tables" / "final_error.csv")
    assert len(finals) == 2 * 2 * 3 and (finals["n_seeds"] == 4).all()
    failed = finals.loc[(finals["width"] == 10) & (finals["n_tasks"] == 2), "n_failed"]
    assert failed.eq(1).all() and finals["n_failed"].sum() == 2  # one failed run, two metrics


def test_tables_are_deterministic_for_a_seed(tmp_path, all_runs):
    tables.make_all(all_runs, tmp_path / "one", n_boot=40, seed=5)
    tables.make_all(all_runs, tmp_path / "two", n_boot=40, seed=5)
    for name in ("fit.csv", "final_error.md", "fit.tex"):
        assert (tmp_path / "one" / name).read_text() == (tmp_path / "two" / name).read_text()


def test_command_lines_chain(tmp_path, capsys):
    rows = synthetic_rows(n_tasks_list=(1, 2), widths=(30,), n_seeds=3, n_steps=2)
    run_file = write_results(tmp_path / "runs" / "r.csv", rows, {"git_commit": "abc", "config": {}})
    all_runs_path = tmp_path / "tables" / "all_runs.csv"
    assert aggregate.main(["--runs", str(run_file), "--out", str(all_runs_path)]) == 0
    runs = ["--runs", str(all_runs_path), "--n-boot", "20"]
    assert tables.main([*runs, "--outdir", str(tmp_path / "tables")]) == 0
    assert figures.main([*runs, "--outdir", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "tables" / "fit.md").stat().st_size > 0
    assert (tmp_path / "fig" / "fqi_final_error_vs_T.png").stat().st_size > 0


def test_bootstrap_agrees_with_rliable_library_when_it_imports():
    # rliable.library needs `arch`, which fails to import next to pandas 3 (TypeError, not
    # ImportError); where it works, our interval should match rliable's up to Monte Carlo error.
    try:
        from rliable import library
    except Exception as err:  # any import failure means "not available here"
        pytest.skip(f"rliable.library does not import here: {err!r}")
    scores = np.random.default_rng(0).normal(1.0, 0.2, size=(30, 2))
    np.random.seed(0)
    points, intervals = library.get_interval_estimates(
        {"x": scores}, lambda x: np.array([rly_metrics.aggregate_iqm(x)]), reps=4000)
    point, low, high = aggregate.stratified_bootstrap_ci(scores, n_boot=4000, rng=0)
    assert point == pytest.approx(points["x"][0])
    assert low == pytest.approx(intervals["x"][0, 0], abs=0.02)
    assert high == pytest.approx(intervals["x"][1, 0], abs=0.02)


# --- the authors' published results -------------------------------------------------------------

FQI_T2 = "1.000_4.000+0.800_4.000"


def test_reference_loader_reads_every_file_under_our_names():
    for experiment, (first, last) in {"fqi": (1, 50), "dqn": (0, 50), "ddpg": (0, 100)}.items():
        table = reference.load(experiment)
        assert list(table.columns) == reference.COLUMNS and len(table) > 0
        assert table["n_runs"].min() >= 2 and (table["std"] >= 0).all() and table["mean"].notna().all()
        main = table.loc[table["experiment"] == experiment]
        assert (main["step"].min(), main["step"].max()) == (first, last)
    fqi = reference.load("fqi")
    # Task sets are our variants strings: "%.3f_%.3f" % (m, a) joined by "+" in the paper's nested order.
    assert set(fqi.loc[fqi["n_tasks"] > 1, "variants"]) >= {FQI_T2}
    assert (fqi["variants"].str.count(r"\+") + 1 == fqi["n_tasks"]).all()
    assert fqi["variants"].str.fullmatch(r"\d\.\d{3}_\d\.\d{3}(\+\d\.\d{3}_\d\.\d{3})*").all()
    # The paper's table: avi_diff 0.518 after iteration 1 at T = 1, 0.167 after iteration 50 at T = 8.
    t1 = reference.curve(fqi, "avi_diff", variants="1.000_4.000", n_tasks=1)
    t8 = reference.curve(fqi, "avi_diff", n_tasks=8)
    assert t1["mean"].iloc[0] == pytest.approx(0.518, abs=1e-3)
    assert t8["mean"].iloc[-1] == pytest.approx(0.167, abs=1e-3)
    dqn = reference.load("dqn")
    trained = dqn.loc[dqn["experiment"] == "dqn"]
    assert set(trained["task"]) == {"cartpole", "acrobot", "mountaincar", "car_on_hill", "inverted_pendulum"}
    assert set(trained.loc[trained["algorithm"] == "mdqn", "n_tasks"]) == {5}
    last10 = reference.curve(dqn, "return_discounted", algorithm="mdqn", task="cartpole")
    assert vs_published.window_summary(last10.loc[last10["step"] > 40])[0] == pytest.approx(82.6, abs=0.1)
    assert reference.curve(dqn, "return_discounted", algorithm="dqn", task="nowhere").empty


def test_reference_task_names_map_through_the_table(monkeypatch):
    ddpg = reference.load("ddpg")
    assert {"bullet_inverted_pendulum", "hopper_stand", "cheetah_run"} <= set(ddpg["task"])
    walker = ddpg.loc[(ddpg["algorithm"] == "mddpg") & (ddpg["group"] == "walker"), "variants"]
    assert set(walker) == {"hopper_stand+walker_walk+cheetah_run"}
    monkeypatch.setitem(reference.TASK_NAMES, "ddpg", {"InvertedPendulumBulletEnv-v0": "bullet_pendulum"})
    reference._load.cache_clear()
    try:
        ddpg = reference.load("ddpg")
    finally:
        reference._load.cache_clear()
    assert "bullet_pendulum" in set(ddpg["task"]) and "InvertedPendulumBulletEnv-v0" not in set(ddpg["task"])
    multi = ddpg.loc[(ddpg["algorithm"] == "mddpg") & (ddpg["group"] == "pendulum")]
    assert set(multi["n_tasks"]) == {3} and multi["variants"].str.startswith("bullet_pendulum+").all()
    with pytest.raises(ConfigError, match="choose one of"):
        reference.load("sac")


def test_welch_from_summaries_agrees_with_scipy_on_raw_samples():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.0, 1.0, 12), rng.normal(0.4, 2.5, 40)
    test = vs_published.welch_from_stats(a.mean(), a.std(ddof=1), a.size, b.mean(), b.std(ddof=1), b.size, ci=0.9)
    scipy_test = stats.ttest_ind(a, b, equal_var=False)
    interval = scipy_test.confidence_interval(0.9)
    assert test.t == pytest.approx(scipy_test.statistic) and test.p_value == pytest.approx(scipy_test.pvalue)
    assert test.df == pytest.approx(scipy_test.df)
    assert (test.low, test.high) == (pytest.approx(interval.low), pytest.approx(interval.high))
    assert test.diff == pytest.approx(a.mean() - b.mean())
    assert vs_published.welch_vs_published(a, b.mean(), b.std(ddof=1), b.size, ci=0.9) == test


def test_welch_detects_a_shifted_mean_and_not_an_equal_one():
    rng = np.random.default_rng(2)
    published = (0.518, 0.013, 100)
    same = vs_published.welch_vs_published(rng.normal(0.518, 0.013, 20), *published)
    shifted = vs_published.welch_vs_published(rng.normal(0.535, 0.013, 20), *published)
    assert same.p_value > 0.05 and same.low < 0 < same.high
    assert shifted.p_value < 1e-4 and shifted.low > 0
    one_run = vs_published.welch_vs_published([0.5], *published)
    assert one_run.diff == pytest.approx(-0.018) and math.isnan(one_run.p_value)


def test_t_interval_of_published_summaries():
    low, high = vs_published.t_interval(1.0, 2.0, 5, ci=0.95)
    half = stats.t.ppf(0.975, 4) * 2.0 / math.sqrt(5)
    assert (low, high) == (pytest.approx(1.0 - half), pytest.approx(1.0 + half))
    assert all(math.isnan(x) for x in vs_published.t_interval(1.0, 2.0, 1))


def paper_task_set_rows(n_steps: int, n_seeds: int = 3, level: float = 0.52) -> pd.DataFrame:
    """FQI rows for T = 1 (variant 0) and T = 2 of the paper's nested sets, width 30, plus an unpublished T = 4."""
    rows = []
    for variants in ("1.000_4.000", FQI_T2, FQI_T2 + "+1.050_4.500+1.100_4.500"):
        tasks = variants.split("+")
        for seed in range(n_seeds):
            for step in range(1, n_steps + 1):
                for task in tasks:
                    rows.append({"experiment": "fqi", "algorithm": "mfqi" if len(tasks) > 1 else "fqi",
                                 "variants": variants, "n_tasks": len(tasks), "task": task, "width": 30,
                                 "seed": seed, "step": step, "metric": "avi_diff",
                                 "value": level * 0.9 ** (step - 1) + 0.001 * seed})
    return pd.DataFrame(rows).assign(failed=False)


def test_fqi_figure_draws_the_published_curve_beside_matching_task_sets_only(tmp_path, monkeypatch):
    drawn = []
    original = figures.draw_published

    def spy(ax, steps, mean, low, high, **kwargs):
        drawn.append(np.asarray(steps))
        return original(ax, steps, mean, low, high, **kwargs)

    monkeypatch.setattr(figures, "draw_published", spy)
    rows = paper_task_set_rows(n_steps=6)
    paths = figures.plot_per_iteration(rows, tmp_path / "with", n_boot=20, published=reference.load("fqi"))
    assert len(drawn) == 2  # T = 1 and T = 2; the unpublished task set gets none
    assert all(steps.max() == 6 and steps.min() == 1 for steps in drawn)  # only the iterations we reached
    assert all(p.stat().st_size > 1000 for p in paths)
    drawn.clear()
    unmatched = synthetic_rows(n_steps=3, metrics=("avi_diff",)).assign(failed=False)
    paths = figures.plot_per_iteration(unmatched, tmp_path / "without", n_boot=20, published=reference.load("fqi"))
    paths += figures.plot_per_iteration(rows, tmp_path / "off", n_boot=20, published=None)
    assert not drawn and all(p.stat().st_size > 1000 for p in paths)


def test_fqi_published_table_leaves_out_unreached_iterations_and_unpublished_task_sets(tmp_path):
    rows = paper_task_set_rows(n_steps=7)
    table = tables.published_comparison(rows, reference.load("fqi"))
    assert set(table["variants"]) == {"1.000_4.000", FQI_T2}
    assert sorted(set(table["checkpoint"])) == [1, 5]  # 10, 20 and 50 were not reached
    first = table.loc[(table["n_tasks"] == 1) & (table["checkpoint"] == 1)].iloc[0]
    assert first["ours_mean"] == pytest.approx(0.521) and first["ours_n"] == 3
    assert first["theirs_mean"] == pytest.approx(0.518, abs=1e-3) and first["theirs_n"] == 100
    assert first["diff_lo"] <= first["diff"] <= first["diff_hi"] and 0 <= first["p_value"] <= 1
    longer = tables.published_comparison(paper_task_set_rows(n_steps=10, n_seeds=2), reference.load("fqi"))
    assert sorted(set(longer["checkpoint"])) == [1, 5, 10]
    assert tables.published_comparison(synthetic_rows(n_steps=3), reference.load("fqi")).empty
    paths = tables.make_all(rows, tmp_path, n_boot=20)
    assert "Welch p" in (tmp_path / "fqi_vs_published.md").read_text() and len(paths) == 9


def test_bad_input_is_one_error_line_and_status_2(tmp_path, capsys):
    missing = str(tmp_path / "missing.csv")
    assert cli.run(tables.main, ["--runs", missing, "--outdir", str(tmp_path)]) == 2
    not_a_table = tmp_path / "notes.csv"
    not_a_table.write_text("just,some\nwords\n")
    assert cli.run(figures.main, ["--runs", str(not_a_table), "--outdir", str(tmp_path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines)
    assert "missing.csv" in lines[0] and "notes.csv" in lines[1]
    with pytest.raises(SystemExit):  # argparse refuses a level outside (0, 1) and a negative --n-boot
        tables.main(["--runs", missing, "--outdir", str(tmp_path), "--ci", "1.5"])
    with pytest.raises(SystemExit):
        tables.main(["--runs", missing, "--outdir", str(tmp_path), "--n-boot", "-1"])
