"""Shared-depth ablation on the synthetic testbed: which hidden layers to share, at a fixed size.

Not in the paper: :class:`mtrl_bench.nets.SplitMultiTaskNet` per split (``splits``: ``none``/``paper``/``all`` or
any 't'/'s' string), width chosen per ``capacity``; rows are the testbed's with ``algorithm = "split-<pattern>"``.

Design notes: docs/experiments.md#shared-depth-ablation.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mtrl_bench.config import param
from mtrl_bench.device import resolve_device
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments import testbed
from mtrl_bench.experiments.runner import Progress, RunResult, row
from mtrl_bench.nets import SplitMultiTaskNet, SplitSpec, parse_split, width_for_budget
from mtrl_bench.optim import MemberAdam

EXPERIMENT = "depth"
_SPLIT_INIT_STREAM = 4
_TEACHER_FIELDS = ("task_counts", "n_samples", "noise_std", "input_dim", "teacher_features", "n_test",
                   "learning_rate", "activation", "dissimilarity")


@dataclass(frozen=True)
class Config(testbed.TeacherFields):
    """A shared-depth run: the testbed's teacher and training, the splits and their capacity rule."""

    splits: tuple[str, ...] = param(("none", "paper", "all"), "hidden-layer splits: none, paper, all or a "
                                    "string of t (task-specific) / s (shared) per hidden layer", nonempty=True)
    width: int = param(30, "hidden width of the reference split (capacity params) or of every split "
                       "(capacity width)", low=1)
    capacity: str = param("params", "params: every split has the reference split's parameter count at "
                          "width; width: every split has that width", choices=("params", "width"))
    reference: str = param("paper", "the split whose size at width fixes the parameter budget")

    def __post_init__(self) -> None:
        object.__setattr__(self, "splits", tuple(self.splits))
        object.__setattr__(self, "task_counts", tuple(self.task_counts))
        patterns = [self.pattern(split) for split in self.splits]
        if len(set(patterns)) != len(patterns):
            raise ConfigError(f"splits repeat a layer pattern: {list(self.splits)}")
        self.pattern(self.reference)
        self.teacher()  # the testbed's own checks (task counts divide the largest, ...)

    @staticmethod
    def pattern(split: str) -> str:
        """The 't'/'s' string of a split."""
        return "".join("s" if shared else "t" for shared in parse_split(split))

    def teacher(self) -> testbed.SyntheticRegressionConfig:
        """The testbed config whose teacher and samples this run learns."""
        return testbed.SyntheticRegressionConfig(**{name: getattr(self, name) for name in _TEACHER_FIELDS},
                                                 widths=(self.width,))

    def split_width(self, split: str, n_tasks: int) -> int:
        """Hidden width J of ``split`` at T = ``n_tasks`` (see the module docstring)."""
        if self.capacity == "width":
            return self.width
        reference = parse_split(self.reference)
        budget = SplitSpec(n_tasks, self.input_dim, 1, (self.width,) * len(reference), reference).n_parameters()
        return width_for_budget(n_tasks, self.input_dim, 1, parse_split(split), budget)


class SplitLearners:
    """The S seeds x G = T_max / T groups of one (T, split): members s G + g of one :class:`SplitMultiTaskNet`."""

    def __init__(self, config: Config, seeds: Sequence[int], n_tasks: int, split: str, device: torch.device):
        self.pattern, self.n_tasks = Config.pattern(split), n_tasks
        self.n_seeds, self.n_groups = len(seeds), max(config.task_counts) // n_tasks
        self.width = config.split_width(split, n_tasks)
        shared = parse_split(self.pattern)
        self.spec = SplitSpec(n_tasks, config.input_dim, 1, (self.width,) * len(shared), shared, config.activation)
        members = []
        for seed in seeds:
            key = zlib.crc32(self.pattern.encode()) if n_tasks > 1 else 0  # at T = 1 every split is one net
            generator = torch.Generator().manual_seed(testbed.stream_seed(seed, _SPLIT_INIT_STREAM, n_tasks, key,
                                                                          self.width))
            members += [SplitMultiTaskNet.init_member(self.spec, generator) for _ in range(self.n_groups)]
        initial = {name: torch.stack([m[name] for m in members]) for name in members[0]}
        member_seeds = [s for s in seeds for _ in range(self.n_groups)]
        self.net = SplitMultiTaskNet(self.spec, member_seeds, device, initial=initial)
        self.optimizer = MemberAdam(self.net.parameters(), lr=config.learning_rate)
        self.active = torch.ones(self.n_seeds, dtype=torch.bool, device=device)
        mask = testbed.training_mask(config.teacher()).to(device=device, dtype=torch.float32)  # (T_max, n)
        self.weights = mask / mask.reshape(self.n_groups, -1).sum(dim=-1).repeat_interleave(n_tasks)[:, None]

    @property
    def algorithm(self) -> str:
        return f"split-{self.pattern}"

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """Predictions (S, T_max, m) for inputs (S, T_max, m, d)."""
        seeds, pool, n_points, dim = inputs.shape
        out = self.net(inputs.reshape(seeds * self.n_groups, self.n_tasks, n_points, dim))
        return out[..., 0].reshape(seeds, pool, n_points)

    def train_step(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        """One full-batch Adam step of the active seeds' groups (loss: mean squared error over the group's samples)."""
        self.optimizer.zero_grad()
        per_task = (((self.predict(inputs) - targets) ** 2) * self.weights).sum(dim=-1)  # (S, T_max)
        self.active &= torch.isfinite(per_task.sum(dim=-1))
        torch.where(self.active[:, None], per_task, torch.zeros_like(per_task)).sum().backward()
        self.optimizer.step(self.active.repeat_interleave(self.n_groups))


def run(config: Config, seeds: Sequence[int], device: torch.device | str = "cpu",
        progress: Progress | None = None) -> RunResult:
    """Train every (split, T, group, seed) network and return the tidy rows (see the module docstring)."""
    seeds = [int(s) for s in seeds]
    device = resolve_device(device) if isinstance(device, str) else device
    teacher = config.teacher()
    tasks = testbed.make_tasks(teacher, seeds)
    train_x, train_y, test_x, test_y, test_clean = (t.to(device) for t in (
        tasks.train_inputs, tasks.train_targets, tasks.test_inputs, tasks.test_targets, tasks.test_clean_targets))
    result = RunResult(extra={"noise_variance": config.noise_std**2})
    own_progress = progress is None
    progress = progress or Progress(EXPERIMENT, len(config.splits) * config.epochs)
    pool = [str(t) for t in range(teacher.task_pool)]
    for split in config.splits:
        learners = [SplitLearners(config, seeds, n_tasks, split, device) for n_tasks in config.task_counts]
        last = 0
        for epoch in range(config.epochs + 1):
            if epoch % config.log_every == 0 or epoch == config.epochs:
                for group in learners:
                    _record(config, seeds, group, epoch, (train_x, train_y, test_x, test_y, test_clean), result)
                if epoch > 0:
                    progress.update(f"split {split}, epoch {epoch}", steps=epoch - last)
                    last = epoch
            if epoch == config.epochs:
                break
            for group in learners:
                testbed.train_step_recording_divergence(group, train_x, train_y, result, _base(group), pool, seeds,
                                                        epoch + 1)
        for group in learners:
            n_params = group.spec.n_parameters()
            result.rows += [row(**_base(group), task="all", seed=seed, step=config.epochs, metric="n_parameters",
                                value=n_params) for s, seed in enumerate(seeds) if bool(group.active[s])]
    if own_progress:
        progress.close()
    return result


def _base(group: SplitLearners) -> dict:
    return {"experiment": EXPERIMENT, "algorithm": group.algorithm, "variants": testbed.TASK_SET,
            "n_tasks": group.n_tasks, "width": group.width}


@torch.no_grad()
def _record(config: Config, seeds: list[int], group: SplitLearners, epoch: int, data: tuple[torch.Tensor, ...],
            result: RunResult) -> None:
    """Rows of one (T, split)'s errors at ``epoch`` for the seeds still learning."""
    train_x, train_y, test_x, test_y, test_clean = data
    mask = group.weights > 0
    train_mse = (((group.predict(train_x) - train_y) ** 2) * mask).sum(dim=-1) / mask.sum(dim=-1)
    test_pred = group.predict(test_x)
    test_mse = ((test_pred - test_y) ** 2).mean(dim=-1)
    metrics = {"train_mse": train_mse, "test_mse": test_mse, "excess_risk": test_mse - config.noise_std**2,
               "excess_risk_noiseless": ((test_pred - test_clean) ** 2).mean(dim=-1)}
    metrics = {name: values.double().cpu().numpy() for name, values in metrics.items()}
    base = _base(group)
    for s, seed in enumerate(seeds):
        if not bool(group.active[s]):
            continue
        for task in range(train_x.shape[1]):
            result.rows += [row(**base, task=str(task), seed=seed, step=epoch, metric=name, value=values[s, task])
                            for name, values in metrics.items()]
