"""The synthetic testbed: reproducibility, batching independence, the known truth, and its CLIs."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from mtrl_bench import config as cfg
from mtrl_bench.cli import main
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments import testbed
from mtrl_bench.experiments.testbed import COMPLEXITY_METRICS, SyntheticRegressionConfig, make_tasks
from mtrl_bench.nets import SharedMultiTaskNet
from mtrl_bench.optim import MemberAdam
from mtrl_bench.results import read_results

TINY = dict(task_counts=(1, 2, 4), widths=(3,), n_samples=10, n_test=20, epochs=30, log_every=10,
            complexity_draws=10)


def run_testbed(config: SyntheticRegressionConfig, seeds=(0, 1)) -> list[dict]:
    return testbed.run(config, seeds, "cpu").rows


def _final(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    return frame[frame.step == frame.step.max()]


def test_same_seed_gives_the_same_numbers():
    first = pd.DataFrame(run_testbed(SyntheticRegressionConfig(**TINY)))
    second = pd.DataFrame(run_testbed(SyntheticRegressionConfig(**TINY)))
    pd.testing.assert_frame_equal(first, second)


def test_a_seed_trained_alone_matches_the_batched_seed():
    batched = pd.DataFrame(run_testbed(SyntheticRegressionConfig(**TINY)))
    alone = pd.DataFrame(run_testbed(SyntheticRegressionConfig(**TINY), seeds=(1,)))
    batched = batched[batched.seed == 1].reset_index(drop=True)
    errors = ["train_mse", "test_mse", "excess_risk_noiseless"]
    merged = batched[batched.metric.isin(errors)].merge(alone[alone.metric.isin(errors)],
                                                         on=["n_tasks", "task", "step", "metric"])
    np.testing.assert_allclose(merged.value_x, merged.value_y, rtol=1e-4, atol=1e-6)


def test_every_task_count_is_measured_on_the_same_task_pool():
    final = _final(run_testbed(SyntheticRegressionConfig(**TINY)))
    tasks_per_t = final[final.metric == "test_mse"].groupby("n_tasks").task.apply(lambda s: sorted(set(s)))
    assert all(tasks == ["0", "1", "2", "3"] for tasks in tasks_per_t)


def test_noise_free_targets_are_the_noisy_ones_minus_noise_of_the_stated_variance():
    config = SyntheticRegressionConfig(**{**TINY, "n_test": 4000, "noise_std": 0.3})
    tasks = make_tasks(config, [0, 1])
    noise = tasks.test_targets - tasks.test_clean_targets
    assert abs(noise.std().item() - 0.3) < 0.01
    assert abs(noise.mean().item()) < 0.01


def test_excess_risk_is_test_error_minus_noise_variance_and_training_reduces_it():
    config = SyntheticRegressionConfig(**{**TINY, "epochs": 150, "log_every": 150, "learning_rate": 1e-2})
    frame = pd.DataFrame(run_testbed(config))
    wide = frame[frame.task != "all"].pivot_table(index=["n_tasks", "task", "seed", "step"], columns="metric",
                                                  values="value")
    np.testing.assert_allclose(wide.excess_risk, wide.test_mse - 0.01, atol=1e-6)
    start, end = wide.xs(0, level="step"), wide.xs(150, level="step")
    assert end.train_mse.mean() < 0.5 * start.train_mse.mean()
    assert end.excess_risk_noiseless.mean() < start.excess_risk_noiseless.mean()


def test_complexity_plug_ins_are_recorded_and_non_negative():
    final = _final(run_testbed(SyntheticRegressionConfig(**TINY)))
    plug_ins = final[final.task == "all"]
    assert set(plug_ins.metric) == set(COMPLEXITY_METRICS)
    assert (plug_ins.value >= 0).all()
    assert len(plug_ins) == len(COMPLEXITY_METRICS) * 3 * 2  # metrics x T values x seeds


def test_shared_input_map_records_errors_only():
    frame = pd.DataFrame(run_testbed(SyntheticRegressionConfig(**{**TINY, "input_map": "shared"})))
    assert set(frame.metric) == {"train_mse", "test_mse", "excess_risk", "excess_risk_noiseless"}
    assert set(frame.algorithm) == {"erm-shared-input-map"}


def test_learners_are_the_shared_network_trained_by_member_adam():
    group = testbed.GroupLearners(SyntheticRegressionConfig(**TINY), [0, 1], n_tasks=2, width=3,
                                  device=torch.device("cpu"))
    assert isinstance(group.net, SharedMultiTaskNet) and isinstance(group.optimizer, MemberAdam)
    assert group.net.n_members == 2 * 2  # seeds x groups of 2 tasks in the pool of 4
    assert group.net.params["input_weight"].shape == (4, 2, 4, 3) and group.net.params["head_weight"].shape == (
        4, 2, 3, 1)


def test_a_diverging_seed_stops_and_the_others_go_on(monkeypatch):
    make = testbed.make_tasks

    def poisoned(config, seeds):
        tasks = make(config, seeds)
        tasks.train_targets[1] = float("nan")
        return tasks

    monkeypatch.setattr(testbed, "make_tasks", poisoned)
    result = testbed.run(SyntheticRegressionConfig(**TINY), [0, 1], "cpu")
    frame = pd.DataFrame(result.rows)
    assert result.failed_seeds == {1: 1}
    diverged = frame[frame.metric == "diverged"]
    assert (diverged.seed == 1).all() and (diverged.step == 1).all() and (diverged.value == 1).all()
    assert len(diverged) == 3 * 4  # every T, one row per task of the pool
    assert frame[(frame.seed == 1) & (frame.metric != "diverged")].step.max() == 0
    monkeypatch.setattr(testbed, "make_tasks", make)
    alone = pd.DataFrame(run_testbed(SyntheticRegressionConfig(**TINY), seeds=(0,)))
    mine = frame[(frame.seed == 0)].reset_index(drop=True)
    np.testing.assert_allclose(mine.value, alone.value, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("change, message", [
    ({"task_counts": (1, 3, 4)}, "must divide the largest"), ({"task_counts": ()}, "task_counts must not be empty"),
    ({"widths": (3, 3)}, "widths has repeated values"), ({"noise_std": -1.0}, "testbed.noise_std must be >= 0"),
    ({"activation": "identity"}, "testbed.activation must be one of"), ({"input_map": "both"}, "input_map"),
    ({"epochs": 0}, "testbed.epochs must be >= 1"), ({"learning_rate": float("inf")}, "finite"),
    ({"seeds": [0]}, "unknown key"),
])
def test_invalid_testbed_configs_raise_a_clear_error(change, message):
    with pytest.raises(ConfigError, match=message):
        cfg.build(testbed.Config, {**TINY, **change}, where="testbed")


def test_the_config_record_is_its_own_vocabulary():
    config = cfg.build(testbed.Config, {**TINY, "task_counts": [1, 2, 4]})
    assert config.task_counts == (1, 2, 4)
    assert cfg.build(testbed.Config, cfg.record(config)) == config
    assert testbed.EXPERIMENT == "testbed" and "seeds" not in cfg.record(config)


def test_cli_run_testbed_writes_a_tidy_results_file(tmp_path):
    out = tmp_path / "testbed.csv"
    torch.set_num_threads(1)
    code = main(["run", "testbed", "--task-counts", "1", "2", "--widths", "3", "--seeds", "0", "--n-samples", "8",
                 "--n-test", "10", "--epochs", "5", "--log-every", "5", "--complexity-draws", "5",
                 "--device", "cpu", "--out", str(out)])
    assert code == 0
    frame, prov = read_results(out)
    assert set(frame.experiment) == {"testbed"}
    assert prov["config"]["task_counts"] == [1, 2]
    assert {"excess_risk", "test_mse", "train_mse"} <= set(frame.metric)


def test_cli_bound_avi_prints_the_closed_form_value(capsys):
    assert main(["bound", "avi", "--error", "0.01", "--iterations", "50", "--gamma", "0.95", "--json"]) == 0
    terms = json.loads(capsys.readouterr().out)
    assert terms["total"] == pytest.approx(2414.8117988610093, rel=1e-9)
    assert terms["r_star"] == pytest.approx(0.5, abs=1e-3)


def test_cli_bound_approx_prints_one_row_per_task_count(capsys):
    assert main(["bound", "approx", "--n-samples", "50", "--n-tasks", "1", "4", "--scaling", "rates",
                 "--input-map-output-norm", "1", "--shared-gaussian-ratio", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["n_tasks"] for row in rows] == [1, 4]
    assert rows[1]["shared_representation"] == pytest.approx(rows[0]["shared_representation"] / 2)


def test_cli_reports_bad_bound_arguments_as_errors(capsys):
    assert main(["bound", "avi", "--error", "0.01", "--iterations", "5", "--gamma", "1.5"]) == 2
    assert "discount" in capsys.readouterr().err
    assert main(["bound", "approx", "--n-samples", "50", "--n-tasks", "0"]) == 2
    assert "n_tasks" in capsys.readouterr().err
