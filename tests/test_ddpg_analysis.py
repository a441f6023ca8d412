"""The DDPG figure and tables on constructed tidy results, and on a real tiny run."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import ddpg_figures, ddpg_tables, multitask_figures, multitask_tables, reference
from analysis.aggregate import load_runs
from analysis.vs_published import welch_from_stats
from mtrl_bench.tasks.continuous import GROUPS

BULLET = GROUPS["pendulum"]
MUJOCO = GROUPS["pendulum_mujoco"]


def _rows(algorithm, tasks, seed, task, curve, width=64, diverged=None):
    rows = [{"experiment": "ddpg", "algorithm": algorithm, "variants": "+".join(tasks), "n_tasks": len(tasks),
             "task": task, "width": width, "seed": seed, "step": step, "metric": "return_discounted", "value": value}
            for step, value in enumerate(curve)]
    if diverged is not None:
        rows.append({**rows[-1], "metric": "diverged", "value": diverged})
    return rows


def constructed(n_epochs=4, n_seeds=4, groups=("pendulum", "pendulum_mujoco"), width=64, skip_ddpg=(),
                diverge_mddpg_seed=None):
    """MDDPG on each group's tasks and DDPG on each task; MDDPG scores 10 more at every epoch."""
    rows = []
    for group in groups:
        tasks = GROUPS[group]
        for seed in range(n_seeds):
            for task in tasks:
                curve = np.linspace(20.0, 80.0, n_epochs + 1) + seed
                failed = 2 if seed == diverge_mddpg_seed else None
                rows += _rows("mddpg", tasks, seed, task, curve + 10.0, width, diverged=failed)
                if task not in skip_ddpg:
                    rows += _rows("ddpg", (task,), seed, task, curve, width)
    frame = pd.DataFrame(rows)
    failed_runs = frame.loc[frame["metric"] == "diverged", ["algorithm", "variants", "seed"]].drop_duplicates()
    failed = frame[["algorithm", "variants", "seed"]].apply(tuple, axis=1).isin(failed_runs.apply(tuple, axis=1))
    return frame.assign(failed=failed.to_numpy())


def test_summary_has_a_row_per_group_task_and_measure_run_and_mddpg_ahead_by_ten():
    frame = constructed(diverge_mddpg_seed=3)
    table = multitask_tables.summary_table(ddpg_tables.STUDY, frame, n_boot=200)
    assert list(table.columns[:4]) == ["group", "task", "width", "measure"]
    assert list(dict.fromkeys(table["task"])) == [*BULLET, *MUJOCO]  # the groups' order, group by group
    assert set(table.loc[table["task"].isin(BULLET), "group"]) == {"pendulum"}
    assert (table["mddpg_seeds"] == 3).all() and (table["mddpg_failed"] == 1).all() and (table["ddpg_seeds"] == 4).all()
    final = table.loc[(table["task"] == MUJOCO[0]) & (table["measure"] == "final")].iloc[0]
    # 4 epochs < the 10 of the window: the final value is the mean of epochs 1..4 of 20 + 15 e + seed.
    ddpg_finals = [20.0 + 15.0 * 2.5 + seed for seed in range(4)]
    mddpg_finals = [10.0 + 20.0 + 15.0 * 2.5 + seed for seed in range(3)]
    assert final["ddpg_iqm"] == pytest.approx(stats.trim_mean(ddpg_finals, 0.25))
    assert final["mddpg_iqm"] == pytest.approx(stats.trim_mean(mddpg_finals, 0.25))
    assert final["diff"] == pytest.approx(final["mddpg_iqm"] - final["ddpg_iqm"])
    assert final["diff_lo"] <= final["diff"] <= final["diff_hi"]
    auc = table.loc[(table["task"] == MUJOCO[0]) & (table["measure"] == "auc")].iloc[0]
    assert auc["ddpg_iqm"] == pytest.approx(stats.trim_mean([50.0 + seed for seed in range(4)], 0.25))


def test_summary_leaves_out_what_did_not_run():
    frame = pd.concat([constructed(groups=("pendulum_mujoco",), skip_ddpg=(MUJOCO[2],)),
                       constructed(groups=("walker",), width=32)], ignore_index=True)
    table = multitask_tables.summary_table(ddpg_tables.STUDY, frame, n_boot=50)
    assert set(zip(table["width"], table["group"])) == {(64, "pendulum_mujoco"), (32, "walker")}
    assert not table["task"].isin(BULLET).any()
    alone = table.loc[table["task"] == MUJOCO[2]]
    assert (alone["ddpg_seeds"] == 0).all() and alone["ddpg_iqm"].isna().all() and alone["diff"].isna().all()
    assert (alone["mddpg_seeds"] == 4).all()


def test_published_comparison_only_for_the_tasks_the_authors_ran_at_the_epochs_we_reached():
    published = reference.load("ddpg")
    frame = constructed(n_epochs=24, n_seeds=3)
    table = multitask_tables.published_comparison(ddpg_tables.STUDY, frame, published)
    assert set(table["task"]) == set(BULLET)  # pendulum_mujoco has no published counterpart
    assert set(table["checkpoint"]) == {"epoch 0", "epoch 20", "epochs 15-24 (mean)"}
    assert (table["theirs_n"] == 40).all() and (table["theirs_n_tasks"] == table["n_tasks"]).all()
    assert set(table.loc[table["algorithm"] == "mddpg", "n_tasks"]) == {3} and len(table) == 2 * 3 * len(BULLET)
    row = table.loc[(table["algorithm"] == "ddpg") & (table["task"] == BULLET[1])
                    & (table["checkpoint"] == "epoch 20")].iloc[0]
    theirs = reference.curve(published, "return_discounted", algorithm="ddpg", task=BULLET[1])
    theirs = theirs.loc[theirs["step"] == 20].iloc[0]
    ours = np.array([20.0 + 60.0 * 20 / 24 + seed for seed in range(3)])
    expected = welch_from_stats(ours.mean(), ours.std(ddof=1), 3, theirs["mean"], theirs["std"], 40)
    assert row["ours_mean"] == pytest.approx(ours.mean()) and row["theirs_mean"] == pytest.approx(theirs["mean"])
    assert row["p_value"] == pytest.approx(expected.p_value) and row["diff_lo"] == pytest.approx(expected.low)
    mujoco_only = constructed(groups=("pendulum_mujoco",))
    assert multitask_tables.published_comparison(ddpg_tables.STUDY, mujoco_only, published).empty


def test_figure_draws_published_curves_only_beside_the_tasks_they_ran(tmp_path, monkeypatch):
    calls = []
    original = ddpg_figures.draw_published

    def spy(ax, steps, mean, low, high, **kwargs):
        calls.append(np.asarray(steps))
        return original(ax, steps, mean, low, high, **kwargs)

    monkeypatch.setattr(ddpg_figures, "draw_published", spy)
    frame = constructed(n_epochs=6, n_seeds=3)
    paths = ddpg_figures.plot_returns(frame, tmp_path, n_boot=20, published=reference.load("ddpg"))
    # MDDPG and DDPG on each of the three PyBullet tasks, up to our last epoch; none for the MuJoCo group.
    assert len(calls) == 2 * len(BULLET) and all(steps.max() == 6 for steps in calls)
    assert [p.name for p in paths] == ["ddpg_return_discounted_per_epoch.pdf", "ddpg_return_discounted_per_epoch.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    empty = ddpg_figures.plot_returns(pd.DataFrame(columns=["experiment", "metric", "failed"]), tmp_path / "e")
    assert all(p.exists() for p in empty)


def test_figure_says_which_groups_have_no_published_counterpart(tmp_path, monkeypatch):
    texts = []
    original = multitask_figures.save_figure

    def spy(fig, outdir, stem):
        texts.append((fig._suptitle.get_text(), [t.get_text() for t in fig.texts if t is not fig._suptitle]))
        return original(fig, outdir, stem)

    monkeypatch.setattr(multitask_figures, "save_figure", spy)
    published = reference.load("ddpg")
    ddpg_figures.plot_returns(constructed(n_epochs=3, n_seeds=2), tmp_path / "both", n_boot=10, published=published)
    only_ours = constructed(n_epochs=3, n_seeds=2, groups=("pendulum_mujoco",))
    ddpg_figures.plot_returns(only_ours, tmp_path / "mujoco", n_boot=10, published=published)
    (both_title, both_notes), (mujoco_title, mujoco_notes) = texts
    assert "dashed: published mean" in both_title and both_notes == ["no published counterpart: pendulum_mujoco"]
    assert "published" not in mujoco_title and mujoco_notes == ["no published counterpart: pendulum_mujoco"]


def test_cli_on_a_real_tiny_run(tmp_path):
    pytest.importorskip("mujoco")
    from mtrl_bench.cli import main as mtrl_bench

    runs = []
    for name, tasks in {"mddpg": list(MUJOCO[:2]), "ddpg_ip": [MUJOCO[0]], "ddpg_idp": [MUJOCO[1]]}.items():
        out = tmp_path / f"{name}.csv"
        assert mtrl_bench(["run", "ddpg", "--tasks", *tasks, "--input-width", "4", "--shared-width", "4",
                           "--epochs", "2", "--steps-per-epoch", "10", "--test-steps", "30", "--seeds", "0", "1",
                           "--device", "cpu", "--out", str(out)]) == 0
        runs.append(str(out))
    assert ddpg_tables.main(["--runs", *runs, "--outdir", str(tmp_path / "t"), "--n-boot", "20"]) == 0
    assert ddpg_figures.main(["--runs", *runs, "--outdir", str(tmp_path / "f"), "--n-boot", "20"]) == 0
    summary = pd.read_csv(tmp_path / "t" / "ddpg_summary.csv")
    assert set(summary["task"]) == set(MUJOCO[:2]) and (summary["mddpg_seeds"] == 2).all()
    assert (summary["ddpg_seeds"] == 2).all() and set(summary["group"]) == {"pendulum_mujoco"}
    assert pd.read_csv(tmp_path / "t" / "ddpg_vs_published.csv").empty
    assert "all trained epochs of a run with fewer" in (tmp_path / "t" / "ddpg_summary.md").read_text()
    assert (tmp_path / "f" / "ddpg_return_discounted_per_epoch.png").stat().st_size > 1000
    frame = load_runs(runs)
    assert set(frame["algorithm"]) == {"mddpg", "ddpg"}
