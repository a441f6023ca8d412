"""A synthetic multi-task regression testbed where the truth, and hence the excess risk, is known.

Not in the paper: it tests the O(1/sqrt(T)) reading of Theorem 3 against measured errors.

Teacher (one per seed): a fixed random shared representation phi*(x) = tanh(M x + c) with
M (teacher_features, input_dim) ~ N(0, 4/input_dim) and c ~ N(0, 1/4), and T_max random heads
beta_t ~ N(0, I / teacher_features). Task t's target is y = <beta_t, phi*(x)> + noise, x ~ N(0, I),
noise ~ N(0, noise_std^2). Tasks are nested: the run with T tasks uses tasks 0 .. T-1 of its seed's
teacher and the same samples, so task difficulty is not confounded with T.

Learner: the paper's architecture Q_t = f_t(h(w_t(x))) from :class:`mtrl_bench.nets.SharedMultiTaskNet`
with input-map width J = shared width = ``width``, hidden activation ``activation`` and a linear head,
trained by full-batch Adam on the mean squared error over all T n training samples for a fixed
number of epochs (no early stopping). One network per (seed, T) pair; all pairs of one width are
trained together as the members of one batched network, padded to T_max tasks with the padding
tasks' loss weight 0 (so they receive no gradient and do not move).

Measured (per task): ``train_mse`` and ``test_mse`` against noisy targets, ``excess_risk`` =
test_mse - noise_std^2 (the issue's definition, unbiased, can be slightly negative) and
``excess_risk_noiseless`` = mean squared distance to the noise-free targets (the same quantity
estimated with lower variance).

Complexity plug-ins of the trained network (per (seed, T), task ``all``, final epoch), the inputs of
:func:`mtrl_bench.theory.approx_error.approximation_error_bound`. They are plug-in estimates for
the norm-balls that contain the trained weights, NOT certified suprema over the learners' classes;
L_act is the activation's Lipschitz constant (sigmoid 1/4, tanh and relu 1):

* ``lipschitz_heads`` = max_t ||beta_t|| (L(F) of heads with norm <= that);
* ``lipschitz_shared`` = L_act ||V||_2 (spectral norm of the shared layer);
* ``input_map_gaussian`` = L_act B_W max_l E||Gamma^T [X_l, 1]||_F (Monte Carlo), B_W = max_t ||[W_t, b_t]||_F:
  Gaussian complexity of {x -> act(W x + b)} by Gaussian contraction (Sudakov-Fernique);
* ``input_map_output_norm`` = ||w(X)||_F and ``representation_output_norm`` = ||h(w(X))||_F over the
  T n training points;
* ``shared_gaussian_ratio`` = L_act ||V||_F sqrt(width) (O(H) of the Frobenius ball, comparison argument);
* ``shared_offset_gaussian`` = G(H(0)) <= L_act ||b_V|| sqrt(T n) E||N(0, I_width)||, taking p = 0 (it
  grows like sqrt(T n) when biases are free, which the paper's assumption 0 in H avoids);
* ``head_gaussian_ratio`` = max_t ||beta_t|| (O(F) of norm-bounded linear heads).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from mtrl_bench.errors import ConfigError
from mtrl_bench.nets import ACTIVATIONS
from mtrl_bench.theory.complexity import (
    ACTIVATION_LIPSCHITZ,
    expected_gaussian_norm,
    gaussian_complexity_linear_maps,
)

EXPERIMENT = "testbed"
INPUT_MAPS = {"task": "erm-task-input-maps", "shared": "erm-shared-input-map"}
"""Input-map variants and the ``algorithm`` label of their rows: per-task w_t (the paper) or one w."""
TASK_SET = "partition"
_DATA_STREAM, _INIT_STREAM = 0, 1


@dataclass(frozen=True)
class SyntheticRegressionConfig:
    """Everything that defines a testbed run (recorded in the results' provenance).

    task_counts: the T values; widths: learner widths J; seeds: teacher + data + init seeds;
    n_samples: training samples per task; n_test: test samples per task; noise_std: sigma of the
    label noise (target units); epochs: full-batch Adam steps; log_every: epochs between records.
    """

    task_counts: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    widths: tuple[int, ...] = (5, 30)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    n_samples: int = 50
    noise_std: float = 0.1
    input_dim: int = 4
    teacher_features: int = 4
    n_test: int = 500
    epochs: int = 600
    learning_rate: float = 6e-3
    activation: str = "sigmoid"
    log_every: int = 100
    complexity_draws: int = 200
    input_map: str = "task"

    def __post_init__(self) -> None:
        for name in ("task_counts", "widths", "seeds"):
            values = getattr(self, name)
            if len(values) == 0:
                raise ConfigError(f"{name} must not be empty")
            if len(set(values)) != len(values):
                raise ConfigError(f"{name} has repeated values: {list(values)}")
        if min(self.task_counts) < 1 or min(self.widths) < 1 or min(self.seeds) < 0:
            raise ConfigError("task counts and widths must be >= 1 and seeds >= 0")
        pool = max(self.task_counts)
        if any(pool % n_tasks for n_tasks in self.task_counts):
            raise ConfigError(f"every task count must divide the largest one ({pool}), so that each T splits "
                              f"the same {pool} tasks into groups: got {list(self.task_counts)}")
        for name in ("n_samples", "n_test", "input_dim", "teacher_features", "epochs", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.complexity_draws < 2:
            raise ConfigError(f"complexity_draws must be >= 2, got {self.complexity_draws}")
        if not self.noise_std >= 0 or not math.isfinite(self.noise_std):
            raise ConfigError(f"noise_std must be finite and >= 0, got {self.noise_std}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.input_map not in INPUT_MAPS:
            raise ConfigError(f"input_map must be one of {list(INPUT_MAPS)}, got {self.input_map!r}")
        if self.activation not in ACTIVATION_LIPSCHITZ or self.activation == "identity":
            raise ConfigError(f"activation must be sigmoid, tanh or relu, got {self.activation!r}")

    @property
    def task_pool(self) -> int:
        """The number of tasks every T is evaluated on: the largest T."""
        return max(self.task_counts)

    def as_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


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


def make_tasks(config: SyntheticRegressionConfig) -> SyntheticTasks:
    """Draw each seed's teacher and its training and test samples (CPU, float32, reproducible)."""
    parts = [_seed_tasks(config, seed) for seed in config.seeds]
    return SyntheticTasks(*(torch.stack([part[i] for part in parts]) for i in range(5)))


def _seed_tasks(config: SyntheticRegressionConfig, seed: int) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(stream_seed(seed, _DATA_STREAM))
    d, k, t_max = config.input_dim, config.teacher_features, config.task_pool
    mixing = torch.randn(k, d, generator=generator, dtype=torch.float64) * (2.0 / math.sqrt(d))
    offset = torch.randn(k, generator=generator, dtype=torch.float64) * 0.5
    heads = torch.randn(t_max, k, generator=generator, dtype=torch.float64) / math.sqrt(k)

    def sample(n_points: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        inputs = torch.randn(t_max, n_points, d, generator=generator, dtype=torch.float64)
        clean = torch.einsum("tmk,tk->tm", torch.tanh(inputs @ mixing.T + offset), heads)
        noisy = clean + config.noise_std * torch.randn(t_max, n_points, generator=generator, dtype=torch.float64)
        return inputs.float(), noisy.float(), clean.float()

    train_inputs, train_targets, _ = sample(config.n_samples)
    test_inputs, test_targets, test_clean = sample(config.n_test)
    return train_inputs, train_targets, test_inputs, test_targets, test_clean


def run_testbed(config: SyntheticRegressionConfig, device: torch.device | str = "cpu") -> list[dict]:
    """Train every (width, T, group, seed) learner and return tidy result rows (see module docstring)."""
    tasks = make_tasks(config)
    rows: list[dict] = []
    for width in config.widths:
        rows.extend(train_width(config, width, tasks, device))
    return rows


@dataclass
class GroupedLearners:
    """All learners of one width: per seed, every T splits the task pool into groups of T tasks.

    A *slot* is one (T, task) pair: slot = config_index * pool + task, L = n_configs * pool slots.
    Parameter shapes (S seeds, L slots, G groups over all configs, d inputs, J = K = width):
    input_weight (S, L, d, J), input_bias (S, L, J) (per group, (S, G, d, J), when the input map is
    shared), shared_weight (S, G, J, K), shared_bias (S, G, K), head_weight (S, L, K), head_bias (S, L).
    ``slot_group`` (L,) maps a slot to its group and the loss weight of a slot is 1/T, so that summing
    weighted per-slot mean squared errors gives every group its own loss
    (1/(nT)) sum_t sum_i (f_t(h(w_t(x_ti))) - y_ti)^2.
    """

    params: dict[str, torch.Tensor]
    task_counts: tuple[int, ...]
    input_map: str
    slot_group: torch.Tensor
    slot_task: torch.Tensor
    slot_tasks_per_group: torch.Tensor
    activation: str

    def forward_features(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input-map outputs w(x) and shared features h(w(x)), both (S, L, m, width); inputs (S, L, m, d).

        One batched matrix product per T: that T's slots are reshaped to (S, groups, T m, .) so each
        group's points meet its own shared layer (no per-slot copies of the shared weights).
        """
        act = ACTIVATIONS[self.activation]
        p = self.params
        seeds, _, n_points, _ = inputs.shape
        pool = len(self.slot_task) // len(self.task_counts)
        input_outs, features = [], []
        group_start = 0
        for position, n_tasks in enumerate(self.task_counts):
            slots = slice(position * pool, (position + 1) * pool)
            groups = slice(group_start, group_start + pool // n_tasks)
            group_start += pool // n_tasks
            if self.input_map == "task":
                input_out = act(torch.einsum("slmd,sldj->slmj", inputs[:, slots], p["input_weight"][:, slots])
                                + p["input_bias"][:, slots, None])
                by_group = input_out.reshape(seeds, pool // n_tasks, n_tasks * n_points, -1)
            else:
                grouped_inputs = inputs[:, slots].reshape(seeds, pool // n_tasks, n_tasks * n_points, -1)
                by_group = act(grouped_inputs @ p["input_weight"][:, groups] + p["input_bias"][:, groups, None])
                input_out = by_group.reshape(seeds, pool, n_points, -1)
            shared = act(by_group @ p["shared_weight"][:, groups] + p["shared_bias"][:, groups, None])
            input_outs.append(input_out)
            features.append(shared.reshape(seeds, pool, n_points, -1))
        return torch.cat(input_outs, dim=1), torch.cat(features, dim=1)

    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """Predictions (S, L, m) for inputs (S, L, m, d)."""
        _, features = self.forward_features(inputs)
        p = self.params
        return torch.einsum("slmk,slk->slm", features, p["head_weight"]) + p["head_bias"][:, :, None]


def build_learners(
    config: SyntheticRegressionConfig, width: int, device: torch.device | str = "cpu"
) -> GroupedLearners:
    """Initialise the learners of one width; each (seed, T) draws from its own generator (Xavier)."""
    pool, d = config.task_pool, config.input_dim
    per_seed: list[dict[str, list[torch.Tensor]]] = []
    slot_group, slot_task, slot_count = [], [], []
    for seed_position, seed in enumerate(config.seeds):
        parts: dict[str, list[torch.Tensor]] = {name: [] for name in _PARAMETER_NAMES}
        group_offset = 0
        for n_tasks in config.task_counts:
            generator = torch.Generator().manual_seed(stream_seed(seed, _INIT_STREAM, n_tasks, width))
            n_groups = pool // n_tasks
            n_input_maps = pool if config.input_map == "task" else n_groups
            weight, bias = _xavier(generator, (n_input_maps, d, width), math.sqrt(2.0))
            parts["input_weight"].append(weight)
            parts["input_bias"].append(bias)
            weight, bias = _xavier(generator, (n_groups, width, width), math.sqrt(2.0))
            parts["shared_weight"].append(weight)
            parts["shared_bias"].append(bias)
            weight, bias = _xavier(generator, (pool, width, 1), 1.0)
            parts["head_weight"].append(weight[..., 0])
            parts["head_bias"].append(bias[..., 0])
            if seed_position == 0:
                tasks = torch.arange(pool)
                slot_task.append(tasks)
                slot_group.append(group_offset + tasks // n_tasks)
                slot_count.append(torch.full((pool,), n_tasks))
            group_offset += n_groups
        per_seed.append(parts)
    params = {
        name: torch.stack([torch.cat(parts[name]) for parts in per_seed]).float().to(device).requires_grad_()
        for name in _PARAMETER_NAMES
    }
    return GroupedLearners(params, tuple(config.task_counts), config.input_map, torch.cat(slot_group).to(device),
                           torch.cat(slot_task).to(device), torch.cat(slot_count).to(device), config.activation)


_PARAMETER_NAMES = ("input_weight", "input_bias", "shared_weight", "shared_bias", "head_weight", "head_bias")


def _xavier(generator: torch.Generator, shape: tuple[int, int, int], gain: float) -> tuple[torch.Tensor, ...]:
    """Weights (batch, fan_in, fan_out) uniform +-gain sqrt(6/(fan_in+fan_out)); biases +-1/sqrt(fan_in)."""
    batch, fan_in, fan_out = shape
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    weight = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
    bias = (torch.rand((batch, fan_out), generator=generator, dtype=torch.float64) * 2 - 1) / math.sqrt(fan_in)
    return weight, bias


def train_width(
    config: SyntheticRegressionConfig, width: int, tasks: SyntheticTasks, device: torch.device | str = "cpu"
) -> list[dict]:
    """Train all (seed, T, group) learners of one width together; tidy rows for them.

    Full-batch Adam; Adam is element-wise, so batched learners follow the trajectories they would
    follow alone (up to floating-point summation order).
    """
    learners = build_learners(config, width, device)
    slot_task = learners.slot_task.cpu()
    data = tuple(tensor[:, slot_task].to(device) for tensor in
                 (tasks.train_inputs, tasks.train_targets, tasks.test_inputs, tasks.test_targets,
                  tasks.test_clean_targets))
    train_x, train_y = data[0], data[1]
    slot_weight = 1.0 / learners.slot_tasks_per_group.float()
    optimiser = torch.optim.Adam(learners.params.values(), lr=config.learning_rate)
    rows: list[dict] = []
    for epoch in range(config.epochs + 1):
        if epoch % config.log_every == 0 or epoch == config.epochs:
            rows.extend(_record_errors(config, learners, epoch, width, data))
        if epoch == config.epochs:
            break
        optimiser.zero_grad(set_to_none=True)
        per_slot_mse = ((learners.predict(train_x) - train_y) ** 2).mean(dim=-1)  # (S, L)
        (per_slot_mse * slot_weight).sum().backward()
        optimiser.step()
    if config.input_map == "task":
        rows.extend(_record_complexities(config, learners, width, train_x))
    return rows


@torch.no_grad()
def _record_errors(config, learners: GroupedLearners, epoch: int, width: int, data) -> list[dict]:
    train_x, train_y, test_x, test_y, test_clean = data
    train_mse = ((learners.predict(train_x) - train_y) ** 2).mean(dim=-1)
    test_pred = learners.predict(test_x)
    test_mse = ((test_pred - test_y) ** 2).mean(dim=-1)
    noiseless = ((test_pred - test_clean) ** 2).mean(dim=-1)
    metrics = {"train_mse": train_mse, "test_mse": test_mse, "excess_risk": test_mse - config.noise_std**2,
               "excess_risk_noiseless": noiseless}
    metrics = {name: values.double().cpu().numpy() for name, values in metrics.items()}
    counts = learners.slot_tasks_per_group.cpu().tolist()
    tasks = learners.slot_task.cpu().tolist()
    rows = []
    for seed_position, seed in enumerate(config.seeds):
        for slot, (n_tasks, task) in enumerate(zip(counts, tasks, strict=True)):
            for name, values in metrics.items():
                rows.append(_row(config, n_tasks, str(task), width, seed, epoch, name,
                                 values[seed_position, slot]))
    return rows


@torch.no_grad()
def _record_complexities(config, learners: GroupedLearners, width: int, train_x: torch.Tensor) -> list[dict]:
    """Plug-in complexity quantities per (seed, T), the worst (largest) over that T's groups."""
    lip_act = ACTIVATION_LIPSCHITZ[config.activation]
    input_out, features = (tensor.double().cpu() for tensor in learners.forward_features(train_x))
    params = {name: value.detach().double().cpu() for name, value in learners.params.items()}
    slot_group = learners.slot_group.cpu()
    counts = learners.slot_tasks_per_group.cpu()
    slot_task = learners.slot_task.cpu()
    # G of the linear maps on task l's inputs (with a bias column) depends on the data only: once per task.
    inputs = train_x.double().cpu()[:, :config.task_pool]  # slots 0 .. pool-1 hold tasks 0 .. pool-1
    augmented = torch.cat([inputs, torch.ones(*inputs.shape[:-1], 1, dtype=inputs.dtype)], dim=-1)
    task_gaussians = [[gaussian_complexity_linear_maps(augmented[position, task], 1.0, width,
                                                       config.complexity_draws,
                                                       seed=stream_seed(seed, 2, width, task)).value
                       for task in range(config.task_pool)] for position, seed in enumerate(config.seeds)]
    rows = []
    for seed_position, seed in enumerate(config.seeds):
        for n_tasks in config.task_counts:
            per_group: dict[str, list[float]] = {name: [] for name in COMPLEXITY_METRICS}
            for group in torch.unique(slot_group[counts == n_tasks]).tolist():
                slots = torch.nonzero(slot_group == group)[:, 0]
                gaussian = max(task_gaussians[seed_position][int(task)] for task in slot_task[slots])
                values = _group_complexities(params, seed_position, group, slots, gaussian,
                                             input_out[seed_position], features[seed_position], lip_act, width)
                for name, value in values.items():
                    per_group[name].append(value)
            rows.extend(_row(config, n_tasks, "all", width, seed, config.epochs, name, max(values))
                        for name, values in per_group.items())
    return rows


def _group_complexities(params, seed_position, group, slots, task_gaussian, input_out, features, lip_act,
                        width) -> dict[str, float]:
    """The plug-in quantities of one group (one shared layer and its T tasks); see module docstring."""
    input_weight = params["input_weight"][seed_position, slots]  # (T, d, J)
    input_bias = params["input_bias"][seed_position, slots]  # (T, J)
    shared_weight = params["shared_weight"][seed_position, group]  # (J, K)
    shared_bias = params["shared_bias"][seed_position, group]  # (K,)
    head_weight = params["head_weight"][seed_position, slots]  # (T, K)
    input_radius = float(torch.cat([input_weight, input_bias[:, None, :]], dim=1).flatten(1).norm(dim=1).max())
    stacked_points = len(slots) * input_out.shape[1]
    head_norm = float(head_weight.norm(dim=1).max())
    return {
        "lipschitz_heads": head_norm,
        "lipschitz_shared": lip_act * float(torch.linalg.matrix_norm(shared_weight, ord=2)),
        "input_map_gaussian": lip_act * input_radius * task_gaussian,
        "input_map_output_norm": float(input_out[slots].norm()),
        "shared_gaussian_ratio": lip_act * float(shared_weight.norm()) * math.sqrt(width),
        "shared_offset_gaussian": lip_act * float(shared_bias.norm()) * math.sqrt(stacked_points)
        * expected_gaussian_norm(width),
        "representation_output_norm": float(features[slots].norm()),
        "head_gaussian_ratio": head_norm,
    }


def _row(config: SyntheticRegressionConfig, n_tasks: int, task: str, width: int, seed: int, step: int,
         metric: str, value: float) -> dict:
    return {"experiment": EXPERIMENT, "algorithm": INPUT_MAPS[config.input_map], "variants": TASK_SET,
            "n_tasks": n_tasks,
            "task": task, "width": width, "seed": seed, "step": step, "metric": metric, "value": float(value)}


COMPLEXITY_METRICS: Sequence[str] = (
    "lipschitz_heads", "lipschitz_shared", "input_map_gaussian", "input_map_output_norm",
    "shared_gaussian_ratio", "shared_offset_gaussian", "representation_output_norm", "head_gaussian_ratio",
)
"""Names of the plug-in complexity metrics; they match :class:`ClassComplexities`' fields."""
