"""The transfer analysis: each unfreeze setting against no transfer, ours vs the published, the CLIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import multitask_tables, reference, transfer_figures, transfer_tables


def _rows(experiment, algorithm, task, seed, values, width=80, diverged_at=None):
    rows = [{"experiment": experiment, "algorithm": algorithm, "variants": task, "n_tasks": 1, "task": task,
             "width": width, "seed": seed, "step": step, "metric": "return_discounted", "value": value}
            for step, value in enumerate(values)]
    if diverged_at is not None:
        rows.append({**rows[0], "step": diverged_at, "metric": "diverged", "value": diverged_at})
    return rows


def _frame():
    rows = []
    for seed in range(4):
        rows += _rows("dqn", "dqn", "acrobot", seed, [-100, -90, -80, -70 + seed])  # no transfer
        rows += _rows("dqn_transfer", "transfer_unfreeze0", "acrobot", seed, [-100, -80, -60, -50 + seed])
        rows += _rows("dqn_transfer", "transfer_frozen", "acrobot", seed, [-100, -100, -100, -100])
        rows += _rows("dqn", "dqn", "cartpole", seed, [10, 20, 30, 40])  # no transfer run: left out
    rows += _rows("dqn_transfer", "transfer_frozen", "acrobot", 9, [-100, -50], diverged_at=2)
    rows += _rows("dqn", "mdqn", "acrobot", 0, [0, 0, 0, 0])  # a multi-task run: not a baseline
    frame = pd.DataFrame(rows)
    failed = frame.groupby(["experiment", "algorithm", "seed"])["metric"].transform(lambda m: (m == "diverged").any())
    return frame.assign(failed=failed)


def test_transfer_summary_table_compares_each_setting_with_no_transfer():
    table = multitask_tables.summary_table(transfer_tables.study("dqn"), _frame(), final_epochs=2, n_boot=200, rng=0)
    assert set(table["task"]) == {"acrobot"}
    final = table.loc[table["measure"] == "final"].set_index("setting")
    assert list(final.index) == ["no_transfer", "transfer_unfreeze0", "transfer_frozen"]
    # final = mean of the last 2 trained epochs; IQM over 4 seeds = mean of the middle two.
    assert final.loc["no_transfer", "iqm"] == pytest.approx(np.mean([(-80 - 69) / 2, (-80 - 68) / 2]))
    assert final.loc["transfer_unfreeze0", "diff"] == pytest.approx(
        final.loc["transfer_unfreeze0", "iqm"] - final.loc["no_transfer", "iqm"])
    assert final.loc["transfer_frozen", "iqm"] == -100 and final.loc["transfer_frozen", "failed"] == 1
    assert final.loc["transfer_frozen", "seeds"] == 4 and np.isnan(final.loc["no_transfer", "diff"])
    auc = table.loc[(table["measure"] == "auc") & (table["setting"] == "transfer_frozen"), "iqm"].item()
    assert auc == -100


def test_transfer_vs_published_maps_frozen_to_their_never_unfrozen():
    published = reference.load("dqn")
    table = multitask_tables.published_comparison(transfer_tables.study("dqn"), _frame(), published, final_epochs=2)
    frozen = table.loc[table["setting"] == "transfer_frozen"].set_index("checkpoint")
    assert set(frozen["theirs_setting"]) == {"transfer_unfreeze51"}
    window = frozen.loc["epochs 2-3 (mean)"]
    theirs = reference.curve(published, "return_discounted", algorithm="transfer_unfreeze51", task="acrobot")
    assert window["theirs_mean"] == pytest.approx(theirs.loc[theirs["step"].isin([2, 3]), "mean"].mean())
    assert window["ours_mean"] == -100 and window["ours_n"] == 4
    assert set(table["setting"]) == {"no_transfer", "transfer_unfreeze0", "transfer_frozen"}
    baseline = table.loc[(table["setting"] == "no_transfer") & (table["checkpoint"] == "epoch 0")]
    dqn_acrobot = reference.curve(published, "return_discounted", algorithm="dqn", task="acrobot")
    assert baseline["theirs_mean"].item() == pytest.approx(dqn_acrobot.loc[0, "mean"])


def test_transfer_analysis_command_lines_write_their_files(tmp_path):
    runs = tmp_path / "all_runs.csv"
    _frame().to_csv(runs, index=False)
    assert transfer_tables.main(["--runs", str(runs), "--outdir", str(tmp_path), "--learner", "dqn", "--n-boot",
                                 "50", "--final-epochs", "2"]) == 0
    assert transfer_figures.main(["--runs", str(runs), "--outdir", str(tmp_path), "--learner", "dqn", "--n-boot",
                                  "50"]) == 0
    for name in ("transfer_dqn_summary.md", "transfer_dqn_vs_published.csv",
                 "transfer_dqn_return_discounted_per_epoch.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert "frozen throughout" in (tmp_path / "transfer_dqn_summary.md").read_text()
    # No DDPG transfer rows: a placeholder figure and an empty table, not an error.
    assert transfer_figures.main(["--runs", str(runs), "--outdir", str(tmp_path), "--learner", "ddpg"]) == 0
    assert transfer_tables.main(["--runs", str(runs), "--outdir", str(tmp_path), "--learner", "ddpg"]) == 0
    assert (tmp_path / "transfer_ddpg_summary.md").read_text().strip().endswith("(no rows)")


def test_transfer_vs_published_compares_at_the_learners_paper_epochs_reached():
    rows = []
    for seed in range(3):
        rows += _rows("dqn", "dqn", "acrobot", seed, [-100.0 + seed] * 21)
        rows += _rows("dqn_transfer", "transfer_unfreeze10", "acrobot", seed, [-90.0 + seed] * 21)
    frame = pd.DataFrame(rows).assign(failed=False)
    table = multitask_tables.published_comparison(transfer_tables.study("dqn"), frame, reference.load("dqn"),
                                                  final_epochs=10)
    points = set(table.loc[table["setting"] == "transfer_unfreeze10", "checkpoint"])
    assert points == {"epoch 0", "epoch 10", "epoch 20", "epochs 11-20 (mean)"}  # 30-50 not reached
    at_10 = table.loc[(table["setting"] == "transfer_unfreeze10") & (table["checkpoint"] == "epoch 10")].iloc[0]
    assert at_10["ours_mean"] == pytest.approx(-89.0)
