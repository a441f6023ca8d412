"""Multi-task DQN (MDQN, D'Eramo et al. 2020) and single-task DQN, the learner: S seeds as a batch dimension.

Environments are arrays (S, T, ...), replay memories tensors (S, T, capacity, ...); seed s draws only from
generators seeded by s, so a seed gives the same numbers alone or in a batch.

Design notes: docs/learners.md#dqn-learner-update-epsilon-seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mtrl_bench.algos import rollout
from mtrl_bench.checkpoints import CRITERIA
from mtrl_bench.config import param
from mtrl_bench.errors import ConfigError, distinct
from mtrl_bench.nets import NetSpec, SharedMultiTaskNet
from mtrl_bench.optim import MemberAdam
from mtrl_bench.random_streams import SeedUniforms
from mtrl_bench.replay import MultiTaskReplay
from mtrl_bench.tasks.multitask import DQN_TASKS, BatchedMultiTaskEnv, get_tasks


@dataclass(frozen=True)
class DQNConfig:
    """Hyper-parameters of an (M)DQN run; the defaults are the paper's."""

    tasks: tuple[str, ...] = param(DQN_TASKS, "task ids; several = MDQN, one = single-task DQN", nonempty=True)
    shared_width: int = param(80, "units in each of the two shared layers h", low=1)
    input_width: int = param(80, "units in each task's input layer w_t", low=1)
    epochs: int = param(50, "training epochs (0: only the evaluation before training)", low=0)
    steps_per_epoch: int = param(1000, "environment steps per task per epoch, one update each", low=1)
    test_steps: int = param(2000, "greedy evaluation steps per task after each epoch", low=1)
    replay_capacity: int = param(5000, "transitions kept per task", low=1)
    learning_starts: int = param(100, "uniformly random steps per task before the first update", low=1)
    batch_size: int = param(100, "transitions drawn from every task per update", low=1)
    learning_rate: float = param(1e-3, "Adam step size", low=0, low_open=True)
    target_update_every: int = param(100, "updates between copies of the network into the target network", low=1)
    epsilon_start: float = param(1.0, "exploration rate at the first learning step", low=0, high=1)
    epsilon_end: float = param(0.01, "exploration rate after the decay", low=0, high=1)
    epsilon_decay_steps: int = param(5000, "learning steps of the linear epsilon decay", low=1)
    double: bool = param(False, "Double DQN targets")
    save_shared: str = param("none", "write each seed's shared layers after the run (mtrl_bench.checkpoints): none, "
                             "final, best (mean over tasks of min-max normalised scores) or best-sum (the authors' "
                             "raw sum)", choices=CRITERIA)
    checkpoint_dir: str | None = param(None, "folder of the shared-layer checkpoints (seed<s>.pt) of save_shared")

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(self.tasks))
        get_tasks(self.tasks)  # known tasks, none repeated
        if self.learning_starts > self.replay_capacity:
            raise ConfigError(f"learning_starts ({self.learning_starts}) exceeds the replay capacity "
                              f"({self.replay_capacity})")
        if self.epsilon_end > self.epsilon_start:
            raise ConfigError(f"epsilon_end ({self.epsilon_end}) must not exceed epsilon_start ({self.epsilon_start})")
        if self.save_shared != "none" and not self.checkpoint_dir:
            raise ConfigError(f"save_shared {self.save_shared} needs checkpoint_dir (the folder of the checkpoints)")

    @property
    def algorithm(self) -> str:
        return "mdqn" if len(self.tasks) > 1 else "dqn"

    def epsilon(self, step: int) -> float:
        """Exploration rate after ``step`` learning steps (linear decay, then constant)."""
        fraction = min(step / self.epsilon_decay_steps, 1.0)
        return self.epsilon_start + fraction * (self.epsilon_end - self.epsilon_start)


def network_spec(config: DQNConfig) -> NetSpec:
    """The paper's DQN network: per-task Linear(obs -> 80) + ReLU; shared Linear + ReLU and
    Linear + sigmoid; per-task linear heads sized to the largest action count (extra actions masked)."""
    specs = get_tasks(config.tasks)
    return NetSpec(n_tasks=len(specs), obs_dim=max(s.obs_dim for s in specs),
                   n_actions=[s.n_actions for s in specs], input_width=config.input_width,
                   shared_widths=(config.shared_width, config.shared_width), input_activation="relu",
                   shared_activations=("relu", "sigmoid"), output_activation="identity")


@dataclass
class Learner:
    """Everything one run of S seeds holds."""

    config: DQNConfig
    seeds: list[int]
    device: torch.device
    env: BatchedMultiTaskEnv  # training environments (S, T)
    eval_env: BatchedMultiTaskEnv  # evaluation environments (S, T), their own random streams
    net: SharedMultiTaskNet
    target: SharedMultiTaskNet
    optimizer: MemberAdam
    replay: MultiTaskReplay
    explore: SeedUniforms  # (S, 2T) per step: epsilon coins, then random actions
    sampler: SeedUniforms  # (S, T * batch_size) per update: replay indices
    gammas: torch.Tensor  # (T,)
    active: torch.Tensor  # (S,) bool: seeds still learning
    obs: np.ndarray  # (S, T, obs_dim) float32: what the agents act on next
    steps: int = 0  # learning steps taken (after filling)
    updates: int = 0

    def fill_memories(self, n_steps: int) -> None:
        """``n_steps`` uniformly random steps per task, no learning (:func:`fill_replay`)."""
        fill_replay(self, n_steps)

    def train(self, n_steps: int) -> dict[str, np.ndarray]:
        """``n_steps`` learning steps per task (:func:`learn`); the mean ``td_loss`` per (seed, task), (S, T)."""
        return {"td_loss": learn(self, n_steps).cpu().numpy()}

    def scores(self) -> dict[str, np.ndarray]:
        """The greedy policy's evaluation (:func:`evaluate`), each (S, T)."""
        return evaluate(self)

    def still_learning(self) -> np.ndarray:
        """(S,) bool: the seeds whose loss stayed finite."""
        return self.active.cpu().numpy()

    def networks(self) -> dict[str, tuple[SharedMultiTaskNet, SharedMultiTaskNet, MemberAdam]]:
        """Kind -> (online network, target network, the online network's optimiser)."""
        return {"q": (self.net, self.target, self.optimizer)}

    def close(self) -> None:
        """Nothing to release: the environments are numpy arrays."""


def build_learner(config: DQNConfig, seeds: Sequence[int], device: torch.device | str = "cpu") -> Learner:
    seeds = distinct([int(s) for s in seeds], "seed")
    device = torch.device(device)
    spec = network_spec(config)
    env = BatchedMultiTaskEnv(config.tasks, seeds, key="train", obs_dim=spec.obs_dim)
    eval_env = BatchedMultiTaskEnv(config.tasks, seeds, key="eval", obs_dim=spec.obs_dim)
    net = SharedMultiTaskNet(spec, seeds, device=device)
    target = SharedMultiTaskNet(spec, seeds, device=device)
    target.load_state_dict(net.state_dict())
    n_tasks = len(config.tasks)
    return Learner(
        config=config, seeds=seeds, device=device, env=env, eval_env=eval_env, net=net, target=target,
        optimizer=MemberAdam(net.parameters(), lr=config.learning_rate),
        replay=MultiTaskReplay(len(seeds), n_tasks, config.replay_capacity, spec.obs_dim, device),
        explore=SeedUniforms(seeds, "explore", 2 * n_tasks),
        sampler=SeedUniforms(seeds, "replay", n_tasks * config.batch_size, block=64),
        gammas=torch.as_tensor(env.gammas, dtype=torch.float32, device=device),
        active=torch.ones(len(seeds), dtype=torch.bool, device=device),
        obs=env.reset(),
    )


@torch.no_grad()
def greedy_actions(net: SharedMultiTaskNet, obs: np.ndarray, device: torch.device) -> np.ndarray:
    """argmax_a Q_t(obs, a) over each task's own actions: obs (S, T, obs_dim) -> (S, T) int64."""
    q = net(torch.as_tensor(obs, device=device)[:, :, None, :])  # (S, T, 1, A_max), -inf if masked
    return q[:, :, 0, :].argmax(-1).cpu().numpy()


def select_actions(learner: Learner, obs: np.ndarray, epsilon: float) -> np.ndarray:
    """Epsilon-greedy actions (S, T): with probability epsilon a uniform action of the task's own set."""
    n_tasks = obs.shape[1]
    uniform = learner.explore.next()
    explore = uniform[:, :n_tasks] < epsilon
    random_actions = (uniform[:, n_tasks:] * learner.env.n_actions[None, :]).astype(np.int64)
    if explore.all():
        return random_actions
    greedy = greedy_actions(learner.net, obs, learner.device)
    return np.where(explore, random_actions, greedy)


def env_step(learner: Learner, epsilon: float) -> None:
    """Every (seed, task) takes one epsilon-greedy step; the transitions go to the replay memories."""
    obs = learner.obs
    actions = select_actions(learner, obs, epsilon)
    next_obs, rewards, terminated, _ = learner.env.step(actions)
    # A time-limit truncation is not terminal: its target still bootstraps from s'.
    learner.replay.add(obs, actions, rewards, next_obs, terminated)
    learner.obs = learner.env.obs


def td_update(learner: Learner) -> torch.Tensor:
    """One gradient step for every active seed; returns the Huber loss per (seed, task), (S, T)."""
    config, net, replay = learner.config, learner.net, learner.replay
    n_seeds, n_tasks = len(learner.seeds), len(config.tasks)
    uniform = learner.sampler.next().reshape(n_seeds, n_tasks, config.batch_size)
    batch = replay.sample(replay.indices(uniform))
    with torch.no_grad():
        q_next_target = learner.target(batch.next_obs)  # (S, T, B, A_max)
        if config.double:
            best = net(batch.next_obs).argmax(-1, keepdim=True)
            q_next = q_next_target.gather(-1, best)[..., 0]
        else:
            q_next = q_next_target.max(-1).values
        y = batch.rewards + learner.gammas[None, :, None] * (1.0 - batch.terminated) * q_next
    q = net(batch.obs).gather(-1, batch.actions[..., None])[..., 0]  # (S, T, B)
    loss_per_task = F.smooth_l1_loss(q, y, reduction="none").mean(-1)  # (S, T)
    loss_per_seed = loss_per_task.sum(-1)  # (S,)
    # A seed whose loss is not finite stops for good; the others' gradients do not depend on it.
    learner.active &= torch.isfinite(loss_per_seed)
    total = torch.where(learner.active, loss_per_seed, torch.zeros_like(loss_per_seed)).sum()
    learner.optimizer.zero_grad()
    total.backward()
    learner.optimizer.step(learner.active)
    learner.updates += 1
    if learner.updates % config.target_update_every == 0:
        with torch.no_grad():
            for name, param in net.params.items():
                learner.target.params[name].copy_(param)
    return loss_per_task.detach()


def fill_replay(learner: Learner, n_steps: int) -> None:
    """Uniformly random steps, no learning."""
    for _ in range(n_steps):
        env_step(learner, epsilon=1.0)


def learn(learner: Learner, n_steps: int) -> torch.Tensor:
    """``n_steps`` of (act, store, update); returns the mean TD loss per (seed, task), (S, T)."""
    loss_sum = torch.zeros(len(learner.seeds), len(learner.config.tasks), device=learner.device)
    for _ in range(n_steps):
        env_step(learner, learner.config.epsilon(learner.steps))
        loss_sum += td_update(learner)
        learner.steps += 1
    return loss_sum / max(n_steps, 1)


def evaluate(learner: Learner) -> dict[str, np.ndarray]:
    """Greedy run of ``test_steps`` steps per task from fresh episodes (:func:`mtrl_bench.algos.rollout.evaluate`,
    the unfinished last episode dropped); (S, T) arrays of ``return_discounted``, ``return_undiscounted`` and
    ``episodes_completed``."""
    scores = rollout.evaluate(lambda obs: greedy_actions(learner.net, obs, learner.device), learner.eval_env,
                              learner.config.test_steps, count_unfinished=False)
    scores["episodes_completed"] = scores.pop("episodes")
    return scores
