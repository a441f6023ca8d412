"""The peer check (ours vs stable-baselines3) and the common DDPG networks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mtrl_bench import peer
from mtrl_bench.algos import ddpg
from mtrl_bench.cli import main as cli_main
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments import ddpg as experiment
from mtrl_bench.nets import DDPG_NETWORKS, ActorCriticSpec, CommonDDPGActor, CommonDDPGCritic

TINY_DDPG = {"epochs": 1, "steps_per_epoch": 12, "test_steps": 15, "warmup_steps": 8, "batch_size": 8,
             "replay_capacity": 64, "input_width": 8, "shared_width": 8}
TINY_DQN = {"epochs": 1, "steps_per_epoch": 12, "test_steps": 15, "learning_starts": 8, "batch_size": 8,
            "replay_capacity": 64, "input_width": 8, "shared_width": 8}


def _mujoco() -> bool:
    try:
        from mtrl_bench.tasks import continuous

        continuous.make_task_env("mujoco_inverted_pendulum").close()
        return True
    except Exception:
        return False


needs_mujoco = pytest.mark.skipif(not _mujoco(), reason="MuJoCo is not installed")


# -- the common networks -------------------------------------------------------------------------

def test_common_critic_is_the_concatenated_relu_mlp_and_ignores_padding():
    spec = ActorCriticSpec(obs_dims=[3, 5], action_dims=[2, 1], input_width=7, shared_width=6)
    critic = CommonDDPGCritic(spec, [0, 1])
    p = {k: v.detach() for k, v in critic.params.items()}
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(2, 2, 4, 5, generator=gen)
    actions = torch.rand(2, 2, 4, 2, generator=gen) * 2 - 1
    obs[:, 0, :, 3:], actions[:, 1, :, 1:] = 0.0, 0.0  # zero padding, as the learner sends
    q = critic(obs, actions)
    assert q.shape == (2, 2, 4)
    for s in range(2):
        for t, (n_obs, n_act) in enumerate([(3, 2), (5, 1)]):
            x = torch.cat([obs[s, t, :, :n_obs], actions[s, t, :, :n_act]], -1)
            w = torch.cat([p["input_weight"][s, t, :n_obs], p["input_weight"][s, t, 5:5 + n_act]])
            h = torch.relu(x @ w + p["input_bias"][s, t])
            h = torch.relu(h @ p["shared0_weight"][s] + p["shared0_bias"][s])
            expected = (h @ p["head_weight"][s, t] + p["head_bias"][s, t])[:, 0]
            torch.testing.assert_close(q[s, t], expected)
            bound = 1 / math.sqrt(n_obs + n_act)  # torch.nn.Linear's default: the task's own fan-in
            assert p["input_weight"][s, t].abs().max() <= bound and p["input_bias"][s, t].abs().max() <= bound
    assert p["input_weight"][:, 0, 3:5].abs().max() == 0 and p["input_weight"][:, 1, 6:].abs().max() == 0
    # padded entries get no weight: T separate input layers, one shared layer, T heads
    assert critic.n_parameters() == (3 + 2 + 1) * 7 + (5 + 1 + 1) * 7 + 7 * 6 + 6 + 2 * (6 + 1)
    assert p["head_weight"].abs().max() > 3e-3  # not the paper's uniform(+-3e-3) heads


def test_common_actor_differs_from_the_papers_only_in_its_head_init():
    spec = ActorCriticSpec(obs_dims=[4], action_dims=[1], input_width=16, shared_width=16)
    actor = CommonDDPGActor(spec, [3])
    head = actor.params["head_weight"]
    assert 3e-3 < head.abs().max() <= 1 / math.sqrt(16)
    out = actor(torch.randn(1, 1, 5, 4))
    assert out.shape == (1, 1, 5, 1) and out.abs().max() <= 1
    assert set(DDPG_NETWORKS) == {"paper", "common"}


def test_network_field_picks_the_classes_and_rejects_unknown_names():
    assert experiment.Config().network == "paper"
    with pytest.raises(ConfigError, match="network"):
        peer.ddpg_config("InvertedPendulum-v5", network="deep")


@needs_mujoco
def test_critic_objective_squared_is_the_squared_error():
    losses = {}
    for objective in ("huber", "squared"):
        config = peer.ddpg_config("InvertedDoublePendulum-v5", critic_objective=objective, **TINY_DDPG)
        learner = ddpg.build_learner(experiment.learner_params(config), [0, 1], experiment.env_factory(config))
        try:
            ddpg.warm_up(learner, config.warmup_steps)
            losses[objective] = ddpg.update(learner)[0]  # the same networks and batch: only the loss differs
        finally:
            learner.env.close()
            learner.eval_env.close()
    # Huber(d) = d^2 / 2 for |d| <= 1 and below it beyond: the squared error is at least twice the Huber loss
    assert (losses["squared"] >= 2 * losses["huber"] * (1 - 1e-5)).all()
    assert (losses["squared"] > 2 * losses["huber"] * 1.01).any()  # rewards ~9 per step: errors beyond 1
    with pytest.raises(ConfigError, match="critic_objective"):
        peer.ddpg_config("InvertedPendulum-v5", critic_objective="l1")


# -- statistics and verdict ----------------------------------------------------------------------

def _scores(ours: list[list[float]], other: list[list[float]]) -> pd.DataFrame:
    frames = [peer._frame(side, [0, 1, 2], np.asarray(values, dtype=float))
              for side, values in (("ours", ours), ("peer", other))]
    return pd.concat(frames, ignore_index=True)


def test_summary_ci_welch_and_verdict():
    same = [[1.0, 2.0, 3.0], [100.0, 100.0, 100.0]]
    summary = peer.summarise(_scores(same, same))
    assert summary.overlap.all() and summary.welch_p.tolist() == [1.0, 1.0]
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) sd / sqrt(n)
    assert summary.ours_ci[0] == pytest.approx(half) and summary.ours_ci[1] == 0.0
    assert peer.verdict(summary).startswith("verdict: match")
    apart = peer.summarise(_scores(same, [[1.0, 2.0, 3.0], [50.0, 51.0, 52.0]]))
    assert apart.overlap.tolist() == [True, False] and apart.welch_p[1] < 0.05
    assert "differ at epochs [1]" in peer.verdict(apart)


def test_unknown_environment_is_a_one_line_error():
    with pytest.raises(ConfigError, match="InvertedPendulum-v5"):
        peer.ddpg_config("Hopper-v5")
    with pytest.raises(ConfigError, match="CartPole-v1"):
        peer.dqn_config("Acrobot-v1")


# -- the plumbing, on a tiny budget (structure, not performance) -----------------------------------

@needs_mujoco
def test_score_is_our_ddpg_evaluation():
    config = peer.ddpg_config("InvertedPendulum-v5", **TINY_DDPG)
    make_env = experiment.env_factory(config)
    first, second = (ddpg.build_learner(experiment.learner_params(config), [0, 1], make_env) for _ in range(2))
    try:
        expected = ddpg.evaluate(first)["return_discounted"][:, 0]

        def policy(obs):
            return ddpg.policy_actions(second, obs.reshape(2, 1, -1)).reshape(2, -1)

        np.testing.assert_allclose(peer.score(policy, second.eval_env, config.test_steps, 1), expected)
    finally:
        for learner in (first, second):
            learner.env.close()
            learner.eval_env.close()


@needs_mujoco
def test_ddpg_comparison_structure_and_reuse(tmp_path, capsys):
    pytest.importorskip("stable_baselines3")
    out = tmp_path / "scores.csv"
    argv = ["peer", "ddpg", "--env", "InvertedPendulum-v5", "--seeds", "0", "1", "--epochs", "1",
            "--steps-per-epoch", "12", "--test-steps", "15", "--network", "common", "--set", "warmup_steps=8",
            "batch_size=8", "replay_capacity=64", "input_width=8", "shared_width=8"]
    assert cli_main(argv + ["--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ddpg on InvertedPendulum-v5" in text and "verdict:" in text
    scores = pd.read_csv(out)
    assert sorted(scores.side.unique()) == ["ours", "peer"]
    assert len(scores) == 2 * 2 * 2 and set(scores.epoch) == {0, 1} and np.isfinite(scores.score).all()
    # --reuse takes the peer's rows instead of training it again
    comparison = peer.compare_ddpg("InvertedPendulum-v5", [0, 1], reuse=scores, **TINY_DDPG)
    assert math.isnan(comparison.seconds["peer"])
    pd.testing.assert_frame_equal(
        comparison.scores[comparison.scores.side == "peer"].reset_index(drop=True),
        scores[scores.side == "peer"][["side", "seed", "epoch", "score"]].reset_index(drop=True))


def test_dqn_comparison_structure():
    pytest.importorskip("stable_baselines3")
    comparison = peer.compare_dqn("CartPole-v1", [0, 1], **TINY_DQN)
    scores = comparison.scores
    assert len(scores) == 2 * 2 * 2 and np.isfinite(scores.score).all()
    # a greedy CartPole policy scores a positive discounted return at every epoch, on both sides
    assert (scores.score > 0).all()
    assert "verdict:" in peer.format_table(comparison)


def test_missing_peer_is_a_one_line_error(monkeypatch):
    import importlib

    real = importlib.import_module

    def no_sb3(name, *args):
        if name == "stable_baselines3":
            raise ModuleNotFoundError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_sb3)
    with pytest.raises(ConfigError, match=r"mtrl-bench\[peer\]"):
        peer.require_peer()


# -- the comparison itself, on a short budget ------------------------------------------------------

@pytest.mark.slow
@needs_mujoco
def test_common_network_ddpg_matches_the_peer_on_inverted_pendulum():
    pytest.importorskip("stable_baselines3")
    comparison = peer.compare_ddpg("InvertedPendulum-v5", [0, 1, 2], network="common", critic_objective="squared",
                                   epochs=5)
    summary = peer.summarise(comparison.scores)
    assert summary.overlap.all(), peer.format_table(comparison)
    last = summary.iloc[-1]
    assert last.ours > summary.ours[0] and last.peer > summary.peer[0]  # both learn
