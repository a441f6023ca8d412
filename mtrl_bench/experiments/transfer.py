"""Transfer of shared layers to an unseen task: a fresh single-task DQN or DDPG learner starts from them.

Seed s loads source seed s's checkpoint (:mod:`mtrl_bench.checkpoints`); ``frozen_epochs``: 0 = trained from the
start, N = unfrozen after epoch N, >= epochs = frozen throughout; rows as the single-task ``dqn`` / ``ddpg`` runs,
``algorithm`` = ``transfer_unfreeze<N>`` / ``transfer_frozen`` (suffix ``_online`` for ``load_into: online``).

Design notes: docs/experiments.md#the-transfer-runner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from mtrl_bench import checkpoints as ckpt
from mtrl_bench.algos import ddpg as ddpg_algo
from mtrl_bench.algos import dqn as dqn_algo
from mtrl_bench.algos.dqn import DQNConfig
from mtrl_bench.config import param
from mtrl_bench.device import resolve_device
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments import ddpg as ddpg_experiment
from mtrl_bench.experiments.runner import Progress, RunResult, Schedule, run_epochs
from mtrl_bench.tasks.multitask import DQN_TASKS

EXPERIMENT = "transfer"
ALGORITHMS = ("dqn", "ddpg")
LOAD_INTO = ("online_and_target", "online")


@dataclass(frozen=True)
class Config:
    """A transfer run: which learner, which target task, which source checkpoints, how long frozen."""

    algorithm: str = param("dqn", "learner of the target task: dqn or ddpg", choices=ALGORITHMS)
    target: str = param("acrobot", "the held-out task the shared layers are transferred to (a DQN task, or a task "
                        "of ddpg.group)")
    source_dir: str = param("", "folder of the source run's shared-layer checkpoints (seed<s>.pt; seed s loads "
                            "source seed s)")
    frozen_epochs: int = param(0, "epochs the loaded shared layers stay frozen (0: trained from the start; "
                               ">= epochs: frozen throughout)", low=0)
    load_into: str = param("online_and_target", "networks the shared layers are loaded into: online_and_target, or "
                           "online (the authors' code; the target network gets them at its next update)",
                           choices=LOAD_INTO)
    dqn: DQNConfig = param(help="hyper-parameters of the DQN learner (the dqn experiment's; tasks = the target)",
                           default_factory=DQNConfig)
    ddpg: ddpg_experiment.Config = param(help="hyper-parameters of the DDPG learner (the ddpg experiment's; tasks = "
                                         "the target)", default_factory=ddpg_experiment.Config)

    def __post_init__(self) -> None:
        if self.algorithm == "dqn":
            if self.target not in DQN_TASKS:
                raise ConfigError(f"target {self.target!r} is not a DQN task; choose one of {', '.join(DQN_TASKS)}")
            if tuple(self.dqn.tasks) not in (tuple(DQN_TASKS), (self.target,)):
                raise ConfigError(f"dqn.tasks is set by the target ({self.target}): leave it out")
            if self.dqn.save_shared != "none":
                raise ConfigError("dqn.save_shared: a transfer run does not save checkpoints; leave it out")
            object.__setattr__(self, "dqn", dataclasses.replace(self.dqn, tasks=(self.target,)))
        else:
            if list(self.ddpg.tasks) not in ([], [self.target]):
                raise ConfigError(f"ddpg.tasks is set by the target ({self.target}): leave it out")
            object.__setattr__(self, "ddpg", dataclasses.replace(self.ddpg, tasks=[self.target]))

    @property
    def learner(self) -> Any:
        """The nested config of the chosen learner."""
        return self.dqn if self.algorithm == "dqn" else self.ddpg

    @property
    def epochs(self) -> int:
        return self.learner.epochs

    @property
    def label(self) -> str:
        """The rows' algorithm: transfer_unfreeze<N> or transfer_frozen, + _online when loaded into online only."""
        name = "transfer_frozen" if self.frozen_epochs >= self.epochs else f"transfer_unfreeze{self.frozen_epochs}"
        return name + ("_online" if self.load_into == "online" else "")


def _shared_params(net: torch.nn.Module) -> list[torch.Tensor]:
    return [net.params[name] for name in net.shared_parameter_names()]


def run(config: Config, seeds: Sequence[int], device: torch.device | str = "cpu", progress: Progress | None = None,
        make_env: ddpg_algo.EnvFactory | None = None) -> RunResult:
    """Train the target task for every seed at once from the source's shared layers; tidy rows.

    ``make_env``: (DDPG only) the stepper factory of the target task alone; default the config's group.
    """
    device = resolve_device(device) if isinstance(device, str) else device
    seeds = [int(s) for s in seeds]
    if not config.source_dir:
        raise ConfigError("source_dir is not set: give the folder of the source run's checkpoints")
    sources = ckpt.load_checkpoints(config.source_dir, seeds)  # every file checked before any compute
    for source in sources:
        if config.target in source.metadata.get("source_tasks", []):
            raise ConfigError(f"checkpoint {source.path} was trained on the target {config.target}: transfer is to "
                              f"an unseen task; give the checkpoints of a source run without it")
    learner = build_learner(config, seeds, device, make_env)
    try:
        return train(config, learner, sources, progress)
    finally:
        learner.close()


def build_learner(config: Config, seeds: Sequence[int], device: torch.device,
                  make_env: ddpg_algo.EnvFactory | None = None) -> dqn_algo.Learner | ddpg_algo.Learner:
    """The fresh single-task learner of the target (its own initialisation from each seed)."""
    inner = config.learner
    if config.algorithm == "dqn":
        return dqn_algo.build_learner(inner, seeds, device)
    if make_env is None:
        ddpg_experiment.task_names(inner)  # the target is a task of the group
        make_env = ddpg_experiment.env_factory(inner)
    return ddpg_algo.build_learner(ddpg_experiment.learner_params(inner), seeds, make_env, device)


def train(config: Config, learner: dqn_algo.Learner | ddpg_algo.Learner, sources: Sequence[ckpt.SharedLayers],
          progress: Progress | None = None) -> RunResult:
    """The epoch loop of :func:`.runner.run_epochs` with the source's shared layers loaded into ``learner`` (seed s
    from ``sources[s]``) after its warm-up, frozen for the first ``frozen_epochs`` epochs; tidy rows."""
    networks = learner.networks()  # kind -> (online, target, optimiser)
    online = {kind: nets[0] for kind, nets in networks.items()}
    for source in sources:  # mismatched widths or activations: fail before the replay is filled
        ckpt.check_compatible(source, online)
    into = {kind: [net] + ([target] if config.load_into == "online_and_target" else [])
            for kind, (net, target, _) in networks.items()}
    shared = {kind: _shared_params(net) for kind, net in online.items()}

    def load_and_freeze() -> None:
        ckpt.load_into(sources, into)
        if config.frozen_epochs > 0:
            for kind, params in shared.items():
                networks[kind][2].freeze(params)

    def unfreeze(epoch: int) -> None:
        if epoch == config.frozen_epochs + 1:
            for kind, params in shared.items():
                networks[kind][2].unfreeze(params)

    inner = config.learner
    warmup_steps = inner.learning_starts if config.algorithm == "dqn" else inner.warmup_steps
    base = {"experiment": f"{config.algorithm}_transfer", "algorithm": config.label, "variants": config.target,
            "n_tasks": 1, "width": inner.shared_width}
    result = RunResult(extra={"transfer": {
        "algorithm": config.label, "target": config.target, "source_dir": config.source_dir,
        "sources": {str(s.seed): {k: s.metadata.get(k) for k in ("algorithm", "source_tasks", "epoch", "criterion",
                                                                 "score", "git_commit")} for s in sources}}})
    own_progress = progress is None
    progress = progress or Progress(f"transfer {config.algorithm} -> {config.target} ({config.label})",
                                    config.epochs + 1)
    try:
        return run_epochs(learner, Schedule(inner.epochs, inner.steps_per_epoch, warmup_steps), base, [config.target],
                          result, progress, after_warm_up=load_and_freeze, before_epoch=unfreeze)
    finally:
        if own_progress:
            progress.close()
