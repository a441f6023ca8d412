"""Fidelity of MFQI at the paper's settings: the paper config, the per-iteration writes, the table of ours
beside the published means (built from constructed results), the command's table-only path."""

import argparse
import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from analysis import fqi_fidelity, reference
from mtrl_bench import results
from mtrl_bench.commands import fidelity
from mtrl_bench.errors import ConfigError
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.qstar import paper_test_grid, write_q_star_csv

T2 = "1.000_4.000+0.800_4.000"


def constructed_rows(seeds=range(10), iterations=(1, 2)):
    """Results rows of T = 1 and T = 2 (paper sets) and T = 1 on a variant the authors did not run."""
    rng = np.random.default_rng(0)
    rows = []
    for variants, n_tasks in [("1.000_4.000", 1), (T2, 2), ("1.000_4.125", 1)]:
        for seed in seeds:
            for k in iterations:
                for task in variants.split("+"):
                    base = dict(experiment="fqi", algorithm="fqi" if n_tasks == 1 else "mfqi", variants=variants,
                                n_tasks=n_tasks, task=task, width=30, seed=seed, step=k)
                    exact = 0.55 - 0.05 * k + rng.normal(0, 0.01)
                    rows += [dict(base, metric="avi_diff", value=exact),
                             dict(base, metric="avi_diff_authors_qstar", value=exact - 0.006),
                             dict(base, metric="approx_error", value=0.01),
                             dict(base, metric="fit_steps", value=1000 * k + seed)]
    return pd.DataFrame(rows)


def test_table_puts_ours_beside_the_published_means_at_the_iterations_reached():
    frame = constructed_rows()
    table = fqi_fidelity.fidelity_table(frame)
    published = reference.load("fqi")
    assert set(table.variants) == {"1.000_4.000", T2}  # the authors did not run 1.000_4.125 alone
    assert sorted(set(table.checkpoint)) == [1, 2]  # never beyond what our runs reached
    assert set(table.q_star) == {"exact", "authors'"} and len(table) == 2 * 2 * 2
    for r in table.to_dict("records"):
        ours = frame[(frame.variants == r["variants"]) & (frame.step == r["checkpoint"])
                     & (frame.metric == r["metric"])]
        per_seed = ours.groupby("seed").value.mean()  # T = 2: the mean over the set's tasks
        assert r["ours_mean"] == pytest.approx(per_seed.mean()) and r["ours_n"] == 10
        theirs = published[(published.variants == r["variants"]) & (published.step == r["checkpoint"])
                           & (published.metric == "avi_diff")].iloc[0]
        assert r["theirs_mean"] == pytest.approx(theirs["mean"]) and r["theirs_n"] == theirs["n_runs"] == 100
        _, p = stats.ttest_ind_from_stats(per_seed.mean(), per_seed.std(ddof=1), 10, theirs["mean"], theirs["std"],
                                          100, equal_var=False)
        assert r["p_value"] == pytest.approx(p)
        assert r["ours_lo"] < r["ours_mean"] < r["ours_hi"]
        assert r["fit_steps_median"] == 1000 * r["checkpoint"] + 4.5
        assert r["fit_steps_max"] == 1000 * r["checkpoint"] + 9
    exact = table[table.q_star == "exact"].ours_mean.to_numpy()
    authors = table[table.q_star == "authors'"].ours_mean.to_numpy()
    np.testing.assert_allclose(exact - authors, 0.006)


def test_failed_runs_are_left_out_of_the_table():
    frame = constructed_rows()
    failed = dict(experiment="fqi", algorithm="fqi", variants="1.000_4.000", n_tasks=1, task="1.000_4.000", width=30,
                  seed=3, step=2, metric="diverged", value=2.0)
    table = fqi_fidelity.fidelity_table(pd.concat([frame, pd.DataFrame([failed])], ignore_index=True))
    assert (table[table.variants == "1.000_4.000"].ours_n == 9).all()


def test_display_shows_each_estimate_with_its_interval():
    table = fqi_fidelity.fidelity_table(constructed_rows())
    display = fqi_fidelity.fidelity_display(table)
    assert list(display.columns[:4]) == ["T", "task set", "Q*", "iteration"]
    assert display["ours [95% CI]"].str.match(r"^0\.\d+ \[0\.\d+, 0\.\d+\]$").all()
    assert display["fit steps median [min, max]"].iloc[0] == "1,004 [1,000, 1,009]"


def test_paper_config_is_the_papers_settings_on_the_nested_sets():
    config = fidelity.paper_config(2, 3, data_dir=None, qstar_dir=None)
    assert config.variants == [coh.VARIANTS[0].name, coh.VARIANTS[4].name]
    assert (config.shared_width, config.input_width, config.learning_rate) == (30, 30, 1e-3)
    assert (config.patience, config.tolerance, config.max_fit_steps) == (100, 1e-6, None)
    assert config.dataset.policy == "epsilon_greedy" and config.approx_error_data == "held_out_set"
    assert config.record_authors_qstar and config.fit_kernel == "fused" and config.iterations == 3
    assert fidelity.paper_config(1, 3, fit_kernel="autograd").fit_kernel == "autograd"
    with pytest.raises(ConfigError, match="the authors ran T"):
        fidelity.paper_config(3, 3)


def zero_q_star(folder, names):
    states, actions = paper_test_grid()
    for name in names:
        write_q_star_csv(folder / f"{name}.csv", {"position": states[:, 0], "velocity": states[:, 1],
                                                 "action": actions, "q_star": np.zeros(200)})


def test_results_are_rewritten_after_every_iteration(tmp_path, monkeypatch):
    zero_q_star(tmp_path, [coh.VARIANTS[0].name])
    config = dataclasses.replace(fidelity.paper_config(1, 2, data_dir=None, qstar_dir=str(tmp_path)),
                                 max_fit_steps=5, dataset=dataclasses.replace(fidelity.paper_config(1, 1).dataset,
                                                                              grid_size=5))
    writes = []
    original = fidelity.write_results
    monkeypatch.setattr(fidelity, "write_results",
                        lambda path, rows, prov: writes.append(prov["iterations_done"]) or original(path, rows, prov))
    out = tmp_path / "fqi_T1.csv"
    fidelity.run_one(config, [0, 1], torch.device("cpu"), out)
    assert writes == [1, 2]
    rows, prov = results.read_results(out)
    assert sorted(set(rows.step)) == [1, 2] and prov["iterations_done"] == 2
    assert prov["approx_error_data"].startswith("held_out_set") and "avi_diff_authors_qstar" in set(rows.metric)


def parse(argv):
    parser = argparse.ArgumentParser()
    top = parser.add_subparsers(dest="command")
    fidelity.register({"top": top})
    return parser.parse_args(["fidelity", "fqi", *argv])


def test_table_only_reads_the_runs_and_writes_the_table(tmp_path, capsys):
    frame = constructed_rows(iterations=(1,))
    for n_tasks, variants in [(1, "1.000_4.000"), (2, T2)]:
        rows = frame[frame.variants == variants].to_dict("records")
        results.write_results(fidelity.run_path(tmp_path, n_tasks), rows, {"config": {}})
    args = parse(["--n-tasks", "1", "2", "--table-only", "--outdir", str(tmp_path)])
    assert args.func(args) == 0
    assert "| 1.000_4.000+0.800_4.000 |" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "fqi_fidelity.csv")
    assert set(table.n_tasks) == {1, 2} and (tmp_path / "fqi_fidelity.md").is_file()
    missing = parse(["--n-tasks", "4", "--table-only", "--outdir", str(tmp_path)])
    with pytest.raises(ConfigError, match="fqi_T4.csv missing"):
        missing.func(missing)
