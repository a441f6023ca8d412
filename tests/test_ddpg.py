"""MDDPG / DDPG: networks, replay, OU noise, seeds alone = in a batch, frozen seeds, padded actions, learning."""

from __future__ import annotations

import zlib

import gymnasium as gym
import numpy as np
import pytest
import torch

from mtrl_bench import config as cfg
from mtrl_bench.algos import ddpg
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments import ddpg as experiment
from mtrl_bench.nets import ActorCriticSpec, DDPGActor, DDPGCritic
from mtrl_bench.optim import MemberAdam
from mtrl_bench.replay import MultiTaskReplay

try:
    gym.make("InvertedPendulum-v5").close()
    INVERTED_PENDULUM = "InvertedPendulum-v5"
except Exception:  # mujoco missing: gymnasium's classic pendulum needs no engine
    INVERTED_PENDULUM = "Pendulum-v1"


class GymTasks:
    """A plain sequential stepper of S seeds x T gymnasium tasks with the learner's interface
    (:class:`mtrl_bench.algos.ddpg.ContinuousTasks`), for the tests: observations zero-padded, actions
    clipped to [-1, 1], scaled to each task's bounds, only the task's own dimensions passed on."""

    def __init__(self, env_ids, seeds, key, action_log=None):
        self.envs = [[gym.make(env_id) for env_id in env_ids] for _ in seeds]
        self.seeds, self.key, self.action_log = list(seeds), key, action_log
        first = self.envs[0]
        self.obs_dims = [int(np.prod(e.observation_space.shape)) for e in first]
        self.own_action_dims = [int(np.prod(e.action_space.shape)) for e in first]
        self.action_dims = list(self.own_action_dims)
        self.obs_dim, self.action_dim = max(self.obs_dims), max(self.action_dims)
        self.n_seeds, self.n_tasks = len(seeds), len(env_ids)
        self.gammas = np.full(self.n_tasks, 0.99)
        self.obs = np.zeros((self.n_seeds, self.n_tasks, self.obs_dim), dtype=np.float32)
        self._seeded = False

    def _put(self, s, t, observation):
        self.obs[s, t] = 0.0
        self.obs[s, t, :self.obs_dims[t]] = observation

    def reset(self):
        for s, row in enumerate(self.envs):
            for t, env in enumerate(row):
                seed = None if self._seeded else zlib.crc32(f"{self.seeds[s]}/{self.key}/{t}".encode())
                self._put(s, t, env.reset(seed=seed)[0])
        self._seeded = True
        return self.obs.copy()

    def step(self, actions):
        actions = np.asarray(actions)
        assert actions.shape == (self.n_seeds, self.n_tasks, self.action_dim)
        if self.action_log is not None:
            self.action_log.append(actions.copy())
        next_obs = np.zeros_like(self.obs)
        rewards = np.zeros((self.n_seeds, self.n_tasks))
        terminated = np.zeros((self.n_seeds, self.n_tasks), dtype=bool)
        truncated = np.zeros_like(terminated)
        self.obs = self.obs.copy()
        for s, row in enumerate(self.envs):
            for t, env in enumerate(row):
                low, high = env.action_space.low, env.action_space.high
                own = np.clip(actions[s, t, :self.own_action_dims[t]], -1.0, 1.0)
                observation, rewards[s, t], terminated[s, t], truncated[s, t], _ = env.step(
                    (low + (own + 1.0) / 2.0 * (high - low)).astype(env.action_space.dtype))
                next_obs[s, t, :self.obs_dims[t]] = observation
                self._put(s, t, observation)
                if terminated[s, t] or truncated[s, t]:
                    self._put(s, t, env.reset()[0])
        return next_obs, rewards, terminated, truncated

    def close(self):
        for row in self.envs:
            for env in row:
                env.close()


def factory(env_ids, action_log=None):
    return lambda seeds, key: GymTasks(env_ids, seeds, key, action_log if key == "train" else None)


SMALL = dict(input_width=16, shared_width=12, epochs=2, steps_per_epoch=30, test_steps=40, replay_capacity=200,
             warmup_steps=10, batch_size=8)


def small_config(**kw):
    return cfg.build(experiment.Config, {**SMALL, **kw})


def params(**kw) -> ddpg.DDPGParams:
    return experiment.learner_params(small_config(**kw))


# -- networks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("obs_dims, action_dims, actor, critic", [
    ((5, 9, 5), (1, 1, 1), 315_203, 316_703),  # the pendulum group (the paper's counts)
    ((15, 24, 17), (4, 6, 6), 344_918, 345_403),  # the walker group
])
def test_paper_networks_have_the_published_parameter_counts(obs_dims, action_dims, actor, critic):
    spec = ActorCriticSpec(obs_dims, action_dims)
    assert DDPGActor(spec, [0]).n_parameters() == actor
    assert DDPGCritic(spec, [0]).n_parameters() == critic


def test_shapes_init_bounds_and_shared_names():
    spec = ActorCriticSpec((3, 5), (1, 2), input_width=20, shared_width=10)
    actor, critic = DDPGActor(spec, [0, 1]), DDPGCritic(spec, [0, 1])
    obs = torch.randn(2, 2, 7, 5)
    actions = actor(obs)
    assert actions.shape == (2, 2, 7, 2) and critic(obs, actions).shape == (2, 2, 7)
    assert (actions.abs() <= 1).all() and (actions[:, 0, :, 1] == 0).all()
    p = actor.params
    assert p["input_weight"][:, 0, :3].abs().max() <= 1 / np.sqrt(3) and (p["input_weight"][:, 0, 3:] == 0).all()
    assert p["shared0_weight"].abs().max() <= 1 / np.sqrt(20) and p["head_weight"].abs().max() <= 3e-3
    assert (critic.params["action_weight"][:, 0, 1:] == 0).all()
    assert critic.params["action_weight"][:, 1].abs().max() <= 1 / np.sqrt(2)
    assert sorted(actor.shared_parameter_names()) == sorted(critic.shared_parameter_names()) == [
        "shared0_bias", "shared0_weight"]
    # Members come from their own seeds; actor and critic draw from different streams.
    assert torch.equal(DDPGActor(spec, [1]).params["shared0_weight"][0], p["shared0_weight"][1])
    assert not torch.equal(p["shared0_weight"][0], p["shared0_weight"][1])


def test_padded_inputs_get_no_gradient_and_stay_zero_under_weight_decay():
    spec = ActorCriticSpec((3, 5), (1, 2), input_width=8, shared_width=6)
    actor, critic = DDPGActor(spec, [0]), DDPGCritic(spec, [0])
    opt = MemberAdam(critic.parameters(), lr=1e-2, weight_decay=1e-2)
    obs = torch.randn(1, 2, 9, 5)
    obs[:, 0, :, 3:] = 0.0  # task 0 has 3 observation dimensions
    for _ in range(5):
        opt.zero_grad()
        loss = critic(obs, actor(obs).detach()).pow(2).mean()
        loss.backward()
        assert (critic.params["input_weight"].grad[:, 0, 3:] == 0).all()
        assert (critic.params["action_weight"].grad[:, 0, 1:] == 0).all()
        opt.step()
    assert (critic.params["input_weight"][:, 0, 3:] == 0).all()
    assert (critic.params["action_weight"][:, 0, 1:] == 0).all()
    # The actor's padded outputs carry no gradient from -Q.
    (-critic(obs, actor(obs)).mean()).backward()
    assert (actor.params["head_weight"].grad[:, 0, :, 1:] == 0).all()


def test_member_adam_weight_decay_matches_torch_adam():
    spec = ActorCriticSpec((4,), (2,), input_width=8, shared_width=6)
    ours_net, ref_net = DDPGCritic(spec, [3]), DDPGCritic(spec, [3])
    ours = MemberAdam(ours_net.parameters(), lr=1e-2, weight_decay=1e-2)
    theirs = torch.optim.Adam(ref_net.parameters(), lr=1e-2, weight_decay=1e-2)
    obs, act = torch.randn(1, 1, 16, 4), torch.randn(1, 1, 16, 2)
    for _ in range(30):
        for net, opt in ((ours_net, ours), (ref_net, theirs)):
            opt.zero_grad()
            net(obs, act).pow(2).mean().backward()
            opt.step()
    for name in ours_net.params:
        torch.testing.assert_close(ours_net.params[name], ref_net.params[name], rtol=0, atol=1e-6)


# -- replay and noise ----------------------------------------------------------------------------

def test_replay_round_trips_continuous_actions():
    replay = MultiTaskReplay(2, 3, capacity=4, obs_dim=5, action_dim=2)
    rng = np.random.default_rng(0)
    stored = []
    for _ in range(6):  # wraps around
        step = (rng.normal(size=(2, 3, 5)), rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3)),
                rng.normal(size=(2, 3, 5)), rng.random((2, 3)) < 0.5)
        replay.add(*step)
        stored.append(step)
    assert replay.actions.dtype == torch.float32 and replay.size == 4
    index = torch.tensor([0, 1, 2, 3]).expand(2, 3, 4)
    batch = replay.sample(index)
    # Slot i holds step 4 + i for i < 2 (overwritten) and step i for i >= 2.
    expect = [stored[4], stored[5], stored[2], stored[3]]
    for i, (obs, actions, rewards, next_obs, terminated) in enumerate(expect):
        torch.testing.assert_close(batch.actions[:, :, i], torch.as_tensor(actions, dtype=torch.float32))
        torch.testing.assert_close(batch.obs[:, :, i], torch.as_tensor(obs, dtype=torch.float32))
        torch.testing.assert_close(batch.next_obs[:, :, i], torch.as_tensor(next_obs, dtype=torch.float32))
        torch.testing.assert_close(batch.rewards[:, :, i], torch.as_tensor(rewards, dtype=torch.float32))
        torch.testing.assert_close(batch.terminated[:, :, i], torch.as_tensor(terminated, dtype=torch.float32))
    with pytest.raises(ConfigError, match="action_dim"):
        MultiTaskReplay(1, 1, 4, 2, action_dim=0)


def test_ou_noise_statistics_and_per_task_reset():
    noise = ddpg.OUNoise([0, 1], n_tasks=2, action_dim=1, theta=0.15, sigma=0.2, dt=0.01)
    draws = np.stack([noise.sample() for _ in range(200_000)])  # (N, S, T, A)
    # Stationary law N(0, sigma^2 / (2 theta - theta^2 dt)) and lag-one autocorrelation 1 - theta dt.
    std = 0.2 / np.sqrt(2 * 0.15 - 0.15 ** 2 * 0.01)
    tail = draws[20_000:]
    assert abs(tail.std() / std - 1) < 0.1 and abs(tail.mean()) < 0.1
    x = tail[:, 0, 0, 0]
    assert abs(np.corrcoef(x[:-1], x[1:])[0, 1] - (1 - 0.15 * 0.01)) < 1e-3
    before = noise.state.copy()
    noise.reset(np.array([[False, True], [False, False]]))
    assert noise.state[0, 1, 0] == 0 and np.array_equal(noise.state[0, 0], before[0, 0])
    assert np.array_equal(noise.state[1], before[1])
    # Seed 1's stream is its own.
    alone = ddpg.OUNoise([1], 2, 1)
    assert np.array_equal(np.stack([alone.sample() for _ in range(300)])[:, 0], draws[:300, 1])


# -- the learner ---------------------------------------------------------------------------------

def test_a_seed_gives_the_same_numbers_alone_or_in_a_batch():
    config = small_config(epochs=1)
    ids = ["Pendulum-v1", INVERTED_PENDULUM]
    together = experiment.run(config, [3, 7], make_env=factory(ids), tasks=ids).rows
    alone = experiment.run(config, [7], make_env=factory(ids), tasks=ids).rows
    pick = sorted((r["task"], r["step"], r["metric"], r["value"]) for r in together if r["seed"] == 7)
    assert pick == sorted((r["task"], r["step"], r["metric"], r["value"]) for r in alone)
    assert {r["metric"] for r in alone} == {"return_discounted", "return_undiscounted", "episodes", "critic_loss",
                                            "actor_loss"}
    assert {r["algorithm"] for r in alone} == {"mddpg"}


def test_padded_dimensions_are_zero_in_what_the_learner_sends():
    log = []

    class Wider(GymTasks):
        """Task 1 declares 3 action dimensions (it uses the first), so task 0's are padded from 1 to 3."""

        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.action_dims = [1, 3]
            self.action_dim = 3

    ids = ["Pendulum-v1", "Pendulum-v1"]
    learner = ddpg.build_learner(params(), [0, 1], lambda seeds, key: Wider(ids, seeds, key, log))
    ddpg.warm_up(learner, 12)
    ddpg.learn(learner, 6)
    sent = np.stack(log)
    assert sent.shape == (18, 2, 2, 3)
    assert (sent[:, :, 0, 1:] == 0).all() and (sent[:, :, 1] != 0).all()
    assert (learner.replay.actions[:, 0, :18, 1:] == 0).all()


def test_a_diverging_seed_is_recorded_and_frozen_while_the_others_go_on(monkeypatch):
    config = small_config(epochs=2)
    ids = ["Pendulum-v1"]
    original = ddpg.update
    calls = {"n": 0}

    def poisoned(learner):
        calls["n"] += 1
        if calls["n"] == 35:  # during epoch 2: seed 1's critic becomes NaN
            with torch.no_grad():
                learner.critic.params["head_bias"][1] = float("nan")
        return original(learner)

    with monkeypatch.context() as patch:
        patch.setattr(ddpg, "update", poisoned)
        result = experiment.run(config, [0, 1], make_env=factory(ids), tasks=ids)
    assert result.failed_seeds == {1: 2}
    diverged = [r for r in result.rows if r["metric"] == "diverged"]
    assert [(r["seed"], r["step"]) for r in diverged] == [(1, 2)]
    assert not [r for r in result.rows if r["seed"] == 1 and r["step"] == 2 and r["metric"] != "diverged"]
    seed0 = [r for r in result.rows if r["seed"] == 0 and r["step"] == 2]
    assert seed0 and all(np.isfinite(r["value"]) for r in seed0)
    # Seed 0 is unaffected by seed 1's failure: the same as alone.
    alone = experiment.run(config, [0], make_env=factory(ids), tasks=ids)
    assert sorted(r["value"] for r in alone.rows) == sorted(r["value"] for r in result.rows if r["seed"] == 0)


def test_a_frozen_seed_keeps_its_parameters_and_sends_zero_actions():
    log = []
    learner = ddpg.build_learner(params(), [0, 1], factory(["Pendulum-v1"], log))
    ddpg.warm_up(learner, 10)
    with torch.no_grad():
        learner.critic.params["head_bias"][1] = float("nan")
    ddpg.update(learner)
    assert learner.active.tolist() == [True, False]
    nets = (learner.actor, learner.critic, learner.actor_target, learner.critic_target)
    before = [{k: v.detach().clone() for k, v in net.params.items()} for net in nets]
    ddpg.learn(learner, 4)
    for net, old in zip(nets, before):
        for name, value in net.params.items():
            torch.testing.assert_close(value[1], old[name][1], rtol=0, atol=0, equal_nan=True)
            assert not torch.equal(value[0], old[name][0])
    assert (log[-1][1] == 0).all() and (log[-1][0] != 0).all()


def test_a_step_ended_by_an_unstable_simulation_is_stored_with_weight_zero():
    class Unstable(GymTasks):
        def step(self, actions):
            out = super().step(actions)
            self.unstable = np.zeros((self.n_seeds, self.n_tasks), dtype=bool)
            self.unstable[0, 1] = len(self.action_log) == 3
            return out

    learner = ddpg.build_learner(params(), [0], lambda seeds, key: Unstable(["Pendulum-v1"] * 2, seeds, key, []))
    ddpg.warm_up(learner, 5)
    valid = learner.replay.valid[0, :, :5]
    assert valid[1, 2] == 0 and valid.sum() == 9
    critic_loss, _ = ddpg.update(learner)
    assert torch.isfinite(critic_loss).all()


def test_evaluation_counts_the_unfinished_last_episode():
    class Constant:
        """One task, reward 1 per step, episodes of 4 steps."""

        n_seeds, n_tasks, obs_dim, action_dim, obs_dims, action_dims = 1, 1, 1, 1, [1], [1]
        gammas = np.array([0.5])

        def __init__(self, seeds, key):
            self.obs, self.t = np.zeros((1, 1, 1), dtype=np.float32), 0

        def reset(self):
            self.t = 0
            return self.obs

        def step(self, actions):
            self.t += 1
            ended = np.array([[self.t % 4 == 0]])
            return self.obs, np.ones((1, 1)), np.zeros((1, 1), dtype=bool), ended

        def close(self):
            pass

    learner = ddpg.build_learner(params(test_steps=10), [0], Constant)
    scores = ddpg.evaluate(learner)
    # Episodes: 4, 4, 2 steps -> discounted 1.875, 1.875, 1.5; undiscounted 4, 4, 2.
    assert scores["episodes"][0, 0] == 3
    assert scores["return_undiscounted"][0, 0] == pytest.approx(10 / 3)
    assert scores["return_discounted"][0, 0] == pytest.approx((1.875 * 2 + 1.5) / 3)


def test_critic_presets_and_bad_config():
    def critic(config):
        params = experiment.learner_params(config)
        return params.critic_lr, params.critic_weight_decay

    assert critic(small_config()) == (1e-4, 0.0)
    assert critic(small_config(critic_preset="paper")) == (1e-3, 1e-2)
    assert critic(small_config(critic_preset="paper", critic_lr=5e-4)) == (5e-4, 1e-2)
    learner = ddpg.build_learner(experiment.learner_params(small_config(critic_preset="paper")), [0],
                                 factory(["Pendulum-v1"]))
    assert (learner.critic_optimizer.lr, learner.critic_optimizer.weight_decay) == (1e-3, 1e-2)
    assert (learner.actor_optimizer.lr, learner.actor_optimizer.weight_decay) == (1e-4, 0.0)
    with pytest.raises(ConfigError, match="critic_preset"):
        small_config(critic_preset="mine")
    with pytest.raises(ConfigError, match="warmup_steps"):
        small_config(warmup_steps=300)
    with pytest.raises(ConfigError, match="not in group 'pendulum_mujoco'"):
        small_config(tasks=["hopper_stand"])
    with pytest.raises(ConfigError, match="tau"):
        small_config(tau=0.0)
    with pytest.raises(ConfigError, match="actor_lr"):
        cfg.build(experiment.Config, {"actor_lr": "nan"})


def test_short_fixed_seed_run_on_inverted_pendulum_learns():
    """Two seeds, 3,000 steps each on MuJoCo's InvertedPendulum through the group's stepper: they balance
    longer than the untrained actor does (higher rates than the paper's, to learn within the test; measured
    here: 26 -> 49 and 23 -> 99 steps)."""
    pytest.importorskip("mujoco")
    config = small_config(group="pendulum_mujoco", tasks=["mujoco_inverted_pendulum"], input_width=64,
                          shared_width=64, epochs=4, steps_per_epoch=750, test_steps=1000, replay_capacity=10_000,
                          warmup_steps=64, batch_size=64, actor_lr=1e-3, critic_lr=3e-3, tau=1e-2)
    result = experiment.run(config, [0, 2])
    assert result.failed_seeds == {} and result.extra["unstable_episodes"] == 0
    scores = {(r["seed"], r["step"]): r["value"] for r in result.rows if r["metric"] == "return_undiscounted"}
    untrained = np.mean([scores[seed, 0] for seed in (0, 2)])
    trained = np.mean([max(scores[seed, 3], scores[seed, 4]) for seed in (0, 2)])
    assert trained > untrained + 15, scores


def test_benchmark_prints_env_and_learner_time_with_its_baselines():
    import io

    from mtrl_bench.bench import ddpg as bench

    ids = [INVERTED_PENDULUM, "Pendulum-v1"]
    out = io.StringIO()
    figures = bench.run(seed_counts=(1, 2), steps=3, warmup=1, repeats=1, input_width=16, shared_width=12,
                        stream=out, make_env=factory(ids), bare_env=lambda: gym.make(INVERTED_PENDULUM))
    rows = figures["rows"]
    assert [r["n_seeds"] for r in rows] == [1, 2] and all(r["n_tasks"] == 2 for r in rows)
    for r in rows:
        assert r["env_ms_per_step"] > 0 and r["learner_ms_per_step"] > 0 and r["learner_gflops"] > 0
        assert np.isfinite(r["env_vs_bare"]) and 0 < r["learner_vs_sgemm"]
    assert figures["sgemm_gflops"] > 0 and figures["projection"]["from_seeds"] == 2
    assert figures["projection"]["runs"] == 20
    text = out.getvalue()
    assert "sgemm" in text and "paper scale" in text and "learner/sgemm" in text
    # The FLOP count of the paper's pendulum networks: 192 samples x (4 actor + 6 critic forwards).
    spec = ActorCriticSpec((5, 9, 5), (1, 1, 1))
    actor = 2 * (9 * 600 + 600 * 500 + 500)
    critic = 2 * (9 * 600 + 600 * 500 + 500 + 500)
    assert bench.update_flops(spec, 64) == 192 * (4 * actor + 6 * critic) + 3 * actor
