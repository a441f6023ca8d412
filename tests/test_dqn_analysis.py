"""The DQN figure and table on synthetic tidy results."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import dqn_figures, dqn_tables, multitask_tables, reference
from analysis.aggregate import load_runs, write_all_runs
from mtrl_bench.results import write_results

TASKS = ("cartpole", "car_on_hill")


def _rows(algorithm, variants, seed, task, curve, width=80, diverged=0):
    n_tasks = len(variants.split("+"))
    rows = [{"experiment": "dqn", "algorithm": algorithm, "variants": variants, "n_tasks": n_tasks, "task": task,
             "width": width, "seed": seed, "step": step, "metric": "return_discounted", "value": value}
            for step, value in enumerate(curve)]
    rows.append({**rows[-1], "metric": "diverged", "value": diverged})
    return rows


def synthetic_files(tmp_path, n_seeds=4, diverge_mdqn_seed=None):
    """MDQN on both tasks and one DQN per task; MDQN's return is 1 higher at every epoch."""
    paths = []
    for seed in range(n_seeds):
        rows = []
        for task in TASKS:
            base = np.array([0.0, 1.0, 2.0, 3.0]) + seed
            rows += _rows("mdqn", "+".join(TASKS), seed, task, base + 1.0,
                          diverged=2 if seed == diverge_mdqn_seed else 0)
        path = tmp_path / f"mdqn_{seed}.csv"
        write_results(path, rows, {"git_commit": "test"})
        paths.append(path)
        for task in TASKS:
            path = tmp_path / f"dqn_{task}_{seed}.csv"
            write_results(path, _rows("dqn", task, seed, task, np.array([0.0, 1.0, 2.0, 3.0]) + seed),
                          {"git_commit": "test"})
            paths.append(path)
    return paths


def test_auc_is_the_trapezoid_over_epochs_divided_by_their_number_and_final_averages_the_last_epochs():
    values = pd.DataFrame({"experiment": "dqn", "algorithm": "dqn", "variants": "cartpole", "n_tasks": 1,
                           "width": 80, "seed": 0, "task": "cartpole", "step": [0, 1, 2, 3],
                           "value": [0.0, 2.0, 2.0, 6.0]})
    summary = multitask_tables.run_summaries(values, final_epochs=2).iloc[0]
    assert summary["auc"] == pytest.approx((1.0 + 2.0 + 4.0) / 3)
    assert summary["final"] == pytest.approx(4.0)
    assert multitask_tables.run_summaries(values, final_epochs=10).iloc[0]["final"] == pytest.approx(10.0 / 3)


def test_iqm_difference_is_the_difference_of_trimmed_means_with_an_interval_around_it():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 0.1, 20), rng.normal(0.0, 0.1, 20)
    point, low, high = multitask_tables.iqm_difference_ci(a, b, n_boot=500, rng=1)
    assert point == pytest.approx(stats.trim_mean(a, 0.25) - stats.trim_mean(b, 0.25))
    assert low < point < high and low > 0.8 and high < 1.2
    assert np.isnan(multitask_tables.iqm_difference_ci([], b)[0])
    assert np.isnan(multitask_tables.iqm_difference_ci([1.0], b)[1])


def test_summary_shows_mdqn_ahead_by_one_and_excludes_failed_runs(tmp_path):
    frame = multitask_tables.load_runs(dqn_tables.STUDY, synthetic_files(tmp_path, diverge_mdqn_seed=3))
    table = multitask_tables.summary_table(dqn_tables.STUDY, frame, n_boot=200)
    assert list(table["task"].unique()) == list(TASKS) and set(table["measure"]) == {"auc", "final"}
    assert (table["mdqn_seeds"] == 3).all() and (table["mdqn_failed"] == 1).all() and (table["dqn_seeds"] == 4).all()
    final = table.loc[(table["task"] == "cartpole") & (table["measure"] == "final")].iloc[0]
    # MDQN seeds 0..2 finals: mean of epochs 1..3 of (seed + 2 .. seed + 4) = seed + 3; IQM of 3, 4, 5 is 4.
    assert final["mdqn_iqm"] == pytest.approx(stats.trim_mean([3.0, 4.0, 5.0], 0.25))
    assert final["dqn_iqm"] == pytest.approx(stats.trim_mean([2.0, 3.0, 4.0, 5.0], 0.25))
    assert final["diff_lo"] <= final["diff"] <= final["diff_hi"]


def test_cli_writes_the_figure_and_table_from_results_files_or_an_all_runs_table(tmp_path):
    paths = [str(p) for p in synthetic_files(tmp_path / "runs")]
    assert dqn_tables.main(["--runs", *paths, "--outdir", str(tmp_path / "tables"), "--n-boot", "100"]) == 0
    assert dqn_figures.main(["--runs", *paths, "--outdir", str(tmp_path / "figures"), "--n-boot", "100"]) == 0
    for name in ("dqn_summary.csv", "dqn_summary.md", "dqn_summary.tex"):
        assert (tmp_path / "tables" / name).stat().st_size > 0
    for name in ("dqn_return_discounted_per_epoch.pdf", "dqn_return_discounted_per_epoch.png"):
        assert (tmp_path / "figures" / name).stat().st_size > 0
    combined = tmp_path / "all_runs.csv"
    write_all_runs(load_runs(paths), combined)
    assert dqn_tables.main(["--runs", str(combined), "--outdir", str(tmp_path / "t2"), "--n-boot", "100"]) == 0
    assert (pd.read_csv(tmp_path / "t2" / "dqn_summary.csv").drop(columns=[]).shape
            == pd.read_csv(tmp_path / "tables" / "dqn_summary.csv").shape)


def test_figure_without_dqn_rows_still_gets_written(tmp_path):
    empty = pd.DataFrame(columns=["experiment", "metric", "failed"])
    paths = dqn_figures.plot_returns(empty, tmp_path)
    assert [p.suffix for p in paths] == [".pdf", ".png"] and all(p.exists() for p in paths)


def long_frame(n_epochs, tasks=TASKS, n_seeds=3):
    """MDQN on ``tasks`` and one DQN per task, ``n_epochs`` epochs after epoch 0, as an all-runs frame."""
    rows = []
    for seed in range(n_seeds):
        for task in tasks:
            curve = np.linspace(0.0, 50.0, n_epochs + 1) + seed
            rows += _rows("mdqn", "+".join(tasks), seed, task, curve + 5.0)
            rows += _rows("dqn", task, seed, task, curve)
    return pd.DataFrame(rows).assign(failed=False)


def test_published_comparison_keeps_only_the_checkpoints_our_runs_reached():
    published = reference.load("dqn")
    table = multitask_tables.published_comparison(dqn_tables.STUDY, long_frame(12), published)
    assert set(table["checkpoint"]) == {"epoch 0", "epoch 10", "epochs 3-12 (mean)"}  # no epoch 20..50
    assert len(table) == 3 * 2 * len(TASKS) and (table["ours_n"] == 3).all() and (table["theirs_n"] == 100).all()
    mdqn = table.loc[table["algorithm"] == "mdqn"]
    assert (mdqn["n_tasks"] == 2).all() and (mdqn["theirs_n_tasks"] == 5).all()
    window = table.loc[(table["algorithm"] == "dqn") & (table["task"] == "cartpole")
                       & (table["checkpoint"] == "epochs 3-12 (mean)")].iloc[0]
    theirs = reference.curve(published, "return_discounted", algorithm="dqn", task="cartpole")
    assert window["theirs_mean"] == pytest.approx(theirs.loc[theirs["step"].between(3, 12), "mean"].mean())
    assert (window["first"], window["last"]) == (3, 12)
    ours = np.mean([np.linspace(0.0, 50.0, 13)[3:] + seed for seed in range(3)])
    assert window["ours_mean"] == pytest.approx(ours)
    # 60 epochs: every paper epoch is reached, but the last-10 window (51-60) lies beyond theirs.
    longer = multitask_tables.published_comparison(dqn_tables.STUDY, long_frame(60, tasks=("cartpole",)), published)
    assert set(longer["checkpoint"]) == {f"epoch {e}" for e in dqn_tables.PAPER_EPOCHS}
    assert multitask_tables.published_comparison(dqn_tables.STUDY, long_frame(12, tasks=("chain",)), published).empty


def test_figure_draws_the_published_curves_beside_tasks_they_ran(tmp_path, monkeypatch):
    calls = []
    original = dqn_figures.draw_published

    def spy(ax, steps, mean, low, high, **kwargs):
        calls.append(np.asarray(steps))
        return original(ax, steps, mean, low, high, **kwargs)

    monkeypatch.setattr(dqn_figures, "draw_published", spy)
    frame = long_frame(12, tasks=("cartpole", "chain"))
    paths = dqn_figures.plot_returns(frame, tmp_path / "with", n_boot=20, published=reference.load("dqn"))
    assert len(calls) == 2 and all(steps.max() == 12 for steps in calls)  # MDQN and DQN on cartpole, not chain
    paths += dqn_figures.plot_returns(frame, tmp_path / "without", n_boot=20, published=None)
    assert len(calls) == 2 and all(p.stat().st_size > 1000 for p in paths)


def test_cli_writes_the_published_comparison_unless_switched_off(tmp_path):
    paths = [str(p) for p in synthetic_files(tmp_path / "runs")]
    assert dqn_tables.main(["--runs", *paths, "--outdir", str(tmp_path / "on"), "--n-boot", "20"]) == 0
    table = pd.read_csv(tmp_path / "on" / "dqn_vs_published.csv")
    assert set(table["checkpoint"]) == {"epoch 0", "epochs 1-3 (mean)"}
    assert "Welch p" in (tmp_path / "on" / "dqn_vs_published.md").read_text()
    assert dqn_tables.main(["--runs", *paths, "--outdir", str(tmp_path / "off"), "--no-published"]) == 0
    assert not (tmp_path / "off" / "dqn_vs_published.csv").exists()
