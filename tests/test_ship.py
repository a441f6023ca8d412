"""Shipping our paper-protocol results (analysis.ship), loading them back (analysis.reference), and drawing
them beside a run's own curves and the authors' (analysis.multitask_figures, analysis.fqi_figures)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import (
    dqn_figures,
    dqn_tables,
    fqi_figures,
    multitask_figures,
    multitask_tables,
    reference,
    ship,
    transfer_tables,
)
from analysis.aggregate import load_any
from analysis.cli import run
from mtrl_bench.errors import ConfigError
from mtrl_bench.results import write_results, write_table

TASKS = ("cartpole", "acrobot")


def _rows(experiment, algorithm, tasks, task, seed, curve, width=80, diverged=0):
    rows = [{"experiment": experiment, "algorithm": algorithm, "variants": "+".join(tasks), "n_tasks": len(tasks),
             "task": task, "width": width, "seed": seed, "step": step, "metric": "return_discounted", "value": value}
            for step, value in enumerate(curve)]
    return rows + [{**rows[-1], "metric": "diverged", "value": diverged}]


def dqn_results(folder, n_seeds=3, n_epochs=4, failed_seed=None, width=80):
    """Results files of MDQN on TASKS and DQN on each; MDQN's seed ``failed_seed`` diverged."""
    paths = []
    for seed in range(n_seeds):
        rows = []
        for task in TASKS:
            curve = np.linspace(10.0, 50.0, n_epochs + 1) + 2.0 * seed
            rows += _rows("dqn", "mdqn", TASKS, task, seed, curve + 5.0, width, int(seed == failed_seed))
            rows += _rows("dqn", "dqn", (task,), task, seed, curve, width)
        paths.append(write_results(folder / f"dqn_s{seed}.csv", rows, {"git_commit": f"commit{seed % 2}"}))
    return paths


def test_shipped_summary_is_mean_std_and_count_over_the_runs_that_did_not_fail(tmp_path):
    paths = dqn_results(tmp_path / "runs", failed_seed=2)
    out = tmp_path / "ours" / "dqn.csv"
    assert ship.main(["dqn", "--runs", *map(str, paths), "--out", str(out), "--protocol", "tiny test"]) == 0
    summary, provenance = reference.read_shipped(out)
    assert list(summary.columns) == reference.SHIPPED_COLUMNS and set(summary["metric"]) == {"return_discounted"}
    row = summary.loc[(summary["algorithm"] == "mdqn") & (summary["task"] == "acrobot") & (summary["step"] == 2)]
    seeds_left = np.array([30.0 + 5.0 + 2.0 * seed for seed in (0, 1)])  # seed 2 diverged: left out
    assert row["mean"].item() == pytest.approx(seeds_left.mean()) and row["n_runs"].item() == 2
    assert row["std"].item() == pytest.approx(seeds_left.std(ddof=1))
    assert (summary.loc[summary["algorithm"] == "dqn", "n_runs"] == 3).all()
    assert set(summary.loc[summary["algorithm"] == "mdqn", "variants"]) == {"cartpole+acrobot"}
    assert provenance["runs"] == 9 and provenance["failed_runs"] == 1 and provenance["protocol"] == "tiny test"
    assert provenance["git_commits"] == ["commit0", "commit1"] and provenance["seeds"]["dqn/mdqn/cartpole+acrobot/80"] \
        == [0, 1, 2]
    assert provenance["per_seed_file"] == "dqn_runs.csv"


def test_the_per_seed_file_gives_the_same_tables_as_the_results_files(tmp_path):
    paths = dqn_results(tmp_path / "runs", failed_seed=1)
    out = tmp_path / "ours" / "dqn.csv"
    ship.main(["dqn", "--runs", *map(str, paths), "--out", str(out)])
    shipped_runs = multitask_tables.load_runs(dqn_tables.STUDY, [out.with_name("dqn_runs.csv")])
    original = multitask_tables.load_runs(dqn_tables.STUDY, paths)
    pd.testing.assert_frame_equal(multitask_tables.summary_table(dqn_tables.STUDY, shipped_runs, n_boot=50),
                                  multitask_tables.summary_table(dqn_tables.STUDY, original, n_boot=50))
    ship.main(["dqn", "--runs", *map(str, paths), "--out", str(out), "--max-seed-rows", "10"])
    assert not out.with_name("dqn_runs.csv").exists() and reference.read_shipped(out)[1]["per_seed_file"] is None


def test_a_transfer_ships_its_settings_and_the_single_task_baseline_of_its_targets(tmp_path):
    rows = []
    for seed in range(2):
        rows += _rows("dqn_transfer", "transfer_unfreeze0", ("acrobot",), "acrobot", seed, [1.0, 2.0, 3.0])
        rows += _rows("dqn", "dqn", ("acrobot",), "acrobot", seed, [0.0, 1.0, 2.0])
        rows += _rows("dqn", "dqn", ("cartpole",), "cartpole", seed, [0.0, 1.0, 2.0])  # not a target
        rows += _rows("dqn", "mdqn", TASKS, "acrobot", seed, [0.0, 1.0, 2.0])  # not a baseline
    runs = tmp_path / "all_runs.csv"
    write_table(runs, pd.DataFrame(rows).assign(failed=False))  # an all-runs table, as analysis.aggregate writes
    out = tmp_path / "dqn_transfer.csv"
    assert ship.main(["dqn_transfer", "--runs", str(runs), "--out", str(out)]) == 0
    summary = reference.read_shipped(out)[0]
    assert set(zip(summary["experiment"], summary["algorithm"], summary["task"])) == {
        ("dqn_transfer", "transfer_unfreeze0", "acrobot"), ("dqn", "dqn", "acrobot")}
    study = transfer_tables.study("dqn")
    curves = study.reference_rows(summary, "return_discounted")
    assert set(curves["algorithm"]) == {"transfer_unfreeze0", transfer_tables.NO_TRANSFER}


def test_fqi_ships_per_task_set_means_as_the_authors_do(tmp_path):
    rows = [{"experiment": "fqi", "algorithm": "mfqi", "variants": "a+b", "n_tasks": 2, "task": task, "width": 30,
             "seed": seed, "step": step, "metric": "avi_diff", "value": value + seed}
            for seed in range(3) for step in (1, 2) for task, value in (("a", 1.0), ("b", 3.0))]
    runs = tmp_path / "fqi_runs.csv"
    write_table(runs, pd.DataFrame(rows).assign(failed=False))  # an all-runs table, as analysis.aggregate writes
    ship.main(["fqi", "--runs", str(runs), "--out", str(tmp_path / "fqi.csv")])
    summary = reference.read_shipped(tmp_path / "fqi.csv")[0]
    assert set(summary["task"]) == {reference.FQI_AGGREGATE_TASK} and len(summary) == 2
    assert summary["mean"].tolist() == pytest.approx([3.0, 3.0]) and (summary["n_runs"] == 3).all()


def _shipped_file(folder, name="dqn", header=None, frame=None):
    frame = frame if frame is not None else pd.DataFrame([{
        "experiment": "dqn", "algorithm": "dqn", "variants": "cartpole", "n_tasks": 1, "task": "cartpole",
        "group": "", "width": 80, "step": step, "metric": "return_discounted", "mean": 10.0 * step, "std": 1.0,
        "n_runs": 24} for step in range(6)])
    header = header if header is not None else {key: [] for key in reference.PROVENANCE_KEYS} | {"name": name}
    path = folder / f"{name}.csv"
    path.write_text(reference.SHIPPED_PREFIX + json.dumps(header) + "\n" + frame.to_csv(index=False))
    return path, frame


@pytest.mark.parametrize("broken, message", [
    (lambda f: f.drop(columns="width"), "columns must be"),
    (lambda f: f.assign(std=-1.0), "std >= 0"),
    (lambda f: f.assign(n_runs=0), "n_runs >= 1"),
    (lambda f: pd.concat([f, f.head(1)]), "more than one row"),
    (lambda f: f.assign(experiment="ddpg"), "rows of experiments"),
])
def test_the_loader_names_what_is_wrong_with_a_shipped_file(tmp_path, broken, message):
    path, frame = _shipped_file(tmp_path)
    assert len(reference.read_shipped(path)[0]) == 6
    _shipped_file(tmp_path, frame=broken(frame))
    with pytest.raises(ConfigError, match=message) as err:
        reference.read_shipped(path)
    assert "analysis.ship" in str(err.value) and "\n" not in str(err.value)


def test_the_loader_wants_its_provenance_line_and_name(tmp_path):
    path, frame = _shipped_file(tmp_path)
    path.write_text(frame.to_csv(index=False))
    with pytest.raises(ConfigError, match="first line"):
        reference.read_shipped(path)
    _shipped_file(tmp_path, header={"name": "dqn"})
    with pytest.raises(ConfigError, match="provenance needs keys"):
        reference.read_shipped(path)
    other, _ = _shipped_file(tmp_path, name="sac")
    with pytest.raises(ConfigError, match="named <name>.csv"):
        reference.read_shipped(other)
    assert reference.load_shipped("dqn", tmp_path / "nowhere") is None


def test_ship_command_line_errors_are_one_line(tmp_path, capsys):
    paths = [str(p) for p in dqn_results(tmp_path)]
    assert run(ship.main, ["ddpg", "--runs", *paths, "--out", str(tmp_path / "ddpg.csv")]) == 2
    assert run(ship.main, ["dqn", "--runs", *paths, "--out", str(tmp_path / "other.csv")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "no runs of experiment 'ddpg'" in errors[0] and "dqn.csv" in errors[1]


def _spy(monkeypatch, module):
    calls = []
    original = module.draw_published

    def spy(ax, steps, mean, low, high, **kwargs):
        calls.append((kwargs["kind"], np.asarray(steps)))
        return original(ax, steps, mean, low, high, **kwargs)

    monkeypatch.setattr(module, "draw_published", spy)
    return calls


def test_figure_draws_ours_shipped_beside_the_authors_only_when_given(tmp_path, monkeypatch):
    calls = _spy(monkeypatch, dqn_figures)
    titles = []
    original_save = multitask_figures.save_figure

    def save_spy(fig, outdir, stem):
        titles.append(fig._suptitle.get_text())
        return original_save(fig, outdir, stem)

    monkeypatch.setattr(multitask_figures, "save_figure", save_spy)
    frame = load_any(dqn_results(tmp_path / "runs", n_epochs=3, width=16))
    authors = reference.load("dqn")
    dqn_figures.plot_returns(frame, tmp_path / "without", n_boot=10, published=authors)
    without = list(calls)
    assert [kind for kind, _ in without] == ["authors"] * 4  # MDQN and DQN on both tasks
    (tmp_path / "ours").mkdir()
    _shipped_file(tmp_path / "ours")
    shipped = reference.load_shipped("dqn", tmp_path / "ours")
    calls.clear()
    dqn_figures.plot_returns(frame, tmp_path / "with", n_boot=10, published=authors, shipped=shipped)
    ours = [steps for kind, steps in calls if kind == "ours"]
    assert [kind for kind, _ in calls if kind == "authors"] == ["authors"] * 4
    assert len(ours) == 1 and ours[0].max() == 3  # DQN on cartpole only, up to our last epoch (width 80 -> 16)
    note = "dotted: ours at the paper's protocol"
    assert note not in titles[0] and note in titles[1]


def test_fqi_figure_draws_ours_shipped_task_set_curve(tmp_path, monkeypatch):
    calls = _spy(monkeypatch, fqi_figures)
    rows = [{"experiment": "fqi", "algorithm": "fqi", "variants": "1.000_4.000", "n_tasks": 1, "task": "1.000_4.000",
             "width": 30, "seed": seed, "step": step, "metric": "avi_diff", "value": 0.5 / step + 0.01 * seed}
            for seed in range(3) for step in range(1, 5)]
    frame = pd.DataFrame(rows).assign(failed=False)
    runs = tmp_path / "runs.csv"
    frame.to_csv(runs, index=False)
    ship.main(["fqi", "--runs", str(runs), "--out", str(tmp_path / "fqi.csv")])
    fqi_figures.plot_per_iteration(frame, tmp_path / "fig", n_boot=10, published=reference.load("fqi"),
                                   shipped=reference.load_shipped("fqi", tmp_path))
    assert sorted(kind for kind, _ in calls) == ["authors", "ours"]


def test_paper_figures_draws_each_experiment_shipped_with_its_runs(tmp_path, capsys):
    from analysis import paper_figures

    ours = tmp_path / "ours"
    ship.main(["dqn", "--runs", *map(str, dqn_results(tmp_path / "runs")), "--out", str(ours / "dqn.csv")])
    _shipped_file(ours, name="ddpg", frame=pd.DataFrame(columns=reference.SHIPPED_COLUMNS))  # no per-seed rows
    out = tmp_path / "figures"
    assert paper_figures.main(["--ours", str(ours), "--outdir", str(out), "--n-boot", "20"]) == 0
    assert {p.name for p in out.iterdir()} >= {"dqn_return_discounted_per_epoch.png", "dqn_summary.csv",
                                               "dqn_vs_published.csv"}
    assert not any(p.name.startswith("ddpg") for p in out.iterdir())
    assert "ddpg: shipped as a summary only" in capsys.readouterr().err
    assert run(paper_figures.main, ["--ours", str(tmp_path / "runs"), "--outdir", str(out)]) == 2
    assert "no shipped summaries" in capsys.readouterr().err


def test_effect_table_gives_the_sign_of_each_effect_in_ours_and_theirs(tmp_path):
    frame = load_any(dqn_results(tmp_path, n_seeds=5, n_epochs=12))  # MDQN 5 ahead of DQN at every epoch
    published = reference.load("dqn")
    table = multitask_tables.effect_table(dqn_tables.STUDY, frame, published, n_boot=200)
    assert set(table["algorithm"]) == {"mdqn"} and set(table["task"]) == set(TASKS)
    assert table["ours_diff"].tolist() == pytest.approx([5.0, 5.0]) and (table["ours_sign"] == "+").all()
    for row in table.to_dict("records"):
        sides = [reference.curve(published, "return_discounted", algorithm=a, task=row["task"]).tail(10)["mean"].mean()
                 for a in ("mdqn", "dqn")]
        assert row["theirs_diff"] == pytest.approx(sides[0] - sides[1])
        expected = "yes" if row["theirs_sign"] == "+" else ("no" if row["theirs_sign"] else "")
        assert row["agree"] == expected
    transfer = transfer_tables.study("dqn")
    rows = []
    for seed in range(4):
        rows += _rows("dqn_transfer", "transfer_frozen", ("acrobot",), "acrobot", seed, [-100.0, -100.0, -100.0])
        rows += _rows("dqn", "dqn", ("acrobot",), "acrobot", seed, [-100.0, -90.0, -80.0 + seed])
    effect = multitask_tables.effect_table(transfer, pd.DataFrame(rows).assign(failed=False), published, n_boot=100)
    assert effect["theirs"].tolist() == ["transfer_unfreeze51"] and effect["ours_sign"].tolist() == ["-"]


def test_published_curves_of_a_shorter_protocol_are_drawn_at_equal_environment_steps(tmp_path, monkeypatch):
    paths = [write_results(tmp_path / f"runs_s{seed}.csv", _rows("ddpg", "ddpg", ("t",), "t", seed, [1.0, 2.0]),
                           {"config": {"steps_per_epoch": 1_000}}) for seed in range(2)]
    out = tmp_path / "ours" / "ddpg.csv"
    assert ship.main(["ddpg", "--runs", *map(str, paths), "--out", str(out)]) == 0
    provenance = reference.read_shipped(out)[1]
    assert provenance["steps_per_epoch"] == 1_000
    assert reference.published_epoch_scale("ddpg", provenance) == 10  # the paper's epochs: 10,000 steps
    assert reference.published_epoch_scale("dqn", provenance) == 1
    assert reference.published_epoch_scale("ddpg", {}) == 1  # unknown: drawn epoch for epoch
    mixed = write_results(tmp_path / "other.csv", _rows("ddpg", "ddpg", ("t",), "t", 5, [1.0]),
                          {"config": {"steps_per_epoch": 500}})
    assert ship.steps_per_epoch([*paths, mixed]) is None

    calls = _spy(monkeypatch, dqn_figures)
    frame = load_any(dqn_results(tmp_path / "dqn", n_epochs=5))
    multitask_figures.plot_returns(dqn_tables.STUDY, frame, tmp_path / "fig", n_boot=10,
                                   published=reference.load("dqn"), published_epoch_scale=2,
                                   draw=dqn_figures.draw_published)
    steps = [s for kind, s in calls if kind == "authors"]
    assert steps and all(list(s) == [0, 2, 4] for s in steps)  # their epochs 0-2 at ours 0, 2, 4 (last: 5)
