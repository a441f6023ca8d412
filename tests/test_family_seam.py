"""The task-family seam: FQI runs unchanged on a second family, a chain MDP with a closed-form Q*."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from mtrl_bench import config as cfg
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments import fqi
from mtrl_bench.tasks import family

N_STATES = 6  # states 0 .. 5; the goal is one end of the chain
GAMMA = 0.9
COPIES = 4  # every (state, action) pair appears in this many one-step episodes


@dataclass
class Rows:
    """Transitions of a chain task (the fields FQI reads)."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_states: np.ndarray
    absorbing: np.ndarray
    episode: np.ndarray

    def __len__(self) -> int:
        return len(self.actions)

    def subset(self, index: np.ndarray) -> "Rows":
        return Rows(*(getattr(self, name)[index] for name in
                      ("states", "actions", "rewards", "next_states", "absorbing", "episode")))


def observe(state: np.ndarray) -> np.ndarray:
    """State index -> a position in [-1, 1], (..., 1)."""
    return (2.0 * np.asarray(state, dtype=np.float64) / (N_STATES - 1) - 1.0)[..., None]


def step(task: str, state: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Action 1 moves right, 0 left (walls hold); reaching the task's goal end pays 1 and ends the episode."""
    nxt = np.clip(state + np.where(action == 1, 1, -1), 0, N_STATES - 1)
    goal = N_STATES - 1 if task == "right" else 0
    reached = nxt == goal
    return nxt, reached.astype(np.float64), reached


def q_star(task: str, state: np.ndarray, action: np.ndarray) -> np.ndarray:
    """Closed form: the goal is d = |goal - s'| steps after s' = step(s, a), so Q* = gamma^d."""
    nxt, _, _ = step(task, state, action)
    goal = N_STATES - 1 if task == "right" else 0
    return GAMMA ** np.abs(goal - nxt).astype(np.float64)


def non_goal_states(task: str) -> np.ndarray:
    return np.arange(N_STATES - 1) if task == "right" else np.arange(1, N_STATES)


class ChainFamily:
    """Two tasks on one chain: reach the right end, or the left end."""

    name = "chain"
    gamma = GAMMA
    obs_dim = 1
    n_actions = 2

    def task_names(self, keys: Sequence[str]) -> list[str]:
        unknown = [k for k in keys if k not in ("left", "right")]
        if unknown or not keys or len(set(keys)) != len(keys):
            raise ConfigError(f"chain tasks are left and right, each once; got {list(keys)}")
        return list(keys)

    def transitions(self, task: str, dataset, data_dir) -> Rows:
        self.dataset = dataset  # passed through untouched
        states = np.repeat(non_goal_states(task), 2 * COPIES)
        actions = np.tile(np.arange(2), len(states) // 2)
        nxt, rewards, absorbing = step(task, states, actions)
        return Rows(observe(states), actions, rewards, observe(nxt), absorbing, np.arange(len(states)))

    def held_out_transitions(self, task: str, dataset, data_dir) -> Rows:
        # Deterministic chain, every pair visited: an independent draw is another copy of each pair.
        rows = self.transitions(task, dataset, data_dir)
        keep = np.arange(0, len(rows), COPIES)
        return rows.subset(keep)

    def read_transitions(self, task: str, directory: str) -> Rows:
        raise ConfigError("the chain family has no dataset files: leave dataset_dir unset")

    def holdout_seed(self, dataset, task_index: int) -> int:
        return task_index

    def truth(self, tasks: Sequence[str], qstar_dir) -> family.TestTruth:
        pairs = [(np.repeat(non_goal_states(task), 2), np.tile(np.arange(2), N_STATES - 1)) for task in tasks]
        values = [q_star(task, s, a) for task, (s, a) in zip(tasks, pairs, strict=True)]
        return family.TestTruth(states=np.stack([observe(s) for s, _ in pairs]),
                                actions=np.stack([a for _, a in pairs]), q_star=np.stack(values))

    def greedy_return(self, policy: family.Policy, n_members: int, tasks: Sequence[str], gamma: float) -> np.ndarray:
        state = np.full((n_members, len(tasks)), N_STATES // 2)
        alive = np.ones(state.shape, dtype=bool)
        ret = np.zeros(state.shape)
        for t in range(2 * N_STATES):
            action = policy(observe(state))
            for i, task in enumerate(tasks):
                nxt, reward, done = step(task, state[:, i], action[:, i])
                ret[:, i] += np.where(alive[:, i], gamma**t * reward, 0.0)
                alive[:, i] &= ~done
                state[:, i] = np.where(alive[:, i], nxt, state[:, i])
        return ret


class ChainWithoutTruth(ChainFamily):
    name = "chain_no_truth"

    def truth(self, tasks, qstar_dir):
        return None


family.register("chain", ChainFamily)
family.register("chain_no_truth", ChainWithoutTruth)

SETTINGS = dict(variants=["right", "left"], shared_width=16, input_width=16, iterations=8, learning_rate=3e-2,
                patience=100, tolerance=1e-7, max_fit_steps=300, holdout_fraction=0.1, data_dir=None, qstar_dir=None)


@pytest.fixture(scope="module")
def chain_rows():
    config = cfg.build(fqi.Config, {**SETTINGS, "family": "chain"}, where="fqi")
    return config, pd.DataFrame(fqi.run(config, [0, 1], "cpu").rows)


def test_closed_form_q_star_satisfies_the_bellman_optimality_equation():
    for task in ("left", "right"):
        states = non_goal_states(task)
        for action in (0, 1):
            nxt, reward, done = step(task, states, np.full_like(states, action))
            best_next = np.maximum(q_star(task, nxt, np.zeros_like(nxt)), q_star(task, nxt, np.ones_like(nxt)))
            np.testing.assert_allclose(q_star(task, states, np.full_like(states, action)),
                                       reward + GAMMA * np.where(done, 0.0, best_next))


def test_fqi_learns_the_chains_q_star_through_the_same_runner(chain_rows):
    config, rows = chain_rows
    assert config.variants == ["right", "left"] and (rows.algorithm == "mfqi").all()
    assert set(rows.metric) == {"avi_diff", "approx_error", "J", "fit_steps"}
    avi = rows[rows.metric == "avi_diff"].pivot_table(index="step", columns=["seed", "task"], values="value")
    assert (avi.loc[config.iterations] < 0.05).all()  # Q* values are 0.59 .. 1
    assert (avi.loc[config.iterations] < 0.2 * avi.loc[1]).all()


def test_the_learnt_greedy_policy_is_optimal_on_the_chain(chain_rows):
    config, rows = chain_rows
    final = rows[(rows.metric == "J") & (rows.step == config.iterations)].set_index(["seed", "task"]).value
    start = N_STATES // 2
    optimal = {"right": GAMMA ** (N_STATES - 1 - start - 1), "left": GAMMA ** (start - 1)}
    for (_, task), value in final.items():
        assert value == pytest.approx(optimal[task])


def test_a_family_without_a_truth_records_everything_but_avi_diff():
    config = cfg.build(fqi.Config, {**SETTINGS, "family": "chain_no_truth", "iterations": 2, "max_fit_steps": 20})
    result = fqi.run(config, [0], "cpu")
    assert {r["metric"] for r in result.rows} == {"approx_error", "J", "fit_steps"}
    assert result.extra["gamma"] == GAMMA


def test_the_config_names_a_known_family_and_its_tasks():
    with pytest.raises(ConfigError, match="unknown task family 'grid'"):
        cfg.build(fqi.Config, {**SETTINGS, "family": "grid"})
    with pytest.raises(ConfigError, match="chain tasks are left and right"):
        cfg.build(fqi.Config, {**SETTINGS, "family": "chain", "variants": ["up"]})


def test_the_held_out_set_path_runs_on_any_family():
    config = cfg.build(fqi.Config, {**SETTINGS, "family": "chain", "approx_error_data": "held_out_set"})
    result = fqi.run(config, [0], "cpu")
    rows = pd.DataFrame(result.rows)
    final = rows[(rows.metric == "approx_error") & (rows.step == config.iterations)].value
    assert (final < 1e-2).all()  # deterministic chain: the held-out pairs are the training pairs' kind
    n_rows = 2 * COPIES * (N_STATES - 1)
    assert result.extra["train_rows"] == {"right": n_rows, "left": n_rows}
    assert result.extra["held_out_rows"] == {"right": n_rows // COPIES, "left": n_rows // COPIES}


def test_a_family_without_files_refuses_a_dataset_dir(tmp_path):
    config = cfg.build(fqi.Config, {**SETTINGS, "family": "chain", "dataset_dir": str(tmp_path)})
    with pytest.raises(ConfigError, match="no dataset files"):
        fqi.run(config, [0], "cpu")
