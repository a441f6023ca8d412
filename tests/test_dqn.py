"""MDQN / DQN: learning smoke tests, batched seeds = separate runs, evaluation score, divergence, CLI."""

import numpy as np
import pandas as pd
import pytest
import torch

from mtrl_bench import config as cfg
from mtrl_bench.algos import dqn
from mtrl_bench.algos.dqn import DQNConfig, build_learner, evaluate, network_spec
from mtrl_bench.cli import main as cli_main
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments import dqn as experiment
from mtrl_bench.results import COLUMNS, read_results, write_results
from mtrl_bench.tasks.car_on_hill import dynamics as car_on_hill

FIVE = ("cartpole", "acrobot", "mountaincar", "car_on_hill", "inverted_pendulum")
SMALL = dict(epochs=3, steps_per_epoch=100, test_steps=50, replay_capacity=500, learning_starts=50,
             batch_size=32)


def run_dqn(config, seeds):
    return experiment.run(config, seeds, "cpu")


def td_loss_by_epoch(result) -> pd.Series:
    rows = pd.DataFrame(result.rows)
    return rows[rows.metric == "td_loss"].groupby("step")["value"].sum()


@pytest.mark.parametrize("tasks", [FIVE, ("cartpole",)], ids=["mdqn", "dqn"])
def test_td_loss_falls_on_a_fixed_seed(tasks):
    # A frozen target makes each update a regression step, so the loss must fall if learning works.
    config = DQNConfig(tasks=tasks, target_update_every=10**6, **SMALL)
    loss = td_loss_by_epoch(run_dqn(config, [0]))
    assert config.algorithm == ("mdqn" if len(tasks) > 1 else "dqn")
    assert loss[3] < 0.5 * loss[1]


def test_double_dqn_td_loss_falls_on_a_fixed_seed():
    config = DQNConfig(tasks=("acrobot",), double=True, target_update_every=50, **{**SMALL, "epochs": 4})
    loss = td_loss_by_epoch(run_dqn(config, [0]))
    assert loss[4] < 0.8 * loss[1]


def test_batched_seeds_equal_separate_runs():
    config = DQNConfig(tasks=("cartpole", "acrobot", "inverted_pendulum"), epochs=2, steps_per_epoch=60,
                       test_steps=100, replay_capacity=300, learning_starts=40, batch_size=16,
                       target_update_every=20, shared_width=16, input_width=16)
    together = pd.DataFrame(run_dqn(config, [3, 7]).rows)
    separate = pd.concat([pd.DataFrame(run_dqn(config, [seed]).rows) for seed in (3, 7)])
    keys = ["seed", "task", "step", "metric"]
    merged = together.merge(separate, on=keys, suffixes=("_batched", "_alone"), validate="one_to_one")
    assert len(merged) == len(together) == len(separate) > 0
    assert np.array_equal(merged.value_batched, merged.value_alone)


def test_same_seed_gives_the_same_numbers():
    config = DQNConfig(tasks=("mountaincar", "car_on_hill"), epochs=1, steps_per_epoch=50, test_steps=50,
                       replay_capacity=200, learning_starts=20, batch_size=8, shared_width=8, input_width=8)
    assert run_dqn(config, [1]).rows == run_dqn(config, [1]).rows


def test_evaluation_score_is_the_mean_discounted_return_of_completed_episodes():
    # Car-On-Hill is deterministic: a policy that always pushes right gives the same episode each time.
    config = DQNConfig(tasks=("car_on_hill",), test_steps=100, shared_width=8, input_width=8)
    learner = build_learner(config, [0])
    with torch.no_grad():
        learner.net.params["head_bias"][:, :, 1] = 1e6
    state, length, reward = np.array(car_on_hill.START_STATE), 0, 0.0
    while True:
        p = car_on_hill.VARIANTS[0]
        state, reward, absorbing = car_on_hill.step(state, np.array(1), p.mass, p.gravity, p.action)
        length += 1
        if absorbing or length == car_on_hill.HORIZON:
            break
    scores = evaluate(learner)
    completed = 100 // length  # the unfinished last episode is dropped
    assert scores["episodes_completed"][0, 0] == completed
    assert scores["return_discounted"][0, 0] == pytest.approx(float(reward) * 0.95 ** (length - 1))
    assert scores["return_undiscounted"][0, 0] == float(reward)


def test_no_completed_episode_scores_zero():
    config = DQNConfig(tasks=("inverted_pendulum",), test_steps=3, shared_width=8, input_width=8)
    scores = evaluate(build_learner(config, [0, 1]))
    assert np.all(scores["episodes_completed"] == 0) and np.all(scores["return_discounted"] == 0)


def test_a_diverging_seed_is_recorded_as_failed_and_the_others_go_on(tmp_path, monkeypatch):
    config = DQNConfig(tasks=("cartpole", "mountaincar"), epochs=2, steps_per_epoch=20, test_steps=30,
                       replay_capacity=100, learning_starts=20, batch_size=8, shared_width=8, input_width=8)
    fill_replay = dqn.fill_replay

    def poison_seed_one_after_the_first_evaluation(learner, n_steps):
        with torch.no_grad():
            learner.net.params["shared0_weight"][1] = float("nan")
        fill_replay(learner, n_steps)

    monkeypatch.setattr(dqn, "fill_replay", poison_seed_one_after_the_first_evaluation)
    result = run_dqn(config, [0, 1, 2])
    rows = pd.DataFrame(result.rows)
    assert result.failed_seeds == {1: 1}
    diverged = rows[rows.metric == "diverged"].set_index(["seed", "task"])
    assert diverged.loc[1].value.tolist() == [1.0, 1.0] and diverged.loc[1].step.tolist() == [1, 1]
    # Only the diverged seed has diverged rows (one meaning of diverged for every experiment).
    assert set(diverged.index.get_level_values("seed")) == {1}
    assert rows[(rows.seed == 1) & (rows.step >= 1) & (rows.metric != "diverged")].empty
    assert set(rows[rows.metric == "td_loss"].seed) == {0, 2} and rows[rows.seed != 1].step.max() == 2
    assert np.isfinite(rows.value).all()
    write_results(tmp_path / "r.csv", rows, {"failed_seeds": result.failed_seeds})


def test_network_is_the_papers():
    spec = network_spec(DQNConfig(shared_width=40))
    assert spec.obs_dim == 6 and list(spec.n_actions) == [2, 3, 3, 2, 3]
    assert spec.input_width == 80 and tuple(spec.shared_widths) == (40, 40)
    assert (spec.input_activation, tuple(spec.shared_activations), spec.output_activation) == (
        "relu", ("relu", "sigmoid"), "identity")


def test_epsilon_decays_linearly_then_stays():
    config = DQNConfig()
    assert config.epsilon(0) == 1.0 and config.epsilon(2500) == pytest.approx(0.505)
    assert config.epsilon(5000) == pytest.approx(0.01) and config.epsilon(10**6) == pytest.approx(0.01)


@pytest.mark.parametrize("bad, message", [
    (dict(batch_size=0), "dqn.batch_size must be >= 1"), (dict(epochs=-1), "dqn.epochs must be >= 0"),
    (dict(learning_starts=600, replay_capacity=500), "exceeds the replay capacity"),
    (dict(learning_rate=float("nan")), "dqn.learning_rate must be a finite number"),
    (dict(epsilon_end=0.5, epsilon_start=0.1), "epsilon_end"), (dict(tasks=[]), "dqn.tasks must not be empty"),
    (dict(tasks=["cartpole", "cartpole"]), "tasks repeat"), (dict(target_update=5), "unknown key"),
])
def test_bad_hyper_parameters_are_config_errors_naming_the_key(bad, message):
    with pytest.raises(ConfigError, match=message):
        cfg.build(experiment.Config, bad, where="dqn")


def test_the_config_record_is_its_own_vocabulary():
    config = cfg.build(experiment.Config, {"tasks": ["cartpole"], "shared_width": "8", "double": "true"})
    assert config.tasks == ("cartpole",) and config.shared_width == 8 and config.double is True
    assert cfg.build(experiment.Config, cfg.record(config)) == config
    assert experiment.EXPERIMENT == "dqn"


def test_cli_run_writes_tidy_results(tmp_path, capsys):
    out = tmp_path / "runs" / "mdqn.csv"
    code = cli_main(["run", "dqn", "--tasks", "cartpole", "car_on_hill", "--shared-width", "8", "--input-width", "8",
                     "--seeds", "0", "1", "--epochs", "1", "--steps-per-epoch", "20", "--test-steps", "30",
                     "--learning-starts", "10", "--batch-size", "4", "--replay-capacity", "50",
                     "--device", "cpu", "--out", str(out)])
    assert code == 0
    frame, prov = read_results(out)
    assert list(frame.columns) == COLUMNS
    assert set(frame.metric) == {"return_discounted", "return_undiscounted", "episodes_completed", "td_loss"}
    assert (frame.experiment == "dqn").all() and (frame.algorithm == "mdqn").all()
    assert (frame.variants == "cartpole+car_on_hill").all() and (frame.n_tasks == 2).all()
    assert sorted(frame.step.unique()) == [0, 1] and (frame.width == 8).all()
    assert prov["config"]["tasks"] == ["cartpole", "car_on_hill"] and prov["failed_seeds"] == {}


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    assert cli_main(["run", "dqn", "--tasks", "pong", "--out", str(tmp_path / "x.csv")]) == 2
    assert "unknown task 'pong'" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_cli_bench_prints_speed_figures(capsys):
    code = cli_main(["bench", "dqn", "--tasks", "cartpole", "mountaincar", "--shared-width", "8", "--input-width", "8",
                     "--batch-size", "4", "--seed-counts", "1", "2", "--steps", "3", "--warmup", "1",
                     "--repeats", "1", "--device", "cpu"])
    assert code == 0
    out = capsys.readouterr().out
    assert "loop env-steps/s" in out and "loop/ceiling" in out and "speed-up/seed" in out
    assert len(out.strip().splitlines()) == 3
