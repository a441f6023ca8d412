"""Task registry, batched physics against gymnasium, padding/masking and seed-batched stepping."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.envs.classic_control import PendulumEnv
from gymnasium.utils.env_checker import check_env

from mtrl_bench.algos.dqn import DQNConfig, build_learner, greedy_actions, select_actions
from mtrl_bench.errors import ConfigError
from mtrl_bench.random_streams import SeedUniforms, as_generator
from mtrl_bench.tasks import classic_control as bc
from mtrl_bench.tasks import multitask as mt
from mtrl_bench.tasks import spec as task_spec
from mtrl_bench.tasks.continuous import MultiTaskView

CLASSIC = [
    ("CartPole-v1", bc.cartpole_step, bc.cartpole_observe, bc.cartpole_observe),
    ("Acrobot-v1", bc.acrobot_step, bc.acrobot_observe, bc.acrobot_observe_start),
    ("MountainCar-v0", bc.mountaincar_step, bc.mountaincar_observe, bc.mountaincar_observe),
]


@pytest.mark.parametrize("gym_id, step, observe, observe_start", CLASSIC, ids=[c[0] for c in CLASSIC])
def test_batched_physics_equals_gymnasium_step_for_step(gym_id, step, observe, observe_start):
    n_envs, n_steps = 12, 250
    rng = np.random.default_rng(1)
    envs = [gym.make(gym_id).unwrapped for _ in range(n_envs)]
    first = [env.reset(seed=i)[0] for i, env in enumerate(envs)]
    states = np.array([np.asarray(env.state, dtype=np.float64) for env in envs])
    assert np.array_equal(observe_start(states), np.array(first))
    for k in range(n_steps):
        actions = rng.integers(0, envs[0].action_space.n, n_envs)
        states, rewards, terminated = step(states, actions)
        obs = observe(states)
        for i, env in enumerate(envs):
            ref_obs, ref_reward, ref_terminated, _, _ = env.step(int(actions[i]))
            assert np.array_equal(np.asarray(env.state, dtype=np.float64), states[i]), (gym_id, k, i)
            assert np.array_equal(ref_obs, obs[i]) and ref_obs.dtype == obs.dtype
            assert ref_reward == rewards[i] and ref_terminated == terminated[i]
            if ref_terminated:  # restart both from gymnasium's next start state
                ref_obs, _ = env.reset(seed=10_000 + k * n_envs + i)
                states[i] = np.asarray(env.state, dtype=np.float64)
                assert np.array_equal(observe_start(states[i:i + 1])[0], ref_obs)


@pytest.mark.parametrize("gym_id, reset, n_uniforms", [
    ("CartPole-v1", bc.cartpole_reset, 4), ("Acrobot-v1", bc.acrobot_reset, 4),
    ("MountainCar-v0", bc.mountaincar_reset, 1)])
def test_batched_reset_maps_uniforms_as_gymnasium(gym_id, reset, n_uniforms):
    env = gym.make(gym_id).unwrapped
    env.reset(seed=3)
    # gymnasium's uniform(low, high) is low + (high - low) * random(): replay its draws.
    draws = np.random.Generator(np.random.PCG64(np.random.SeedSequence(3))).random(n_uniforms)
    assert np.array_equal(reset(draws), np.asarray(env.state, dtype=np.float64))


def test_registry_has_the_papers_horizons_discounts_and_sizes():
    expected = {"cartpole": (500, 0.99, 4, 2), "acrobot": (1000, 0.99, 6, 3), "mountaincar": (1000, 0.99, 2, 3),
                "car_on_hill": (100, 0.95, 2, 2), "inverted_pendulum": (3000, 0.95, 2, 3)}
    assert set(mt.TASKS) == set(expected) and mt.DQN_TASKS == tuple(mt.TASKS)
    for name, (horizon, gamma, obs_dim, n_actions) in expected.items():
        spec = mt.get_task(name)
        assert (spec.horizon, spec.gamma, spec.obs_dim, spec.n_actions) == (horizon, gamma, obs_dim, n_actions)
        reference = spec.make_reference()
        assert reference.observation_space.shape == (obs_dim,)
        assert reference.action_space.n == n_actions


def test_unknown_repeated_or_empty_task_lists_are_config_errors():
    with pytest.raises(ConfigError, match="unknown task 'pong'.*cartpole"):
        mt.get_task("pong")
    with pytest.raises(ConfigError, match="repeat"):
        mt.get_tasks(["cartpole", "cartpole"])
    with pytest.raises(ConfigError, match="at least one task"):
        mt.get_tasks([])
    with pytest.raises(ConfigError, match="unknown task"):
        DQNConfig(tasks=("cartpole", "breakout"))


def test_a_head_with_zero_actions_is_a_config_error():
    spec = mt.get_task("cartpole")
    with pytest.raises(ConfigError, match="at least one"):
        task_spec.TaskSpec(**{**spec.__dict__, "name": "empty", "n_actions": 0})
    with pytest.raises(ConfigError, match="at least one action"):
        task_spec.action_mask([2, 0, 3])


def test_observation_that_does_not_fit_the_padding_is_a_config_error():
    with pytest.raises(ConfigError, match="dimension 6 does not fit the padding to 4"):
        task_spec.pad_observations(np.zeros((3, 6)), 4)
    with pytest.raises(ConfigError, match="does not fit"):
        mt.BatchedMultiTaskEnv(["cartpole", "acrobot"], [0], obs_dim=4)
    with pytest.raises(ConfigError, match="dimension 3 does not fit the padding to 2"):
        MultiTaskView(gym.make("Pendulum-v1"), obs_dim=2, action_dim=1)


def test_padding_puts_zeros_after_each_tasks_own_observation():
    env = mt.BatchedMultiTaskEnv(["cartpole", "acrobot", "mountaincar"], [0, 1])
    obs = env.reset()
    assert obs.shape == (2, 3, 6) and obs.dtype == np.float32
    assert np.all(obs[:, 0, 4:] == 0) and np.all(obs[:, 2, 2:] == 0)
    next_obs, *_ = env.step(np.ones((2, 3), dtype=np.int64))
    assert np.all(next_obs[:, 0, 4:] == 0) and np.all(next_obs[:, 2, 2:] == 0)
    assert np.all(next_obs[:, 1, :] != 0)
    assert np.array_equal(task_spec.action_mask([2, 3, 3]),
                          [[True, True, False], [True, True, True], [True, True, True]])


def test_padded_wrapper_passes_check_env_and_pads():
    env = MultiTaskView(PendulumEnv(), obs_dim=6, action_dim=3)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (6,) and np.all(obs[3:] == 0) and env.observation_space.contains(obs)
    assert list(env.action_mask) == [True, False, False]


def test_a_masked_action_is_never_chosen():
    learner = build_learner(DQNConfig(tasks=("cartpole", "acrobot", "car_on_hill"), shared_width=8,
                                      input_width=8), [0, 1])
    with torch.no_grad():  # make action 2, masked for cartpole and car_on_hill, the largest by far
        learner.net.params["head_bias"][:, :, 2] = 1e6
    obs = learner.obs
    for _ in range(50):
        greedy = greedy_actions(learner.net, obs, learner.device)
        assert np.all(greedy < learner.env.n_actions[None, :])
        chosen = select_actions(learner, obs, epsilon=0.5)
        assert np.all(chosen < learner.env.n_actions[None, :])
        obs, *_ = learner.env.step(chosen)
    assert np.all(select_actions(learner, obs, epsilon=0.0)[:, 1] == 2)  # acrobot has that action
    with pytest.raises(ValueError, match="outside"):
        learner.env.step(np.full((2, 3), 2))


def test_episodes_are_truncated_at_the_horizon_and_restarted():
    env = mt.BatchedMultiTaskEnv(["mountaincar"], [0])
    env.reset()
    idle = np.ones((1, 1), dtype=np.int64)  # no push: the car never reaches the goal
    for k in range(1, 1001):
        _, reward, terminated, truncated = env.step(idle)
        assert reward[0, 0] == -1.0 and not terminated[0, 0]
        assert truncated[0, 0] == (k == 1000)
    assert env.episode_steps[0, 0] == 0


def test_seed_streams_do_not_depend_on_the_batch():
    together = SeedUniforms([4, 9], "k", 3, block=5)
    alone = SeedUniforms([9], "k", 3, block=7)
    rows = [together.next() for _ in range(12)]
    assert all(np.array_equal(row[1], alone.next()[0]) for row in rows)
    assert not np.array_equal(SeedUniforms([9], "other", 3).next(), SeedUniforms([9], "k", 3).next())


def test_batched_seeds_step_like_separate_environments():
    tasks = ["cartpole", "acrobot", "mountaincar", "car_on_hill", "inverted_pendulum"]
    both = mt.BatchedMultiTaskEnv(tasks, [2, 5], key="x")
    single = [mt.BatchedMultiTaskEnv(tasks, [seed], key="x") for seed in (2, 5)]
    obs = [both.reset()] + [env.reset() for env in single]
    assert np.array_equal(obs[0][1], obs[2][0])
    rng = np.random.default_rng(0)
    for _ in range(300):
        actions = (rng.random((2, 5)) * both.n_actions).astype(np.int64)
        out = both.step(actions)
        for s, env in enumerate(single):
            alone = env.step(actions[s:s + 1])
            for a, b in zip(out, alone):
                assert np.array_equal(a[s], b[0])
        assert np.array_equal(both.obs[1], single[1].obs[0])


def test_the_task_contract_carries_continuous_actions_and_refuses_bad_bounds():
    spec = task_spec.TaskSpec("reach", obs_dim=3, horizon=10, gamma=0.9, action_dim=2, action_low=(-1.0, -3.0),
                       action_high=(1.0, 3.0))
    assert (spec.action_kind, spec.n_actions, spec.action_dim) == ("continuous", 0, 2)
    assert mt.get_task("cartpole").action_kind == "discrete"
    base = {"name": "reach", "obs_dim": 3, "horizon": 10, "gamma": 0.9}
    bad = [({"action_dim": 2, "action_low": (-1.0,), "action_high": (1.0,)}, "need 2 entries"),
           ({"action_dim": 1, "action_low": (1.0,), "action_high": (-1.0,)}, "low < high"),
           ({"action_dim": 1, "action_low": (-np.inf,), "action_high": (1.0,)}, "finite"),
           ({"action_dim": 1, "n_actions": 2, "action_low": (-1.0,), "action_high": (1.0,)}, "not both"),
           ({"n_actions": 2, "action_low": (-1.0,), "action_high": (1.0,)}, "discrete"),
           ({}, "at least one")]
    for fields, message in bad:
        with pytest.raises(ConfigError, match=message):
            task_spec.TaskSpec(**base, **fields)


def test_as_generator_continues_a_generator_and_seeds_anything_else():
    gen = np.random.default_rng(5)
    assert as_generator(gen) is gen
    assert as_generator(5).random() == np.random.default_rng(5).random()
    assert isinstance(as_generator(None), np.random.Generator)
