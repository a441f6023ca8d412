"""A synthetic multi-task regression testbed where the truth, and hence the excess risk, is known.

Not in the paper: it tests the O(1/sqrt(T)) reading of Theorem 3 against measured errors. Rows: per-task
``train_mse``, ``test_mse``, ``excess_risk``, ``excess_risk_noiseless``; plug-in complexities per (seed, T).

Design notes: docs/theory.md#the-testbed-in-detail.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mtrl_bench.config import param
from mtrl_bench.device import resolve_device
from mtrl_bench.errors import ConfigError, no_repeats
from mtrl_bench.experiments.runner import Progress, RunResult, row
from mtrl_bench.nets import HIDDEN_GAIN, NetSpec, SharedMultiTaskNet, init_linear_layers
from mtrl_bench.optim import MemberAdam
from mtrl_bench.theory.complexity import (
    ACTIVATION_LIPSCHITZ,
    expected_gaussian_norm,
    gaussian_complexity_linear_maps,
)

EXPERIMENT = "testbed"
INPUT_MAPS = {"task": "erm-task-input-maps", "shared": "erm-shared-input-map"}
"""Input-map variants and the ``algorithm`` label of their rows: per-task w_t (the paper) or one w."""
TASK_SET = "partition"
_DATA_STREAM, _INIT_STREAM, _COMPLEXITY_STREAM, _PRIVATE_STREAM = 0, 1, 2, 3


@dataclass(frozen=True)
class TeacherFields:
    """The teacher, its samples and the training of a testbed-based run (shared by the testbed and the
    ablations that reuse its teacher)."""

    task_counts: tuple[int, ...] = param((1, 2, 4, 8, 16, 32), "task counts T; each must divide the largest",
                                         low=1, nonempty=True)
    n_samples: int = param(50, "training samples per task", low=1)
    noise_std: float = param(0.1, "standard deviation of the label noise (target units)", low=0)
    input_dim: int = param(4, "input dimension", low=1)
    teacher_features: int = param(4, "width of the teacher's shared representation", low=1)
    n_test: int = param(500, "test samples per task", low=1)
    epochs: int = param(600, "full-batch Adam steps", low=1)
    learning_rate: float = param(6e-3, "Adam step size", low=0, low_open=True)
    activation: str = param("sigmoid", "hidden activation of the learner", choices=("sigmoid", "tanh", "relu"))
    log_every: int = param(100, "epochs between records of the errors", low=1)
    dissimilarity: float | None = param(None, "share of each task's target NOT common to all tasks, in [0, 1]: "
                                        "0 identical tasks, 1 unrelated ones (none: the testbed's teacher, a "
                                        "shared representation with own heads)", low=0, high=1)


@dataclass(frozen=True)
class SyntheticRegressionConfig(TeacherFields):
    """Everything that defines a testbed run except its seeds (recorded in the results' provenance)."""

    widths: tuple[int, ...] = param((5, 30), "learner widths J (units of the input maps and of the shared "
                                    "layer)", low=1, nonempty=True)
    complexity_draws: int = param(200, "Monte Carlo draws for the Gaussian complexities", low=2)
    input_map: str = param("task", "task: one input map per task (the paper); shared: one per group of tasks",
                           choices=tuple(INPUT_MAPS))
    small_task_fraction: float = param(1.0, "task 0 trains on this fraction rho of the n samples the others get",
                                       low=0, low_open=True, high=1)

    def __post_init__(self) -> None:
        for name in ("task_counts", "widths"):
            object.__setattr__(self, name, no_repeats(name, getattr(self, name)))
        pool = max(self.task_counts)
        if any(pool % n_tasks for n_tasks in self.task_counts):
            raise ConfigError(f"every task count must divide the largest one ({pool}), so that each T splits "
                              f"the same {pool} tasks into groups: got {list(self.task_counts)}")

    @property
    def task_pool(self) -> int:
        """The number of tasks every T is evaluated on: the largest T."""
        return max(self.task_counts)

    @property
    def small_task_samples(self) -> int:
        """Training samples of task 0: max(1, round(rho n)) (n when rho = 1)."""
        return max(1, int(round(self.small_task_fraction * self.n_samples)))


Config = SyntheticRegressionConfig


@dataclass(frozen=True)
class SyntheticTasks:
    """Samples of every seed's teacher. Shapes: inputs (S, T_max, m, input_dim), targets (S, T_max, m)."""

    train_inputs: torch.Tensor
    train_targets: torch.Tensor
    test_inputs: torch.Tensor
    test_targets: torch.Tensor
    test_clean_targets: torch.Tensor


def stream_seed(seed: int, stream: int, *keys: int) -> int:
    """A 63-bit generator seed derived from (seed, stream, keys): independent streams per purpose."""
    return int(np.random.SeedSequence([seed, stream, *keys]).generate_state(2, dtype=np.uint64)[0] >> 1)


def make_tasks(config: SyntheticRegressionConfig, seeds: Sequence[int]) -> SyntheticTasks:
    """Draw each seed's teacher and its training and test samples (CPU, float32, reproducible)."""
    parts = [_seed_tasks(config, seed) for seed in seeds]
    return SyntheticTasks(*(torch.stack([part[i] for part in parts]) for i in range(5)))


def _seed_tasks(config: SyntheticRegressionConfig, seed: int) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(stream_seed(seed, _DATA_STREAM))
    target = teacher(config, seed, generator)

    def sample(n_points: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        inputs = torch.randn(config.task_pool, n_points, config.input_dim, generator=generator, dtype=torch.float64)
        clean = target(inputs)
        noisy = clean + config.noise_std * torch.randn(config.task_pool, n_points, generator=generator,
                                                       dtype=torch.float64)
        return inputs.float(), noisy.float(), clean.float()

    train_inputs, train_targets, _ = sample(config.n_samples)
    test_inputs, test_targets, test_clean = sample(config.n_test)
    return train_inputs, train_targets, test_inputs, test_targets, test_clean


def _representation(generator: torch.Generator, n_maps: int, d: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_maps`` random teacher representations: M (n_maps, k, d) ~ N(0, 4/d), c (n_maps, k) ~ N(0, 1/4)."""
    mixing = torch.randn(n_maps, k, d, generator=generator, dtype=torch.float64) * (2.0 / math.sqrt(d))
    offset = torch.randn(n_maps, k, generator=generator, dtype=torch.float64) * 0.5
    return mixing, offset


def teacher(config: SyntheticRegressionConfig, seed: int, generator: torch.Generator | None = None):
    """Seed ``seed``'s clean target functions: inputs (T_max, m, input_dim) float64 -> targets (T_max, m).

    ``generator``: the seed's data stream (the teacher is drawn from it first, then the samples);
    a fresh one when None (the same teacher). See docs/theory.md#the-testbed-in-detail for ``dissimilarity``.
    """
    if generator is None:
        generator = torch.Generator().manual_seed(stream_seed(seed, _DATA_STREAM))
    d, k, t_max = config.input_dim, config.teacher_features, config.task_pool
    mixing, offset = (x[0] for x in _representation(generator, 1, d, k))
    heads = torch.randn(t_max, k, generator=generator, dtype=torch.float64) / math.sqrt(k)
    if config.dissimilarity is None:
        return lambda inputs: torch.einsum("tmk,tk->tm", torch.tanh(inputs @ mixing.T + offset), heads)
    private = torch.Generator().manual_seed(stream_seed(seed, _PRIVATE_STREAM))
    own_mixing, own_offset = _representation(private, t_max, d, k)
    own_heads = torch.randn(t_max, k, generator=private, dtype=torch.float64) / math.sqrt(k)
    common_weight, own_weight = math.sqrt(1.0 - config.dissimilarity), math.sqrt(config.dissimilarity)

    def target(inputs: torch.Tensor) -> torch.Tensor:
        common = torch.tanh(inputs @ mixing.T + offset) @ heads[0]
        own = torch.einsum("tmk,tk->tm", torch.tanh(inputs @ own_mixing.transpose(1, 2) + own_offset[:, None]),
                           own_heads)
        return common_weight * common + own_weight * own

    return target


def training_mask(config: SyntheticRegressionConfig) -> torch.Tensor:
    """(T_max, n) bool: which training samples each pool task learns from (all but task 0's tail)."""
    mask = torch.ones(config.task_pool, config.n_samples, dtype=torch.bool)
    mask[0, config.small_task_samples:] = False
    return mask


class GroupLearners:
    """The learners of one width and one T: S seeds x G = T_max / T groups, member s G + g of one
    :class:`SharedMultiTaskNet`, trained by one :class:`MemberAdam`.

    With per-task input maps the network has the group's T tasks; with a shared input map it has one
    task whose head has T outputs (output t predicts task t of the group).
    """

    def __init__(self, config: SyntheticRegressionConfig, seeds: Sequence[int], n_tasks: int, width: int,
                 device: torch.device):
        self.n_seeds, self.n_tasks, self.input_map = len(seeds), n_tasks, config.input_map
        self.n_groups = config.task_pool // n_tasks
        shared_map = config.input_map == "shared"
        spec = NetSpec(n_tasks=1 if shared_map else n_tasks, obs_dim=config.input_dim,
                       n_actions=[n_tasks] if shared_map else [1] * n_tasks, input_width=width,
                       shared_widths=(width,), input_activation=config.activation,
                       shared_activations=(config.activation,), output_activation="identity")
        members = [self._initial(config, seed, n_tasks, width) for seed in seeds]
        initial = {name: torch.cat([m[name] for m in members]) for name in members[0]}
        self.net = SharedMultiTaskNet(spec, [seed for seed in seeds for _ in range(self.n_groups)], device=device,
                                      initial=initial)
        self.optimizer = MemberAdam(self.net.parameters(), lr=config.learning_rate)
        self.active = torch.ones(self.n_seeds, dtype=torch.bool, device=device)  # seeds still learning
        # (T_max, n) sample weights of an imbalanced pool (task 0 has fewer samples); None when balanced.
        self.sample_mask = (None if config.small_task_fraction == 1.0
                            else training_mask(config).to(device=device, dtype=torch.float32))

    def _initial(self, config: SyntheticRegressionConfig, seed: int, n_tasks: int, width: int
                 ) -> dict[str, torch.Tensor]:
        """The G members of ``seed``, drawn from the generator of (seed, T, width): every input map,
        then the shared layers, then the heads of the pool's tasks."""
        generator = torch.Generator().manual_seed(stream_seed(seed, _INIT_STREAM, n_tasks, width))
        pool, groups, d = config.task_pool, self.n_groups, config.input_dim
        n_maps = pool if self.input_map == "task" else groups
        input_weight, input_bias = init_linear_layers(generator, n_maps, d, width, HIDDEN_GAIN)
        shared_weight, shared_bias = init_linear_layers(generator, groups, width, width, HIDDEN_GAIN)
        head_weight, head_bias = init_linear_layers(generator, pool, width, 1, 1.0)  # (pool, J, 1), (pool, 1)
        maps = n_maps // groups
        out = {"input_weight": input_weight.reshape(groups, maps, d, width),
               "input_bias": input_bias.reshape(groups, maps, width),
               "shared0_weight": shared_weight, "shared0_bias": shared_bias}
        if self.input_map == "task":
            out["head_weight"] = head_weight.reshape(groups, n_tasks, width, 1)
            out["head_bias"] = head_bias.reshape(groups, n_tasks, 1)
        else:  # one head with T outputs: column t is task t's head
            out["head_weight"] = head_weight[..., 0].reshape(groups, n_tasks, width).transpose(1, 2)[:, None]
            out["head_bias"] = head_bias.reshape(groups, 1, n_tasks)
        return out

    def group_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """The network's observations for inputs (S, T_max, m, d): (S G, T, m, d), or (S G, 1, T m, d)
        with a shared input map."""
        seeds, _, n_points, dim = inputs.shape
        if self.input_map == "task":
            return inputs.reshape(seeds * self.n_groups, self.n_tasks, n_points, dim)
        return inputs.reshape(seeds * self.n_groups, 1, self.n_tasks * n_points, dim)

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """Predictions (S, T_max, m) of every pool task's learner for inputs (S, T_max, m, d)."""
        seeds, pool, n_points, _ = inputs.shape
        q = self.net(self.group_inputs(inputs))
        if self.input_map == "task":
            return q[..., 0].reshape(seeds, pool, n_points)
        q = q.reshape(seeds * self.n_groups, self.n_tasks, n_points, self.n_tasks)
        return torch.diagonal(q, dim1=1, dim2=3).transpose(1, 2).reshape(seeds, pool, n_points)

    def train_step(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """One full-batch Adam step of every learner of an active seed: each group's loss is the mean
        squared error over its T n samples. Returns which seeds' losses were finite (S,) bool."""
        self.optimizer.zero_grad()
        if self.sample_mask is None:
            per_task = ((self.predict(inputs) - targets) ** 2).mean(dim=-1)  # (S, T_max)
            scale = 1.0 / self.n_tasks
        else:  # the mean over the union of the group's samples: task t weighs n_t / sum of its group's n
            per_task = (((self.predict(inputs) - targets) ** 2) * self.sample_mask).sum(dim=-1)
            group_samples = self.sample_mask.sum(dim=-1).reshape(self.n_groups, self.n_tasks).sum(dim=-1)
            scale = 1.0 / group_samples.repeat_interleave(self.n_tasks)  # (T_max,)
        per_seed = per_task.sum(dim=-1)
        finite = torch.isfinite(per_seed)
        self.active &= finite
        weighted = torch.where(self.active[:, None], per_task * scale, torch.zeros_like(per_task))
        weighted.sum().backward()
        self.optimizer.step(self.active.repeat_interleave(self.n_groups))
        return finite


def run(config: SyntheticRegressionConfig, seeds: Sequence[int], device: torch.device | str = "cpu",
        progress: Progress | None = None) -> RunResult:
    """Train every (width, T, group, seed) learner and return the tidy rows (see the module docstring);
    ``progress`` gets an update at every record (one is made, logging to stderr, when None)."""
    seeds = [int(s) for s in seeds]
    device = resolve_device(device) if isinstance(device, str) else device
    tasks = make_tasks(config, seeds)
    data = tuple(tensor.to(device) for tensor in (tasks.train_inputs, tasks.train_targets, tasks.test_inputs,
                                                   tasks.test_targets, tasks.test_clean_targets))
    result = RunResult(extra={"noise_variance": config.noise_std**2})
    own_progress = progress is None
    progress = progress or Progress(EXPERIMENT, len(config.widths) * config.epochs)
    for width in config.widths:
        train_width(config, seeds, width, data, result, progress)
    if own_progress:
        progress.close()
    return result


def train_width(config: SyntheticRegressionConfig, seeds: list[int], width: int, data: tuple[torch.Tensor, ...],
                result: RunResult, progress: Progress) -> None:
    """Train all (seed, T, group) learners of one width; their rows go to ``result``."""
    device = data[0].device
    learners = [GroupLearners(config, seeds, n_tasks, width, device) for n_tasks in config.task_counts]
    train_x, train_y = data[0], data[1]
    last = 0
    for epoch in range(config.epochs + 1):
        if epoch % config.log_every == 0 or epoch == config.epochs:
            test_mse = [_record_errors(config, seeds, group, epoch, width, data, result) for group in learners]
            if epoch > 0:
                progress.update(f"width {width}, epoch {epoch}", "mean test mse by T: " + ", ".join(
                    f"{group.n_tasks}: {mse:.4g}" for group, mse in zip(learners, test_mse, strict=True)),
                    steps=epoch - last)
                last = epoch
        if epoch == config.epochs:
            break
        for group in learners:
            train_step_recording_divergence(group, train_x, train_y, result, _base(config, group.n_tasks, width),
                                            [str(t) for t in range(config.task_pool)], seeds, epoch + 1)
    if config.input_map == "task":
        gaussians = _task_gaussians(config, seeds, width, train_x)
        for group in learners:
            _record_complexities(config, seeds, group, width, train_x, gaussians, result)


def _base(config: SyntheticRegressionConfig, n_tasks: int, width: int) -> dict:
    return {"experiment": EXPERIMENT, "algorithm": INPUT_MAPS[config.input_map], "variants": TASK_SET,
            "n_tasks": n_tasks, "width": width}


@torch.no_grad()
def _record_errors(config: SyntheticRegressionConfig, seeds: list[int], group: GroupLearners, epoch: int,
                   width: int, data: tuple[torch.Tensor, ...], result: RunResult) -> float:
    """Rows of the errors of one T's learners at ``epoch``; returns the mean test mse of the active seeds."""
    train_x, train_y, test_x, test_y, test_clean = data
    if group.sample_mask is None:
        train_mse = ((group.predict(train_x) - train_y) ** 2).mean(dim=-1)
    else:  # over the samples each task learnt from
        mask = group.sample_mask
        train_mse = (((group.predict(train_x) - train_y) ** 2) * mask).sum(dim=-1) / mask.sum(dim=-1)
    test_pred = group.predict(test_x)
    test_mse = ((test_pred - test_y) ** 2).mean(dim=-1)
    noiseless = ((test_pred - test_clean) ** 2).mean(dim=-1)
    metrics = {"train_mse": train_mse, "test_mse": test_mse, "excess_risk": test_mse - config.noise_std**2,
               "excess_risk_noiseless": noiseless}
    metrics = {name: values.double().cpu().numpy() for name, values in metrics.items()}
    base = _base(config, group.n_tasks, width)
    active = group.active.cpu().numpy()
    for s, seed in enumerate(seeds):
        if not active[s]:
            continue
        for task in range(config.task_pool):
            result.rows += [row(**base, task=str(task), seed=seed, step=epoch, metric=name, value=values[s, task])
                            for name, values in metrics.items()]
    return float(metrics["test_mse"][active].mean()) if active.any() else float("nan")


def _task_gaussians(config: SyntheticRegressionConfig, seeds: list[int], width: int,
                    train_x: torch.Tensor) -> list[list[float]]:
    """[seed][task]: G of the linear maps of ``width`` outputs on the task's training inputs with a bias
    column (Monte Carlo); it depends on the data only."""
    inputs = train_x.double().cpu()
    augmented = torch.cat([inputs, torch.ones(*inputs.shape[:-1], 1, dtype=inputs.dtype)], dim=-1)
    return [[gaussian_complexity_linear_maps(augmented[s, task], 1.0, width, config.complexity_draws,
                                             seed=stream_seed(seed, _COMPLEXITY_STREAM, width, task)).value
             for task in range(config.task_pool)] for s, seed in enumerate(seeds)]


@torch.no_grad()
def _record_complexities(config: SyntheticRegressionConfig, seeds: list[int], group: GroupLearners, width: int,
                         train_x: torch.Tensor, task_gaussians: list[list[float]], result: RunResult) -> None:
    """Plug-in complexity quantities per seed of one T, the worst (largest) over that T's groups."""
    lip_act = ACTIVATION_LIPSCHITZ[config.activation]
    obs = group.group_inputs(train_x)
    input_out = group.net.input_features(obs).double().cpu()  # (S G, T, n, J)
    features = group.net.features(obs).double().cpu()  # (S G, T, n, K)
    params = {name: value.detach().double().cpu() for name, value in group.net.params.items()}
    base = _base(config, group.n_tasks, width)
    active = group.active.cpu().numpy()
    for s, seed in enumerate(seeds):
        if not active[s]:
            continue
        per_group: dict[str, list[float]] = {name: [] for name in COMPLEXITY_METRICS}
        for g in range(group.n_groups):
            member = s * group.n_groups + g
            gaussian = max(task_gaussians[s][g * group.n_tasks: (g + 1) * group.n_tasks])
            values = _group_complexities({name: value[member] for name, value in params.items()}, gaussian,
                                         input_out[member], features[member], lip_act, width)
            for name, value in values.items():
                per_group[name].append(value)
        result.rows += [row(**base, task="all", seed=seed, step=config.epochs, metric=name, value=max(values))
                        for name, values in per_group.items()]


def _group_complexities(params: dict[str, torch.Tensor], task_gaussian: float, input_out: torch.Tensor,
                        features: torch.Tensor, lip_act: float, width: int) -> dict[str, float]:
    """The plug-in quantities of one group (one member: one shared layer and its T tasks); see the
    module docstring. ``input_out`` (T, n, J) and ``features`` (T, n, K) are over its training points."""
    input_weight, input_bias = params["input_weight"], params["input_bias"]  # (T, d, J), (T, J)
    shared_weight, shared_bias = params["shared0_weight"], params["shared0_bias"]  # (J, K), (K,)
    head_weight = params["head_weight"][..., 0]  # (T, K)
    input_radius = float(torch.cat([input_weight, input_bias[:, None, :]], dim=1).flatten(1).norm(dim=1).max())
    stacked_points = input_out.shape[0] * input_out.shape[1]
    head_norm = float(head_weight.norm(dim=1).max())
    return {
        "lipschitz_heads": head_norm,
        "lipschitz_shared": lip_act * float(torch.linalg.matrix_norm(shared_weight, ord=2)),
        "input_map_gaussian": lip_act * input_radius * task_gaussian,
        "input_map_output_norm": float(input_out.norm()),
        "shared_gaussian_ratio": lip_act * float(shared_weight.norm()) * math.sqrt(width),
        "shared_offset_gaussian": lip_act * float(shared_bias.norm()) * math.sqrt(stacked_points)
        * expected_gaussian_norm(width),
        "representation_output_norm": float(features.norm()),
        "head_gaussian_ratio": head_norm,
    }


COMPLEXITY_METRICS: Sequence[str] = (
    "lipschitz_heads", "lipschitz_shared", "input_map_gaussian", "input_map_output_norm",
    "shared_gaussian_ratio", "shared_offset_gaussian", "representation_output_norm", "head_gaussian_ratio",
)
"""Names of the plug-in complexity metrics; they match :class:`ClassComplexities`' fields."""


def train_step_recording_divergence(group, train_x: torch.Tensor, train_y: torch.Tensor, result: RunResult,
                                    base: dict, tasks: list[str], seeds: Sequence[int], step: int) -> None:
    """One training step of ``group``; every seed that stops being active in it is recorded as diverged
    at ``step`` (one ``diverged`` row per task of ``tasks``)."""
    was_active = group.active.clone()
    group.train_step(train_x, train_y)
    for s in torch.nonzero(was_active & ~group.active)[:, 0].tolist():
        result.diverged(base, tasks, seeds[s], step)
