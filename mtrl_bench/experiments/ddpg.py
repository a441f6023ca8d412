"""Multi-task DDPG against single-task DDPG on a continuous-control task group (MDDPG / DDPG).

Defaults are the paper's hyper-parameters with the critic optimiser the authors' code ran
(``critic_preset: authors_code``).

Design notes: docs/learners.md#the-ddpg-experiments-rows-and-defaults.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from mtrl_bench.algos import ddpg
from mtrl_bench.checkpoints import CRITERIA, SharedLayerSaver
from mtrl_bench.config import param
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments.runner import Progress, RunResult, Schedule, run_epochs
from mtrl_bench.nets import DDPG_NETWORKS

EXPERIMENT = "ddpg"
GROUPS = ("pendulum", "pendulum_mujoco", "walker")
METRICS = ("return_discounted", "return_undiscounted", "episodes", "critic_loss", "actor_loss", "diverged")
CRITIC_PRESETS: dict[str, tuple[float, float]] = {
    "authors_code": (1e-4, 0.0),  # what the authors' code ran (and what produced their figures)
    "paper": (1e-3, 1e-2),  # what the paper states: lr 1e-3, L2 weight decay 1e-2
}
"""Critic optimiser presets: name -> (Adam learning rate, L2 weight decay)."""


@dataclass(frozen=True)
class Config:
    """DDPG hyper-parameters; the defaults are the paper's, with the critic optimiser of the authors' code."""

    group: str = param("pendulum_mujoco", "task group", choices=GROUPS)
    tasks: list[str] = param([], "tasks of the group to train together: none = all (MDDPG); one = single-task DDPG")
    input_width: int = param(600, "units of each task's input layer (actor and critic)", low=1)
    shared_width: int = param(500, "units of the shared layer (actor and critic; the width axis)", low=1)
    network: str = param("paper", "networks: paper (the action enters the critic's shared layer, sigmoid there) or "
                         "common (state and action concatenated at the critic's input, ReLU; as stable-baselines3)",
                         choices=tuple(DDPG_NETWORKS))
    critic_objective: str = param("huber", "critic loss: huber (the authors' code) or squared (the squared error, "
                                  "as stable-baselines3)", choices=("huber", "squared"))
    epochs: int = param(100, "training epochs after the warm-up", low=0)
    steps_per_epoch: int = param(10_000, "environment steps per task per epoch, one critic and one actor step each",
                                 low=1)
    test_steps: int = param(5_000, "deterministic evaluation steps per task", low=1)
    replay_capacity: int = param(50_000, "transitions per task", low=1)
    warmup_steps: int = param(64, "steps per task of the noisy untrained actor that fill the memories", low=1)
    batch_size: int = param(64, "transitions drawn from every task per update", low=1)
    actor_lr: float = param(1e-4, "actor Adam learning rate", low=0.0, low_open=True)
    critic_preset: str = param("authors_code", "critic optimiser: authors_code (Adam 1e-4, no decay; their "
                               "figures) or paper (Adam 1e-3, L2 decay 1e-2; as the paper states)",
                               choices=tuple(CRITIC_PRESETS))
    critic_lr: float | None = param(None, "critic learning rate overriding the preset's", low=0.0, low_open=True)
    critic_weight_decay: float | None = param(None, "critic L2 weight decay overriding the preset's", low=0.0)
    tau: float = param(1e-3, "soft target update rate per step", low=0.0, low_open=True, high=1.0)
    ou_theta: float = param(0.15, "OU noise mean reversion", low=0.0)
    ou_sigma: float = param(0.2, "OU noise scale", low=0.0)
    ou_dt: float = param(0.01, "OU noise time step", low=0.0, low_open=True)
    env_workers: int = param(0, "worker processes stepping the environments (0: in this process); the numbers "
                             "do not depend on it", low=0)
    save_shared: str = param("none", "write each seed's actor and critic shared layers after the run "
                             "(mtrl_bench.checkpoints): none, final, best (mean over tasks of min-max normalised "
                             "scores) or best-sum (the authors' raw sum)", choices=CRITERIA)
    checkpoint_dir: str | None = param(None, "folder of the shared-layer checkpoints (seed<s>.pt) of save_shared")

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", list(self.tasks))
        if len(set(self.tasks)) != len(self.tasks):
            raise ConfigError(f"tasks repeat in {self.tasks}: give each task once")
        group = _group_module().GROUPS[self.group]
        unknown = [name for name in self.tasks if name not in group]
        if unknown:
            raise ConfigError(f"tasks {unknown} are not in group {self.group!r}; its tasks: {', '.join(group)}")
        if self.warmup_steps > self.replay_capacity:
            raise ConfigError(f"warmup_steps ({self.warmup_steps}) exceeds the replay capacity "
                              f"({self.replay_capacity})")
        if self.save_shared != "none" and not self.checkpoint_dir:
            raise ConfigError(f"save_shared {self.save_shared} needs checkpoint_dir (the folder of the checkpoints)")


def learner_params(config: Config) -> ddpg.DDPGParams:
    """The learner's hyper-parameters; the critic's learning rate and weight decay are the preset's, each
    overridable by its own field."""
    lr, decay = CRITIC_PRESETS[config.critic_preset]
    return ddpg.DDPGParams(
        input_width=config.input_width, shared_width=config.shared_width, replay_capacity=config.replay_capacity,
        batch_size=config.batch_size, actor_lr=config.actor_lr,
        critic_lr=lr if config.critic_lr is None else config.critic_lr,
        critic_weight_decay=decay if config.critic_weight_decay is None else config.critic_weight_decay,
        tau=config.tau, ou_theta=config.ou_theta, ou_sigma=config.ou_sigma, ou_dt=config.ou_dt,
        test_steps=config.test_steps, network=config.network,
        critic_objective=config.critic_objective)


def task_names(config: Config) -> list[str]:
    """The tasks the run trains on: ``config.tasks``, or the whole group (in the paper's order)."""
    return list(config.tasks) if config.tasks else list(_group_module().GROUPS[config.group])


def single_env(config: Config) -> Callable[[], gym.Env]:
    """A builder of the first task's environment alone (no padding, no stepper): the benchmark's baseline."""
    return _group_module().get_task(task_names(config)[0]).make_env


def algorithm(config: Config, n_tasks: int) -> str:
    return "mddpg" if n_tasks > 1 else "ddpg"


def _group_module():
    try:
        return importlib.import_module("mtrl_bench.tasks.continuous")
    except ModuleNotFoundError as err:
        raise ConfigError("the continuous task groups (mtrl_bench.tasks.continuous) are missing from this "
                          "install") from err


def env_factory(config: Config) -> ddpg.EnvFactory:
    """``make_env(seeds, key)`` for the config's tasks: a :class:`mtrl_bench.tasks.vector.ParallelTaskEnv`
    with ``config.env_workers`` worker processes. The group's engines are imported now (a missing one is a
    :class:`ConfigError` with its install hint)."""
    from mtrl_bench.tasks.vector import ParallelTaskEnv

    tasks = task_names(config)
    _group_module().require_engines(tasks, f"group {config.group!r}")
    return lambda seeds, key: ParallelTaskEnv(tasks, seeds, workers=config.env_workers, key=key)


def run(config: Config, seeds: Sequence[int], device: torch.device | str = "cpu", progress: Progress | None = None,
        make_env: ddpg.EnvFactory | None = None, tasks: Sequence[str] | None = None) -> RunResult:
    """Train ``seeds`` together in the epoch loop of :func:`.runner.run_epochs` and return their tidy rows.

    ``make_env`` / ``tasks``: the stepper factory and the task names of its tasks (default: the config's
    group, see :func:`env_factory`); tests pass a small one.
    """
    if make_env is None:
        make_env, tasks = env_factory(config), task_names(config)
    learner = ddpg.build_learner(learner_params(config), seeds, make_env, device)
    own_progress = progress is None
    try:
        tasks = list(tasks) if tasks is not None else [f"task{t}" for t in range(learner.n_tasks)]
        if len(tasks) != learner.n_tasks:
            raise ConfigError(f"{len(tasks)} task names for {learner.n_tasks} tasks")
        base = {"experiment": EXPERIMENT, "algorithm": algorithm(config, len(tasks)), "variants": "+".join(tasks),
                "n_tasks": len(tasks), "width": config.shared_width}
        result = RunResult(extra={"parameters": {"actor": learner.actor.n_parameters(),
                                                 "critic": learner.critic.n_parameters()}})
        saver = None if config.save_shared == "none" else SharedLayerSaver(
            config.save_shared, config.checkpoint_dir, base["algorithm"], tasks, learner.seeds,
            {kind: nets[0] for kind, nets in learner.networks().items()}, config.epochs)
        progress = progress or Progress(f"ddpg {base['algorithm']} {base['variants']}", config.epochs + 1)
        run_epochs(learner, Schedule(config.epochs, config.steps_per_epoch, config.warmup_steps), base, tasks, result,
                   progress, saver)
    finally:
        if own_progress and progress is not None:
            progress.close()
        learner.close()
    timers = learner.timers
    result.extra["seconds"] = {"environment": timers.env_s, "learner": timers.learner_s, "joint_steps": timers.steps}
    unstable = getattr(learner.env, "unstable_episodes", None)
    if unstable is not None:
        result.extra["unstable_episodes"] = int(np.sum(unstable))
    return result
