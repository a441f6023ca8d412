"""Continuous task groups on real engines (PyBullet, gymnasium MuJoCo, dm_control) and their parallel stepping."""

import sys
import warnings
from functools import partial

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from mtrl_bench.errors import ConfigError
from mtrl_bench.tasks import continuous as ct
from mtrl_bench.tasks import engines
from mtrl_bench.tasks import multitask as mt
from mtrl_bench.tasks.dm_control_tasks import DMControlEnv
from mtrl_bench.tasks.spec import TaskSpec
from mtrl_bench.tasks.vector import ParallelTaskEnv, env_seed

GROUP_OF = {task: group for group, tasks in ct.GROUPS.items() for task in tasks}


def needs(task: str) -> None:
    """PyBullet has no wheels past CPython 3.11: skip its tasks there; every other engine must be installed."""
    if ct.engine_of(task) == "pybullet" and sys.version_info[:2] > engines.PYBULLET_MAX_PYTHON:
        pytest.skip("PyBullet has wheels only for CPython <= 3.11")


def bare(env: gym.Env) -> gym.Env:
    return env.unwrapped


class SpyEnv(gym.Env):
    """A fake engine: actions in [-2, 2]^1, records every action it receives; its observation turns NaN
    at step ``nan_at`` (counted from the reset)."""

    def __init__(self, nan_at: int | None = None):
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float64)
        self.action_space = spaces.Box(-2.0, 2.0, shape=(1,), dtype=np.float32)
        self.nan_at, self.actions, self.t = nan_at, [], 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.normal(size=3), {}

    def step(self, action):
        self.actions.append(np.array(action, copy=True))
        self.t += 1
        obs = np.full(3, float(self.t))
        if self.nan_at is not None and self.t == self.nan_at:
            obs[1] = np.nan
        return obs, 1.0, False, False, {}


def spy_spec(name: str = "spy", nan_at: int | None = None) -> TaskSpec:
    return TaskSpec(name, obs_dim=3, horizon=50, gamma=0.99, action_dim=1, action_low=(-2.0,), action_high=(2.0,),
                    make_env=partial(lambda n: ct.wrap_task_env(SpyEnv(n), horizon=50), nan_at))


@pytest.mark.parametrize("task", list(ct.TASKS))
def test_every_task_and_its_group_view_pass_check_env_with_the_registered_sizes(task):
    needs(task)
    spec = ct.get_task(task)
    group = ct.get_group(GROUP_OF[task])
    env = ct.make_task_env(task)
    assert (spec.horizon, spec.gamma, spec.action_kind) == (1000, 0.99, "continuous")
    assert env.observation_space.shape == (spec.obs_dim,) and env.observation_space.dtype == np.float32
    assert env.action_space == spaces.Box(-1.0, 1.0, shape=(spec.action_dim,), dtype=np.float32)
    engine_box = bare(env).action_space
    assert np.array_equal(engine_box.low, spec.action_low) and np.array_equal(engine_box.high, spec.action_high)
    view = ct.MultiTaskView(env, max(s.obs_dim for s in group), max(s.action_dim for s in group))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gymnasium's notes on unbounded boxes and wrappers
        check_env(env, skip_render_check=True)
        check_env(view, skip_render_check=True)
    env.close()


def test_group_sizes_are_the_papers():
    dims = {group: [(s.obs_dim, s.action_dim) for s in ct.get_group(group, check_engines=False)]
            for group in ct.GROUPS}
    assert dims == {"pendulum": [(5, 1), (9, 1), (5, 1)], "pendulum_mujoco": [(4, 1), (9, 1), (5, 1)],
                    "walker": [(15, 4), (24, 6), (17, 6)]}


def test_unknown_group_task_or_engine_is_a_config_error_listing_the_known_ones():
    with pytest.raises(ConfigError, match="unknown task group 'humanoid'.*pendulum, pendulum_mujoco, walker"):
        ct.get_group("humanoid")
    with pytest.raises(ConfigError, match="unknown continuous task 'ant'.*hopper_stand"):
        ct.get_task("ant")
    with pytest.raises(ConfigError, match="unknown continuous task"):
        ParallelTaskEnv(["cartpole_swingup", "ant"], [0])
    with pytest.raises(ConfigError, match="discrete"):
        ParallelTaskEnv([ct.get_task("cartpole_swingup"), mt.get_task("cartpole")], [0])
    with pytest.raises(ConfigError, match="seeds repeat"):
        ParallelTaskEnv(["cartpole_swingup"], [1, 1])
    with pytest.raises(ConfigError, match="unknown engine"):
        engines.require_engine("ode", "task 'x'")


def test_a_missing_engine_gives_a_one_line_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "dm_control.suite", None)  # import now fails as if not installed
    with pytest.raises(ConfigError) as error:
        ct.get_group("walker")
    message = str(error.value)
    assert "\n" not in message and "group 'walker' needs dm_control" in message and "make setup" in message
    with pytest.raises(ConfigError, match="needs dm_control"):
        ct.make_task_env("cheetah_run")


def test_pybullet_on_a_newer_python_names_the_mujoco_pendulum_group(monkeypatch):
    monkeypatch.setitem(sys.modules, "pybullet_envs_gymnasium", None)
    monkeypatch.setattr(engines, "PYBULLET_MAX_PYTHON", (3, 99))  # as on a Python that has PyBullet wheels
    with pytest.raises(ConfigError, match="make setup.*or use the group 'pendulum_mujoco'"):
        ct.get_group("pendulum")
    monkeypatch.setattr(engines, "PYBULLET_MAX_PYTHON", (3, sys.version_info.minor - 1))
    with pytest.raises(ConfigError) as error:
        ct.get_group("pendulum")
    assert "\n" not in str(error.value)
    assert "wheels only for CPython <= 3.11" in str(error.value) and "'pendulum_mujoco' instead" in str(error.value)


def test_cartpole_swingup_starts_hanging_down_and_rewards_upright_most():
    env = ct.make_task_env("cartpole_swingup")
    obs, _ = env.reset(seed=0)
    assert obs[1] < -0.99  # cos(pole angle): hanging down
    suite = bare(env)
    start_reward = suite.task.get_reward(suite.physics)
    with suite.physics.reset_context():
        suite.physics.named.data.qpos["hinge_1"] = 0.0
        suite.physics.named.data.qpos["slider"] = 0.0
        suite.physics.data.qvel[:] = 0.0
        suite.physics.data.ctrl[:] = 0.0
    upright_reward = suite.task.get_reward(suite.physics)
    assert start_reward < 0.01 and upright_reward > 0.99
    _, reward, *_ = env.step(np.zeros(1, dtype=np.float32))  # stays up for a step
    assert reward > 0.9


def test_bullet_swingup_starts_hanging_down_and_rewards_upright_most():
    needs("bullet_inverted_pendulum_swingup")
    env = ct.make_task_env("bullet_inverted_pendulum_swingup")
    obs, _ = env.reset(seed=0)
    assert obs[2] < -0.99  # cos(pole angle)
    _, hanging_reward, *_ = env.step(np.zeros(1, dtype=np.float32))
    bare(env).robot.j1.reset_current_position(0.0, 0.0)
    _, upright_reward, *_ = env.step(np.zeros(1, dtype=np.float32))
    assert hanging_reward < -0.99 and upright_reward > 0.99


def test_actions_are_scaled_to_the_tasks_bounds_and_padded_dimensions_never_reach_the_engine():
    view = ct.MultiTaskView(ct.wrap_task_env(SpyEnv()), obs_dim=9, action_dim=6)
    view.reset(seed=0)
    for action in ([0.5, 9, -9, np.nan, np.inf, 3], [-1, 0, 0, 0, 0, 0], [7, 0, 0, 0, 0, 0]):
        _, _, _, truncated, info = view.step(np.array(action, dtype=np.float32))
        assert not truncated and "unstable" not in info
    assert [a.tolist() for a in bare(view).actions] == [[1.0], [-2.0], [2.0]]  # [-1, 1] -> [-2, 2], clipped
    assert list(view.action_mask) == [True, False, False, False, False, False]
    # a real engine: hopper's 4 motors get the first 4 of the walker group's 6 action dimensions
    hopper = ct.MultiTaskView(ct.make_task_env("hopper_stand"), obs_dim=24, action_dim=6)
    hopper.reset(seed=0)
    action = np.array([0.1, -0.2, 0.3, -0.4, np.nan, 5.0], dtype=np.float32)
    _, _, _, truncated, _ = hopper.step(action)
    assert not truncated and np.allclose(bare(hopper).physics.control(), action[:4])
    inverted = ct.make_task_env("mujoco_inverted_pendulum")
    inverted.reset(seed=0)
    inverted.step(np.array([0.5], dtype=np.float32))
    assert bare(inverted).data.ctrl[0] == pytest.approx(1.5)  # bounds [-3, 3]


def test_padded_dimensions_never_reach_the_engine_in_the_parallel_env():
    with ParallelTaskEnv([spy_spec("a"), spy_spec("b")], [0, 1], action_dim=4) as env:
        env.reset()
        rng = np.random.default_rng(0)
        sent = []
        for _ in range(5):
            actions = rng.uniform(-1, 1, (2, 2, 4)).astype(np.float32)
            actions[..., 1:] = np.nan
            sent.append(actions)
            env.step(actions)
        assert not env.unstable_episodes.any()
        for i, instance in enumerate(env._shard.envs):
            received = np.array(bare(instance).actions)
            assert received.shape == (5, 1)
            assert np.allclose(received[:, 0], 2.0 * np.array([a[i // 2, i % 2, 0] for a in sent]))


def test_a_nan_state_ends_the_episode_with_a_recorded_warning_not_a_crash():
    env = ct.wrap_task_env(SpyEnv(nan_at=3), horizon=50)
    env.reset(seed=0)
    one = np.zeros(1, dtype=np.float32)
    for _ in range(2):
        last, *_ = env.step(one)
    with pytest.warns(ct.UnstableSimulationWarning, match="non-finite observation"):
        obs, reward, terminated, truncated, info = env.step(one)
    assert truncated and not terminated and reward == 0.0 and "unstable" in info
    assert np.array_equal(obs, last) and np.isfinite(obs).all()
    guard = env.env.env
    assert isinstance(guard, ct.StabilityGuard) and guard.unstable_episodes == 1
    with pytest.warns(ct.UnstableSimulationWarning, match="non-finite action"):
        env.reset()
        env.step(np.array([np.nan], dtype=np.float32))
    assert len(bare(env).actions) == 3 and guard.unstable_episodes == 2  # the NaN action was not sent
    with ParallelTaskEnv([spy_spec("steady"), spy_spec("blows_up", nan_at=3)], [5, 6]) as batch:
        batch.reset()
        actions = np.zeros((2, 2, 1), dtype=np.float32)
        batch.step(actions)
        batch.step(actions)
        with pytest.warns(ct.UnstableSimulationWarning) as record:
            next_obs, rewards, terminated, truncated = batch.step(actions)
        assert sorted(str(w.message)[:40] for w in record) == [f"unstable simulation: seed {s} on task 'blo"
                                                               for s in (5, 6)]
        assert batch.unstable.tolist() == [[False, True], [False, True]]
        assert truncated.tolist() == [[False, True], [False, True]] and np.isfinite(next_obs).all()
        assert batch.unstable_episodes.tolist() == [[0, 1], [0, 1]]


def test_real_engines_that_diverge_end_the_episode():
    hopper = ct.make_task_env("hopper_stand", warn=False)
    hopper.reset(seed=0)
    bare(hopper).physics.data.qvel[:] = np.nan
    _, _, _, truncated, info = hopper.step(np.zeros(4, dtype=np.float32))
    assert truncated and "PhysicsError" in info["unstable"]
    hopper.reset()
    assert not hopper.step(np.zeros(4, dtype=np.float32))[3]  # the next episode runs
    inverted = ct.make_task_env("mujoco_inverted_pendulum", warn=False)
    inverted.reset(seed=0)
    bare(inverted).data.qvel[:] = np.nan  # MuJoCo resets such a state by itself: only its warning tells
    _, _, _, truncated, info = inverted.step(np.zeros(1, dtype=np.float32))
    assert truncated and "BADQ" in info["unstable"]


def test_dm_control_tasks_have_no_suite_time_limit_and_a_fixed_observation_order():
    env = DMControlEnv("cartpole", "swingup", ("position", "velocity"))
    env.reset(seed=0)
    for _ in range(1001):
        _, _, terminated, truncated, _ = env.step(np.zeros(1))
        assert not (terminated or truncated)
    with pytest.raises(RuntimeError, match="expected"):
        DMControlEnv("cartpole", "swingup", ("velocity", "position"))
    timed = ct.make_task_env("cartpole_swingup")
    timed.reset(seed=0)
    ends = [any(timed.step(np.zeros(1, dtype=np.float32))[2:4]) for _ in range(1000)]
    assert ends == [False] * 999 + [True]


def run_steps(env: ParallelTaskEnv, actions: np.ndarray, split: bool = False) -> list[np.ndarray]:
    """Reset, then step through ``actions``; ``split``: every other step as step_async + step_wait."""
    out = [env.reset()]
    for k, step_actions in enumerate(actions):
        if split and k % 2:
            env.step_async(step_actions)
            result = env.step_wait()
        else:
            result = env.step(step_actions)
        out += [*result, env.obs, env.unstable]
    return out


def test_autoreset_returns_the_true_next_state_and_acts_from_the_new_episode():
    tasks, seed = ["mujoco_inverted_pendulum"], 4
    single = ct.MultiTaskView(ct.make_task_env(tasks[0]), 4, 1)
    obs, _ = single.reset(seed=env_seed(seed, tasks[0]))
    push = np.ones((1, 1, 1), dtype=np.float32)  # pushing one way: the pole falls within a few dozen steps
    ended = 0
    with ParallelTaskEnv(tasks, [seed]) as env:
        assert np.array_equal(env.reset()[0, 0], obs)
        for _ in range(200):
            next_obs, reward, terminated, truncated = env.step(push)
            ref_obs, ref_reward, ref_terminated, ref_truncated, _ = single.step(push[0, 0])
            assert np.array_equal(next_obs[0, 0], ref_obs) and reward[0, 0] == ref_reward
            assert (terminated[0, 0], truncated[0, 0]) == (ref_terminated, ref_truncated)
            if ref_terminated or ref_truncated:
                ended += 1
                ref_obs, _ = single.reset()
                assert not np.array_equal(env.obs[0, 0], next_obs[0, 0])
            assert np.array_equal(env.obs[0, 0], ref_obs)
    assert ended >= 2


def test_a_seed_gives_the_same_numbers_alone_or_in_a_batch():
    tasks = list(ct.GROUPS["pendulum_mujoco"])
    actions = np.random.default_rng(1).uniform(-1.5, 1.5, (150, 2, 3, 1)).astype(np.float32)
    with ParallelTaskEnv(tasks, [3, 7], key="train") as both, ParallelTaskEnv(tasks, [7], key="train") as alone:
        together, single = run_steps(both, actions), run_steps(alone, actions[:, 1:])
    assert all(np.array_equal(a[1], b[0]) for a, b in zip(together, single))
    assert not np.array_equal(together[0][0], together[0][1])  # seeds differ
    with ParallelTaskEnv(tasks, [7], key="eval") as other_key:
        assert not np.array_equal(other_key.reset()[0], single[0][0])


def test_worker_processes_give_the_same_numbers_as_in_process_stepping_and_shut_down():
    tasks = ["mujoco_inverted_pendulum", "cartpole_swingup", "hopper_stand"]
    actions = np.random.default_rng(2).uniform(-1, 1, (120, 2, 3, 4)).astype(np.float32)
    with ParallelTaskEnv(tasks, [0, 1], workers=0) as env:
        here = run_steps(env, actions)
    env = ParallelTaskEnv(tasks, [0, 1], workers=2)
    processes = list(env._processes)
    assert len(processes) == 2 and all(p.is_alive() for p in processes)
    there = run_steps(env, actions, split=True)
    env.step_async(actions[0])
    with pytest.raises(RuntimeError, match="in flight"):
        env.step_async(actions[0])
    env.step_wait()
    with pytest.raises(RuntimeError, match="without a step_async"):
        env.step_wait()
    env.close()
    env.close()
    assert all(not p.is_alive() for p in processes)
    assert all(np.array_equal(a, b) for a, b in zip(here, there))
    assert any(t.any() for t in here[3::6])  # inverted pendulum episodes ended and were reset
    with pytest.raises(RuntimeError, match="closed"):
        env.step(actions[0])
    with ParallelTaskEnv(tasks, [0]) as small, pytest.raises(ValueError, match="shape"):
        small.step(np.zeros((1, 3, 1)))
