"""Our single-task learners against a well-kept peer (stable-baselines3) on the same environment and settings.

``compare_ddpg(env_id, seeds)`` trains our single-task DDPG (all seeds in one batch) and stable-baselines3's
``DDPG`` (one seed at a time) on the same wrapped gymnasium environment with the same budget and settings mapped
one to one; ``compare_dqn`` does the same for our DQN and stable-baselines3's ``DQN`` on CartPole-v1. Both sides
are scored by the same code (:func:`score`) before any update and after every epoch; :func:`summarise` and
:func:`verdict` compare them per epoch. What is mapped, what stays different and the measured verdicts:
docs/peer.md. stable-baselines3 is an optional dependency (``pip install mtrl-bench[peer]``).
"""

from __future__ import annotations

import importlib
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy import stats

from mtrl_bench import config as cfg
from mtrl_bench.algos import dqn as dqn_algo
from mtrl_bench.algos import rollout
from mtrl_bench.errors import ConfigError, distinct
from mtrl_bench.experiments import ddpg as ddpg_experiment
from mtrl_bench.experiments.runner import Progress

DDPG_ENVS = {"InvertedPendulum-v5": "mujoco_inverted_pendulum",
             "InvertedDoublePendulum-v5": "mujoco_inverted_double_pendulum"}
"""gymnasium id -> our continuous task (the same environment, wrapped to actions in [-1, 1])."""
DQN_ENVS = {"CartPole-v1": "cartpole"}
"""gymnasium id -> our DQN task (CartPole-v1's physics, horizon 500)."""
PEER_VERSION = "2.9.2"
"""The stable-baselines3 release the comparisons were recorded with (``pyproject.toml``'s ``peer`` extra)."""

DDPG_SETTINGS = {"input_width": 64, "shared_width": 64, "epochs": 20, "steps_per_epoch": 1000, "test_steps": 1000,
                 "replay_capacity": 50_000, "warmup_steps": 64, "batch_size": 64, "actor_lr": 1e-3,
                 "critic_lr": 1e-3, "critic_weight_decay": 0.0, "tau": 0.01, "ou_theta": 0.15, "ou_sigma": 0.2,
                 "ou_dt": 0.01}
"""The comparison's DDPG settings (issue 20): 64/64 layers, Adam 1e-3 on both networks, tau 0.01, batch 64,
replay 50,000, 64 warm-up steps, OU 0.15/0.2/0.01, 20 epochs of 1,000 steps, 1,000 evaluation steps."""
DQN_SETTINGS = {"input_width": 80, "shared_width": 80, "epochs": 20, "steps_per_epoch": 1000, "test_steps": 1000}
"""The comparison's DQN settings: the paper's (80-unit layers, Adam 1e-3, batch 100, replay 5,000, 100 random
steps, target copy every 100 updates, epsilon 1 -> 0.01 over 5,000 steps), 20 epochs of 1,000 steps."""


def require_peer():
    """The ``stable_baselines3`` module, or a one-line :class:`ConfigError` naming the install."""
    try:
        return importlib.import_module("stable_baselines3")
    except ModuleNotFoundError as err:
        raise ConfigError("the peer check needs stable-baselines3: pip install 'mtrl-bench[peer]' "
                          f"(stable-baselines3=={PEER_VERSION})") from err


def _task(env_id: str, table: dict[str, str], what: str) -> str:
    if env_id not in table:
        raise ConfigError(f"{what} compares on {', '.join(table)}, not {env_id!r}")
    return table[env_id]


@dataclass
class Comparison:
    """Scores of both sides: ``scores`` a tidy frame (side, seed, epoch, score); ``seconds`` per side."""

    env_id: str
    algorithm: str
    settings: dict
    scores: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)


# -- one evaluation for both sides ------------------------------------------------------------------

def score(policy: Callable[[np.ndarray], np.ndarray], eval_env, test_steps: int, action_dim: int | None
          ) -> np.ndarray:
    """Our evaluation (:func:`mtrl_bench.algos.rollout.evaluate`, the unfinished last episode counted, as our
    DDPG's) of ``policy``: obs (N, obs_dim) float32 -> actions (N, action_dim) deterministic (``action_dim``
    None: (N,) action indices of a discrete task), on ``eval_env`` (a stepper of S seeds x 1 task); the
    discounted scores (S,)."""

    def act(obs: np.ndarray) -> np.ndarray:  # (S, T, obs_dim) -> (S, T, action_dim) float32, or (S, T) int64
        flat = np.asarray(obs, dtype=np.float32).reshape(-1, obs.shape[-1])
        actions = np.asarray(policy(flat), dtype=np.float32)
        if action_dim is None:
            return np.rint(actions).astype(np.int64).reshape(obs.shape[:-1])
        return actions.reshape(*obs.shape[:-1], action_dim)

    return rollout.evaluate(act, eval_env, int(test_steps), count_unfinished=True)["return_discounted"][:, 0]


def _sb3_policy(model) -> Callable[[np.ndarray], np.ndarray]:
    def policy(obs: np.ndarray) -> np.ndarray:
        actions, _ = model.predict(obs, deterministic=True)
        return np.asarray(actions, dtype=np.float64).reshape(len(obs), -1)
    return policy


def _sb3_epochs(model, warmup: int, epochs: int, steps_per_epoch: int, eval_env, test_steps: int,
                action_dim: int | None, progress: Progress) -> list[float]:
    """Train ``model`` for ``warmup + epochs * steps_per_epoch`` steps in one ``learn`` call (its schedules see
    the whole budget), scoring it with :func:`score` on ``eval_env`` before the first step and after every epoch."""
    from stable_baselines3.common.callbacks import BaseCallback

    def evaluate() -> float:
        return float(score(_sb3_policy(model), eval_env, test_steps, action_dim)[0])

    scores = [evaluate()]
    progress.update("epoch 0", f"score {scores[-1]:.2f}")

    class EveryEpoch(BaseCallback):
        def _on_step(self) -> bool:
            done = self.num_timesteps - warmup
            if done > 0 and done % steps_per_epoch == 0:
                scores.append(evaluate())
                progress.update(f"epoch {len(scores) - 1}", f"score {scores[-1]:.2f}")
            return True

    model.learn(total_timesteps=warmup + epochs * steps_per_epoch, callback=EveryEpoch())
    return scores


def _frame(side: str, seeds: Sequence[int], per_seed: np.ndarray) -> pd.DataFrame:
    """Tidy rows from scores (epochs + 1, S)."""
    epochs, n_seeds = per_seed.shape
    return pd.DataFrame({"side": side, "seed": np.tile(np.asarray(seeds), epochs),
                         "epoch": np.repeat(np.arange(epochs), n_seeds), "score": per_seed.reshape(-1)})


# -- DDPG -------------------------------------------------------------------------------------------

def ddpg_config(env_id: str, **overrides) -> ddpg_experiment.Config:
    """Our single-task DDPG config for ``env_id`` at :data:`DDPG_SETTINGS`, with ``overrides`` (Config fields)."""
    task = _task(env_id, DDPG_ENVS, "peer ddpg")
    return cfg.build(ddpg_experiment.Config, {**DDPG_SETTINGS, "group": "pendulum_mujoco", "tasks": [task],
                                              **overrides})


def ours_ddpg(config: ddpg_experiment.Config, seeds: Sequence[int]) -> np.ndarray:
    """Our single-task DDPG, all seeds in one batch: discounted scores (epochs + 1, S)."""
    result = ddpg_experiment.run(config, seeds)
    rows = pd.DataFrame(result.rows)
    rows = rows[rows.metric == "return_discounted"].pivot_table(index="step", columns="seed", values="value")
    if list(rows.index) != list(range(config.epochs + 1)):
        raise RuntimeError(f"our DDPG stopped early (diverged seeds?): epochs recorded {list(rows.index)}")
    return rows[list(seeds)].to_numpy()


def peer_ddpg(config: ddpg_experiment.Config, seeds: Sequence[int]) -> np.ndarray:
    """stable-baselines3's DDPG at ``config``'s settings, one seed at a time: scores (epochs + 1, S)."""
    sb3 = require_peer()
    from stable_baselines3.common.noise import OrnsteinUhlenbeckActionNoise

    from mtrl_bench.tasks import continuous
    from mtrl_bench.tasks.vector import ParallelTaskEnv

    (task,) = config.tasks
    learner_params = ddpg_experiment.learner_params(config)
    critic_lr, critic_decay = learner_params.critic_lr, learner_params.critic_weight_decay
    if critic_lr != config.actor_lr or critic_decay != 0.0:
        raise ConfigError(f"the peer takes one learning rate for both networks and no weight decay: give critic_lr "
                          f"= actor_lr ({config.actor_lr}) and critic_weight_decay 0")
    spec = continuous.get_task(task)
    out = []
    for seed in seeds:
        env = continuous.make_task_env(task)  # seeded by the peer from ``seed``
        noise = OrnsteinUhlenbeckActionNoise(np.zeros(spec.action_dim), config.ou_sigma * np.ones(spec.action_dim),
                                             theta=config.ou_theta, dt=config.ou_dt)
        model = sb3.DDPG("MlpPolicy", env, learning_rate=config.actor_lr, buffer_size=config.replay_capacity,
                         learning_starts=config.warmup_steps, batch_size=config.batch_size, tau=config.tau,
                         gamma=spec.gamma, train_freq=(1, "step"), gradient_steps=1, action_noise=noise,
                         policy_kwargs={"net_arch": [config.input_width, config.shared_width]}, seed=int(seed),
                         device="cpu", verbose=0)
        eval_env = ParallelTaskEnv([task], [seed], key="eval")
        try:
            progress = Progress(f"peer ddpg {task} seed {seed}", config.epochs + 1)
            out.append(_sb3_epochs(model, config.warmup_steps, config.epochs, config.steps_per_epoch, eval_env,
                                   config.test_steps, spec.action_dim, progress))
            progress.close()
        finally:
            eval_env.close()
            env.close()
    return np.asarray(out).T


def compare_ddpg(env_id: str, seeds: Sequence[int], reuse: pd.DataFrame | None = None,
                 **overrides) -> Comparison:
    """Ours and the peer's DDPG on ``env_id`` for ``seeds`` (see the module doc); ``reuse``: a previous
    comparison's frame whose ``peer`` rows for these seeds are taken instead of training the peer again."""
    config = ddpg_config(env_id, **overrides)
    return _compare("ddpg", env_id, seeds, cfg.record(config), lambda: ours_ddpg(config, seeds),
                    lambda: peer_ddpg(config, seeds), config.epochs, reuse)


# -- DQN --------------------------------------------------------------------------------------------

def dqn_config(env_id: str, **overrides) -> dqn_algo.DQNConfig:
    """Our single-task DQN config for ``env_id`` at :data:`DQN_SETTINGS` with ``overrides``."""
    task = _task(env_id, DQN_ENVS, "peer dqn")
    return cfg.build(dqn_algo.DQNConfig, {**DQN_SETTINGS, "tasks": [task], **overrides})


def ours_dqn(config: dqn_algo.DQNConfig, seeds: Sequence[int]) -> np.ndarray:
    """Our single-task DQN (the loop of :mod:`mtrl_bench.experiments.dqn`), all seeds in one batch, scored by
    :func:`score`: (epochs + 1, S)."""
    learner = dqn_algo.build_learner(config, seeds)

    def greedy(obs: np.ndarray) -> np.ndarray:  # (S, obs_dim) -> (S, 1): one row per seed
        return dqn_algo.greedy_actions(learner.net, obs[:, None, :], learner.device)

    progress = Progress(f"ours dqn {config.tasks[0]}", config.epochs + 1)
    scores = [score(greedy, learner.eval_env, config.test_steps, None)]
    dqn_algo.fill_replay(learner, config.learning_starts)
    for epoch in range(1, config.epochs + 1):
        dqn_algo.learn(learner, config.steps_per_epoch)
        if not bool(learner.active.all()):
            raise RuntimeError(f"our DQN diverged at epoch {epoch}")
        scores.append(score(greedy, learner.eval_env, config.test_steps, None))
        progress.update(f"epoch {epoch}", f"score {float(np.mean(scores[-1])):.2f}")
    progress.close()
    return np.asarray(scores)


def peer_dqn(config: dqn_algo.DQNConfig, seeds: Sequence[int], env_id: str = "CartPole-v1") -> np.ndarray:
    """stable-baselines3's DQN at ``config``'s settings on gymnasium's ``env_id``: scores (epochs + 1, S)."""
    import gymnasium as gym

    from mtrl_bench.tasks.multitask import BatchedMultiTaskEnv, get_tasks

    sb3 = require_peer()
    (spec,) = get_tasks(config.tasks)
    total = config.learning_starts + config.epochs * config.steps_per_epoch
    out = []
    for seed in seeds:
        env = gym.make(env_id, max_episode_steps=spec.horizon)
        model = sb3.DQN("MlpPolicy", env, learning_rate=config.learning_rate, buffer_size=config.replay_capacity,
                        learning_starts=config.learning_starts, batch_size=config.batch_size, tau=1.0,
                        gamma=spec.gamma, train_freq=(1, "step"), gradient_steps=1,
                        target_update_interval=config.target_update_every,
                        exploration_fraction=min(1.0, (config.learning_starts + config.epsilon_decay_steps) / total),
                        exploration_initial_eps=config.epsilon_start, exploration_final_eps=config.epsilon_end,
                        max_grad_norm=1e10, policy_kwargs={"net_arch": [config.input_width, config.shared_width,
                                                                        config.shared_width]},
                        seed=int(seed), device="cpu", verbose=0)
        eval_env = BatchedMultiTaskEnv(config.tasks, [seed], key="eval", obs_dim=spec.obs_dim)
        progress = Progress(f"peer dqn {env_id} seed {seed}", config.epochs + 1)
        out.append(_sb3_epochs(model, config.learning_starts, config.epochs, config.steps_per_epoch, eval_env,
                               config.test_steps, None, progress))
        progress.close()
        env.close()
    return np.asarray(out).T


def compare_dqn(env_id: str, seeds: Sequence[int], reuse: pd.DataFrame | None = None, **overrides) -> Comparison:
    """Ours and the peer's DQN on ``env_id`` for ``seeds`` (see the module doc)."""
    config = dqn_config(env_id, **overrides)
    return _compare("dqn", env_id, seeds, cfg.record(config), lambda: ours_dqn(config, seeds),
                    lambda: peer_dqn(config, seeds, env_id), config.epochs, reuse)


# -- both sides, the table and the verdict -----------------------------------------------------------

def _compare(algorithm: str, env_id: str, seeds: Sequence[int], settings: dict, ours: Callable[[], np.ndarray],
             peer: Callable[[], np.ndarray], epochs: int, reuse: pd.DataFrame | None) -> Comparison:
    seeds = distinct([int(s) for s in seeds], "seed")
    torch.set_num_threads(1)  # both sides on one thread: the same footing, and the machine is shared
    frames, seconds = [], {}
    start = time.perf_counter()
    frames.append(_frame("ours", seeds, ours()))
    seconds["ours"] = time.perf_counter() - start
    kept = None if reuse is None else reuse[(reuse.side == "peer") & reuse.seed.isin(seeds)]
    if kept is not None and set(kept.seed) == set(seeds) and kept.epoch.max() >= epochs:
        frames.append(kept[kept.epoch <= epochs][["side", "seed", "epoch", "score"]])
        seconds["peer"] = float("nan")
    else:
        start = time.perf_counter()
        frames.append(_frame("peer", seeds, peer()))
        seconds["peer"] = time.perf_counter() - start
    return Comparison(env_id, algorithm, settings, pd.concat(frames, ignore_index=True), seconds)


def _mean_ci(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the 95% t confidence interval (0 for one value)."""
    n = len(values)
    if n < 2:
        return float(np.mean(values)), 0.0
    return float(np.mean(values)), float(stats.t.ppf(0.975, n - 1) * np.std(values, ddof=1) / np.sqrt(n))


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Per epoch: ``ours``/``peer`` mean and 95% CI half-width (``*_ci``), ``welch_p`` (1 when both sides are
    constant and equal, 0 when constant and different) and ``overlap`` (the two intervals meet)."""
    rows = []
    for epoch, group in scores.groupby("epoch"):
        ours = group[group.side == "ours"].score.to_numpy()
        peer = group[group.side == "peer"].score.to_numpy()
        (m_o, c_o), (m_p, c_p) = _mean_ci(ours), _mean_ci(peer)
        scale = max(1.0, abs(m_o), abs(m_p))
        if min(len(ours), len(peer)) < 2:
            p = float("nan")
        elif max(np.ptp(ours), np.ptp(peer)) <= 1e-9 * scale:  # both constant: the test is undefined
            p = 1.0 if np.isclose(m_o, m_p) else 0.0
        else:
            with warnings.catch_warnings():  # nearly constant samples: scipy warns of precision loss
                warnings.simplefilter("ignore", RuntimeWarning)
                p = float(stats.ttest_ind(ours, peer, equal_var=False).pvalue)
        rows.append({"epoch": int(epoch), "ours": m_o, "ours_ci": c_o, "peer": m_p, "peer_ci": c_p,
                     "welch_p": p, "overlap": bool(abs(m_o - m_p) <= c_o + c_p + 1e-9)})
    return pd.DataFrame(rows)


def verdict(summary: pd.DataFrame) -> str:
    """One line: ``match`` when the 95% intervals overlap at every epoch, else the epochs where they do not."""
    apart = summary.epoch[~summary.overlap].tolist()
    rejected = int((summary.welch_p < 0.05).sum())
    head = "match" if not apart else f"differ at epochs {apart}"
    return (f"verdict: {head} (95% CIs overlap at {int(summary.overlap.sum())}/{len(summary)} epochs; Welch p < 0.05 "
            f"at {rejected}/{len(summary)})")


def format_table(comparison: Comparison) -> str:
    """The per-epoch table (mean +- 95% CI half-width of each side, difference, Welch p) and the verdict."""
    summary = summarise(comparison.scores)
    n_seeds = comparison.scores.groupby("side").seed.nunique().to_dict()
    lines = [f"{comparison.algorithm} on {comparison.env_id}: ours ({n_seeds.get('ours', 0)} seeds) vs "
             f"stable-baselines3 ({n_seeds.get('peer', 0)} seeds); discounted score, mean +- 95% CI",
             f"{'epoch':>5} {'ours':>16} {'peer':>16} {'ours-peer':>10} {'Welch p':>8} {'CIs meet':>8}"]
    for r in summary.itertuples():
        lines.append(f"{r.epoch:>5} {r.ours:>8.2f} +- {r.ours_ci:<5.2f} {r.peer:>8.2f} +- {r.peer_ci:<5.2f} "
                     f"{r.ours - r.peer:>10.2f} {r.welch_p:>8.3f} {'yes' if r.overlap else 'NO':>8}")
    seconds = ", ".join(f"{side} {s:.0f} s" for side, s in comparison.seconds.items() if np.isfinite(s))
    lines.append(verdict(summary) + (f"; wall time {seconds}" if seconds else ""))
    return "\n".join(lines)
