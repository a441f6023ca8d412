"""Multi-task DDPG (MDDPG, D'Eramo et al. 2020) and single-task DDPG, with S seeds as a batch dimension.

Seeds lead every tensor and draw only from their own generators (a seed gives the same numbers alone or in a
batch); the environments are any stepper with the interface of :class:`ContinuousTasks`.

Design notes: docs/learners.md#ddpg-learner-loop-losses-noise-seeds.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from mtrl_bench.algos import rollout
from mtrl_bench.errors import ConfigError, distinct
from mtrl_bench.nets import DDPG_NETWORKS, ActorCriticSpec, DDPGActor, DDPGCritic
from mtrl_bench.optim import MemberAdam
from mtrl_bench.random_streams import SeedUniforms
from mtrl_bench.replay import MultiTaskReplay


@dataclass(frozen=True)
class DDPGParams:
    """The learner's hyper-parameters (the experiment builds them from its Config, which checks them).

    Widths in units; learning rates and ``tau`` per update; ``test_steps`` per task and evaluation.
    """

    input_width: int  # units of each task's input layer (actor and critic)
    shared_width: int  # units of the shared layer (actor and critic)
    replay_capacity: int  # transitions per task
    batch_size: int  # transitions drawn from every task per update
    actor_lr: float  # actor Adam learning rate
    critic_lr: float  # critic Adam learning rate
    critic_weight_decay: float  # critic L2 weight decay
    tau: float  # soft target update rate
    ou_theta: float  # OU noise mean reversion
    ou_sigma: float  # OU noise scale
    ou_dt: float  # OU noise time step
    test_steps: int  # deterministic evaluation steps per task
    network: str  # a key of nets.DDPG_NETWORKS: the paper's networks or the common ones
    critic_objective: str  # critic loss: huber (the authors' code) or squared


class ContinuousTasks(Protocol):
    """S seeds x T continuous-action tasks in lock-step, auto-reset (the stepper the learner drives).

    ``reset() -> obs (S, T, obs_dim)``; ``step(actions (S, T, action_dim)) -> (next_obs (S, T, obs_dim),
    rewards (S, T), terminated (S, T) bool, truncated (S, T) bool)``, ``next_obs`` being the states the
    actions led to; ended episodes restart at once and ``obs`` holds what to act on next. Observations
    and actions are zero-padded; a task reads its first ``action_dims[t]`` action entries.
    """

    n_seeds: int
    n_tasks: int
    obs_dim: int
    action_dim: int
    obs_dims: Sequence[int]
    action_dims: Sequence[int]
    gammas: np.ndarray
    obs: np.ndarray

    def reset(self) -> np.ndarray: ...

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...

    def close(self) -> None: ...


EnvFactory = Callable[[Sequence[int], str], ContinuousTasks]
"""``make_env(seeds, key)``: the task set's stepper for these seeds, its random streams keyed by ``key``."""


class OUNoise:
    """Ornstein-Uhlenbeck noise (S, T, action_dim), one process per seed, task and action dimension.

    ``sample()`` advances every process one step and returns the new values; ``reset(ended (S, T))``
    sets the processes of the (seed, task) pairs whose episode ended back to ``x0`` = 0. Seed s's normals
    come from its own generator, drawn ``block`` steps at a time.
    """

    def __init__(self, seeds: Sequence[int], n_tasks: int, action_dim: int, theta: float = 0.15,
                 sigma: float = 0.2, dt: float = 0.01, key: str = "ou", block: int = 256):
        self.theta, self.sigma, self.dt = float(theta), float(sigma), float(dt)
        salt = zlib.crc32(key.encode())
        self.generators = [np.random.default_rng([int(seed), salt]) for seed in seeds]
        self.shape = (len(self.generators), int(n_tasks), int(action_dim))
        self.block = int(block)
        self.state = np.zeros(self.shape)
        self._buffer = np.empty((self.shape[0], 0, *self.shape[1:]))
        self._cursor = 0

    def _normals(self) -> np.ndarray:
        if self._cursor >= self._buffer.shape[1]:
            self._buffer = np.stack([g.standard_normal((self.block, *self.shape[1:])) for g in self.generators])
            self._cursor = 0
        out = self._buffer[:, self._cursor]
        self._cursor += 1
        return out

    def sample(self) -> np.ndarray:
        self.state = (self.state - self.theta * self.state * self.dt
                      + self.sigma * np.sqrt(self.dt) * self._normals())
        return self.state.copy()

    def reset(self, ended: np.ndarray) -> None:
        self.state[np.asarray(ended, dtype=bool)] = 0.0


@dataclass
class Timers:
    """Seconds spent stepping environments and in the learner (acting, updates), and joint steps taken."""

    env_s: float = 0.0
    learner_s: float = 0.0
    steps: int = 0


@dataclass
class Learner:
    """Everything one run of S seeds holds."""

    params: DDPGParams
    seeds: list[int]
    device: torch.device
    env: ContinuousTasks  # training environments (S, T)
    eval_env: ContinuousTasks  # evaluation environments (S, T), their own random streams
    actor: DDPGActor
    critic: DDPGCritic
    actor_target: DDPGActor
    critic_target: DDPGCritic
    actor_optimizer: MemberAdam
    critic_optimizer: MemberAdam
    replay: MultiTaskReplay
    noise: OUNoise
    sampler: SeedUniforms  # (S, T * batch_size) per update: replay indices
    gammas: torch.Tensor  # (T,)
    action_mask: np.ndarray  # (T, action_dim) 1.0 where the task has the dimension
    active: torch.Tensor  # (S,) bool: seeds still learning
    obs: np.ndarray  # (S, T, obs_dim): what the agents act on next
    timers: Timers
    updates: int = 0

    @property
    def n_tasks(self) -> int:
        return self.env.n_tasks

    def fill_memories(self, n_steps: int) -> None:
        """``n_steps`` noisy steps of the untrained actor per task, no learning (:func:`warm_up`)."""
        warm_up(self, n_steps)

    def train(self, n_steps: int) -> dict[str, np.ndarray]:
        """``n_steps`` learning steps per task (:func:`learn`), then the seeds with a non-finite parameter stop
        (:func:`check_parameters`); the mean ``critic_loss`` and ``actor_loss`` per (seed, task), (S, T)."""
        losses = learn(self, n_steps)
        check_parameters(self)
        return {name: loss.cpu().numpy() for name, loss in losses.items()}

    def scores(self) -> dict[str, np.ndarray]:
        """The deterministic actor's evaluation (:func:`evaluate`), each (S, T)."""
        return evaluate(self)

    def still_learning(self) -> np.ndarray:
        """(S,) bool: the seeds whose losses and parameters stayed finite."""
        return self.active.cpu().numpy()

    def networks(self) -> dict[str, tuple[DDPGActor | DDPGCritic, DDPGActor | DDPGCritic, MemberAdam]]:
        """Kind (``actor``, ``critic``) -> (online network, target network, the online network's optimiser)."""
        return {"actor": (self.actor, self.actor_target, self.actor_optimizer),
                "critic": (self.critic, self.critic_target, self.critic_optimizer)}

    def close(self) -> None:
        """Close the training and evaluation environments (worker processes, engines)."""
        for env in (self.env, self.eval_env):
            env.close()


def build_learner(params: DDPGParams, seeds: Sequence[int], make_env: EnvFactory,
                  device: torch.device | str = "cpu") -> Learner:
    """Networks, optimisers, memories, noise and environments for ``seeds``; nothing has stepped yet."""
    seeds = distinct([int(s) for s in seeds], "seed")
    device = torch.device(device)
    env = make_env(seeds, "train")
    eval_env = make_env(seeds, "eval")
    spec = ActorCriticSpec(obs_dims=env.obs_dims, action_dims=env.action_dims, input_width=params.input_width,
                           shared_width=params.shared_width)
    if (env.obs_dim, env.action_dim) != (spec.obs_dim, spec.action_dim):
        raise ConfigError(f"the environments pad to obs {env.obs_dim} / action {env.action_dim}, not to the "
                          f"largest task sizes {spec.obs_dim} / {spec.action_dim}")
    actor_class, critic_class = DDPG_NETWORKS[params.network]  # the paper's or the common networks
    actor, critic = actor_class(spec, seeds, device), critic_class(spec, seeds, device)
    actor_target, critic_target = actor_class(spec, seeds, device), critic_class(spec, seeds, device)
    actor_target.load_state_dict(actor.state_dict())
    critic_target.load_state_dict(critic.state_dict())
    for net in (actor_target, critic_target):
        net.requires_grad_(False)
    n_tasks = env.n_tasks
    return Learner(
        params=params, seeds=seeds, device=device, env=env, eval_env=eval_env, actor=actor, critic=critic,
        actor_target=actor_target, critic_target=critic_target,
        actor_optimizer=MemberAdam(actor.parameters(), lr=params.actor_lr),
        critic_optimizer=MemberAdam(critic.parameters(), lr=params.critic_lr,
                                    weight_decay=params.critic_weight_decay),
        replay=MultiTaskReplay(len(seeds), n_tasks, params.replay_capacity, spec.obs_dim, device,
                               action_dim=spec.action_dim),
        noise=OUNoise(seeds, n_tasks, spec.action_dim, params.ou_theta, params.ou_sigma, params.ou_dt),
        sampler=SeedUniforms(seeds, "replay", n_tasks * params.batch_size, block=64),
        gammas=torch.as_tensor(np.asarray(env.gammas), dtype=torch.float32, device=device),
        action_mask=actor.action_mask.cpu().numpy().astype(np.float64),
        active=torch.ones(len(seeds), dtype=torch.bool, device=device),
        obs=np.asarray(env.reset(), dtype=np.float32), timers=Timers(),
    )


@torch.no_grad()
def policy_actions(learner: Learner, obs: np.ndarray) -> np.ndarray:
    """Deterministic actions mu_t(s) (S, T, action_dim) float64 from obs (S, T, obs_dim); 0 for frozen seeds
    and on padded dimensions."""
    actions = learner.actor(torch.as_tensor(obs, dtype=torch.float32, device=learner.device)[:, :, None, :])
    actions = actions[:, :, 0, :].masked_fill(~learner.active[:, None, None], 0.0)
    return actions.cpu().numpy().astype(np.float64)


def env_step(learner: Learner) -> None:
    """Every (seed, task) takes one step with mu_t(s) + OU noise; the transitions go to the replay memories."""
    start = time.perf_counter()
    obs = learner.obs
    active = learner.active.cpu().numpy()
    actions = (policy_actions(learner, obs) + learner.noise.sample()) * learner.action_mask[None]
    actions[~active] = 0.0
    middle = time.perf_counter()
    next_obs, rewards, terminated, truncated = learner.env.step(actions.astype(np.float32))
    learner.timers.env_s += time.perf_counter() - middle
    start_store = time.perf_counter()
    # A step ended by an unstable simulation keeps its slot but is never learned from.
    unstable = getattr(learner.env, "unstable", None)
    learner.replay.add(obs, actions, rewards, next_obs, terminated,
                       None if unstable is None or not np.any(unstable) else ~np.asarray(unstable))
    learner.noise.reset(np.asarray(terminated) | np.asarray(truncated))
    learner.obs = np.asarray(learner.env.obs, dtype=np.float32)
    learner.timers.learner_s += (middle - start) + (time.perf_counter() - start_store)
    learner.timers.steps += 1


def _masked_sum(loss_per_seed: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    return torch.where(active, loss_per_seed, torch.zeros_like(loss_per_seed)).sum()


def _weighted_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over the last dimension of (S, T, B) ``values`` weighted by ``valid`` (0 or 1): (S, T)."""
    return (values * valid).sum(-1) / valid.sum(-1).clamp(min=1.0)


@torch.no_grad()
def soft_update(target: torch.nn.Module, online: torch.nn.Module, tau: float, active: torch.Tensor) -> None:
    """target <- (1 - tau) target + tau online, for the active members only."""
    everyone = bool(active.all())
    for name, param in online.params.items():
        moving = target.params[name]
        if everyone:
            moving.lerp_(param, tau)
        else:
            on = active.view((-1,) + (1,) * (param.dim() - 1))
            moving.copy_(torch.where(on, moving.lerp(param, tau), moving))


def update(learner: Learner) -> tuple[torch.Tensor, torch.Tensor]:
    """One critic step, then one actor step, then the soft target updates, for every active seed.

    Returns the critic (Huber) and actor (-Q) losses per (seed, task), each (S, T).
    """
    start = time.perf_counter()
    params, replay = learner.params, learner.replay
    n_seeds, n_tasks = len(learner.seeds), learner.n_tasks
    uniform = learner.sampler.next().reshape(n_seeds, n_tasks, params.batch_size)
    batch = replay.sample(replay.indices(uniform))
    with torch.no_grad():
        next_q = learner.critic_target(batch.next_obs, learner.actor_target(batch.next_obs))
        y = batch.rewards + learner.gammas[None, :, None] * (1.0 - batch.terminated) * next_q
    q = learner.critic(batch.obs, batch.actions)
    loss = F.smooth_l1_loss if params.critic_objective == "huber" else F.mse_loss  # the authors' Huber, or squared
    critic_loss = _weighted_mean(loss(q, y, reduction="none"), batch.valid)  # (S, T)
    learner.active &= torch.isfinite(critic_loss).all(-1)
    learner.critic_optimizer.zero_grad()
    _masked_sum(critic_loss.mean(-1), learner.active).backward()
    learner.critic_optimizer.step(learner.active)

    actor_params = list(learner.actor.parameters())
    actor_loss = -_weighted_mean(learner.critic(batch.obs, learner.actor(batch.obs)), batch.valid)  # (S, T)
    learner.active &= torch.isfinite(actor_loss).all(-1)
    grads = torch.autograd.grad(_masked_sum(actor_loss.mean(-1), learner.active), actor_params)
    for param, grad in zip(actor_params, grads):
        param.grad = grad
    learner.actor_optimizer.step(learner.active)

    soft_update(learner.critic_target, learner.critic, params.tau, learner.active)
    soft_update(learner.actor_target, learner.actor, params.tau, learner.active)
    learner.updates += 1
    learner.timers.learner_s += time.perf_counter() - start
    return critic_loss.detach(), actor_loss.detach()


def warm_up(learner: Learner, n_steps: int) -> None:
    """``n_steps`` noisy steps of the untrained actor per task, no learning (fills the memories)."""
    for _ in range(n_steps):
        env_step(learner)


def learn(learner: Learner, n_steps: int) -> dict[str, torch.Tensor]:
    """``n_steps`` of (act, store, update); mean ``critic_loss`` and ``actor_loss`` per (seed, task), (S, T)."""
    shape = (len(learner.seeds), learner.n_tasks)
    critic_sum = torch.zeros(shape, device=learner.device)
    actor_sum = torch.zeros(shape, device=learner.device)
    for _ in range(n_steps):
        env_step(learner)
        critic_loss, actor_loss = update(learner)
        critic_sum += critic_loss
        actor_sum += actor_loss
    count = max(n_steps, 1)
    return {"critic_loss": critic_sum / count, "actor_loss": actor_sum / count}


@torch.no_grad()
def check_parameters(learner: Learner) -> None:
    """Stop the seeds any of whose parameters (online or target) are not finite."""
    for net in (learner.actor, learner.critic, learner.actor_target, learner.critic_target):
        for param in net.params.values():
            learner.active &= torch.isfinite(param).flatten(1).all(1)


def evaluate(learner: Learner) -> dict[str, np.ndarray]:
    """``test_steps`` deterministic steps per task from fresh episodes of the evaluation environments
    (:func:`mtrl_bench.algos.rollout.evaluate`, the unfinished last episode counted): (S, T) arrays
    ``return_discounted``, ``return_undiscounted`` and ``episodes``."""
    def act(obs: np.ndarray) -> np.ndarray:
        return (policy_actions(learner, obs) * learner.action_mask[None]).astype(np.float32)
    return rollout.evaluate(act, learner.eval_env, learner.params.test_steps, count_unfinished=True)
