"""Shared-representation networks with seeds as a leading batch dimension.

Q_t(x) = f_t(h(w_t(x))): ``w_t`` Linear(obs_dim -> input_width) + activation, ``h`` the shared layers, ``f_t``
Linear(shared_widths[-1] -> n_actions_max) + output activation; parameters are stacked (S, ...), member s
initialised from ``seeds[s]`` alone. :class:`DDPGActor` / :class:`DDPGCritic` follow the same pattern.

Design notes: docs/learners.md#networks-members-and-initialisation.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from mtrl_bench.errors import ConfigError

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "identity": lambda x: x,
}
# Xavier gains as the paper: sqrt(2) for hidden layers, 1 for the heads.
HIDDEN_GAIN = math.sqrt(2.0)


@dataclass(frozen=True)
class NetSpec:
    """Architecture of one member. Widths are numbers of units."""

    n_tasks: int
    obs_dim: int
    n_actions: Sequence[int]
    input_width: int = 30
    shared_widths: Sequence[int] = (30,)
    input_activation: str = "sigmoid"
    shared_activations: Sequence[str] = ("sigmoid",)
    output_activation: str = "tanh"
    init: str = "xavier"  # "xavier" (paper's FQI/DQN) or "fan_in" (DDPG-style uniform)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n_tasks < 1:
            raise ConfigError(f"n_tasks must be >= 1, got {self.n_tasks}")
        if len(self.n_actions) != self.n_tasks:
            raise ConfigError(f"n_actions has {len(self.n_actions)} entries for {self.n_tasks} tasks")
        if min(self.n_actions) < 1:
            raise ConfigError(f"every task head needs at least one action, got n_actions={list(self.n_actions)}")
        widths = [self.input_width, *self.shared_widths]
        if not self.shared_widths or min(widths) < 1:
            raise ConfigError(f"widths must be positive integers, got input_width={self.input_width}, "
                              f"shared_widths={list(self.shared_widths)}")
        if len(self.shared_activations) != len(self.shared_widths):
            raise ConfigError("give one shared activation per shared layer")
        for name in (self.input_activation, self.output_activation, *self.shared_activations):
            if name not in ACTIVATIONS:
                raise ConfigError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
        if self.init not in ("xavier", "fan_in"):
            raise ConfigError(f"unknown init {self.init!r}; choose xavier or fan_in")

    @property
    def n_actions_max(self) -> int:
        return max(self.n_actions)


def init_linear_layers(gen: torch.Generator, n_layers: int, fan_in: int, fan_out: int, gain: float,
                       scheme: str = "xavier") -> tuple[torch.Tensor, torch.Tensor]:
    """``n_layers`` Linear layers drawn from ``gen`` on the CPU in float64: every weight first,
    (n_layers, fan_in, fan_out), then every bias, (n_layers, fan_out).

    Weights are uniform(+-gain sqrt(6 / (fan_in + fan_out))) ("xavier") or uniform(+-1/sqrt(fan_in))
    ("fan_in"); biases uniform(+-1/sqrt(fan_in)) (torch.nn.Linear's default).
    """
    if scheme == "xavier":
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    else:
        bound = 1.0 / math.sqrt(fan_in)
    weight = (torch.rand(n_layers, fan_in, fan_out, generator=gen, dtype=torch.float64) * 2 - 1) * bound
    bias_bound = 1.0 / math.sqrt(fan_in)
    bias = (torch.rand(n_layers, fan_out, generator=gen, dtype=torch.float64) * 2 - 1) * bias_bound
    return weight, bias


def _init_linear(gen: torch.Generator, fan_in: int, fan_out: int, gain: float, scheme: str):
    """Weight (fan_in, fan_out) and bias (fan_out,) drawn from ``gen`` on the CPU in float64."""
    weight, bias = init_linear_layers(gen, 1, fan_in, fan_out, gain, scheme)
    return weight[0], bias[0]


def stack_members(seeds: Sequence[int], draw: Callable[[int], dict[str, torch.Tensor]], device: torch.device | str,
                  dtype: torch.dtype, initial: dict[str, torch.Tensor] | None = None) -> nn.ParameterDict:
    """The members' parameters (S, ...): ``draw(seed)`` (name -> one member's tensor) for each seed, or
    ``initial`` (name -> (S, ...) tensor) checked against those shapes."""
    if len(seeds) == 0:
        raise ConfigError("give at least one seed")
    if initial is None:
        members = [draw(seed) for seed in seeds]
        initial = {name: torch.stack([m[name] for m in members]) for name in members[0]}
    else:
        shapes = {name: (len(seeds), *value.shape) for name, value in draw(0).items()}
        if {name: tuple(value.shape) for name, value in initial.items()} != shapes:
            raise ValueError(f"initial parameters must have the shapes {shapes}")
    return nn.ParameterDict({name: nn.Parameter(value.to(device=device, dtype=dtype))
                             for name, value in initial.items()})


class SharedMultiTaskNet(nn.Module):
    """S members x T tasks of Q_t = f_t(h(w_t(x))); parameters carry a leading member dimension."""

    def __init__(self, spec: NetSpec, seeds: Sequence[int], device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, initial: dict[str, torch.Tensor] | None = None):
        """``initial``: the members' starting parameters (name -> (S, ...) tensor, the shapes of
        :meth:`_init_member` with a leading member dimension) instead of drawing them from ``seeds``."""
        super().__init__()
        self.spec = spec
        self.seeds = [int(s) for s in seeds]
        self.params = stack_members(self.seeds, lambda seed: self._init_member(spec, seed), device, dtype, initial)
        mask = torch.zeros(spec.n_tasks, spec.n_actions_max, dtype=torch.bool)
        for task, count in enumerate(spec.n_actions):
            mask[task, :count] = True
        self.register_buffer("action_mask", mask.to(device))

    @staticmethod
    def _init_member(spec: NetSpec, seed: int) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        out: dict[str, torch.Tensor] = {}
        pairs = [_init_linear(gen, spec.obs_dim, spec.input_width, HIDDEN_GAIN, spec.init)
                 for _ in range(spec.n_tasks)]
        out["input_weight"] = torch.stack([w for w, _ in pairs])  # (T, obs_dim, J)
        out["input_bias"] = torch.stack([b for _, b in pairs])  # (T, J)
        fan_in = spec.input_width
        for i, width in enumerate(spec.shared_widths):
            out[f"shared{i}_weight"], out[f"shared{i}_bias"] = _init_linear(
                gen, fan_in, width, HIDDEN_GAIN, spec.init)
            fan_in = width
        pairs = [_init_linear(gen, fan_in, spec.n_actions_max, 1.0, spec.init) for _ in range(spec.n_tasks)]
        out["head_weight"] = torch.stack([w for w, _ in pairs])  # (T, K, A)
        out["head_bias"] = torch.stack([b for _, b in pairs])  # (T, A)
        return out

    @property
    def n_members(self) -> int:
        return len(self.seeds)

    def input_features(self, obs: torch.Tensor, members: slice | None = None) -> torch.Tensor:
        """The task input maps' outputs w_t(x): (S, T, B, input_width); arguments as :meth:`features`."""
        spec = self.spec
        p = self.params if members is None else {k: v[members] for k, v in self.params.items()}
        n_members, n_tasks = p["input_weight"].shape[0], spec.n_tasks
        if obs.dim() == 3:
            obs = obs.expand(n_members, *obs.shape)
        batch = obs.shape[2]
        # Batched matrix products with the bias folded in (baddbmm): one (S*T)-batch for the task
        # layers, one S-batch over all tasks' rows for each shared layer (see features).
        z = torch.baddbmm(p["input_bias"].reshape(n_members * n_tasks, 1, -1),
                          obs.reshape(n_members * n_tasks, batch, spec.obs_dim),
                          p["input_weight"].reshape(n_members * n_tasks, spec.obs_dim, -1))
        return ACTIVATIONS[spec.input_activation](z).reshape(n_members, n_tasks, batch, -1)

    def features(self, obs: torch.Tensor, members: slice | None = None) -> torch.Tensor:
        """Shared representation h(w_t(x)).

        Args:
            obs: (T, B, obs_dim), the same inputs for every member, or (S, T, B, obs_dim).
            members: evaluate only these members (S = their number); default all.
        Returns:
            (S, T, B, shared_widths[-1]).
        """
        p = self.params if members is None else {k: v[members] for k, v in self.params.items()}
        z = self.input_features(obs, members)
        n_members, n_tasks, batch, _ = z.shape
        z = z.reshape(n_members, n_tasks * batch, -1)
        for i, act in enumerate(self.spec.shared_activations):
            z = ACTIVATIONS[act](torch.baddbmm(p[f"shared{i}_bias"][:, None, :], z, p[f"shared{i}_weight"]))
        return z.reshape(n_members, n_tasks, batch, -1)

    def forward(self, obs: torch.Tensor, members: slice | None = None) -> torch.Tensor:
        """Q-values (S, T, B, n_actions_max); actions a task does not have are -inf.

        ``members`` evaluates a contiguous subset of members (see :meth:`features`).
        """
        z = self.features(obs, members)
        n_members, n_tasks, batch, width = z.shape
        chosen = slice(None) if members is None else members
        q = torch.baddbmm(self.params["head_bias"][chosen].reshape(n_members * n_tasks, 1, -1),
                          z.reshape(n_members * n_tasks, batch, width),
                          self.params["head_weight"][chosen].reshape(n_members * n_tasks, width, -1))
        q = ACTIVATIONS[self.spec.output_activation](q).reshape(n_members, n_tasks, batch, -1)
        if not bool(self.action_mask.all()):
            q = q.masked_fill(~self.action_mask[None, :, None, :], float("-inf"))
        return q

    def shared_parameter_names(self) -> list[str]:
        """Names of the shared layers' parameters (what transfer copies)."""
        return [n for n in self.params if n.startswith("shared")]


# -- actor and critic (DDPG) ---------------------------------------------------------------------

HEAD_INIT_BOUND = 3e-3  # DDPG heads: weights and biases uniform(+-3e-3)


@dataclass(frozen=True)
class ActorCriticSpec:
    """Architecture of one DDPG member over T tasks (widths in units).

    ``obs_dims`` / ``action_dims``: each task's own observation and action sizes; inputs are
    zero-padded to the largest (``obs_dim``, ``action_dim``) and the rows of padded inputs are
    zero weights that never move (they see zero inputs, so their gradient is zero).
    """

    obs_dims: Sequence[int]
    action_dims: Sequence[int]
    input_width: int = 600
    shared_width: int = 500

    def __post_init__(self) -> None:
        object.__setattr__(self, "obs_dims", tuple(int(d) for d in self.obs_dims))
        object.__setattr__(self, "action_dims", tuple(int(d) for d in self.action_dims))
        if not self.obs_dims or len(self.obs_dims) != len(self.action_dims):
            raise ConfigError(f"give one observation and one action size per task, got obs_dims={self.obs_dims}, "
                              f"action_dims={self.action_dims}")
        if min(self.obs_dims) < 1 or min(self.action_dims) < 1:
            raise ConfigError("every task needs obs_dims and action_dims >= 1")
        if min(self.input_width, self.shared_width) < 1:
            raise ConfigError(f"widths must be positive integers, got input_width={self.input_width}, "
                              f"shared_width={self.shared_width}")

    @property
    def n_tasks(self) -> int:
        return len(self.obs_dims)

    @property
    def obs_dim(self) -> int:
        return max(self.obs_dims)

    @property
    def action_dim(self) -> int:
        return max(self.action_dims)


def _member_seed(seed: int, key: str) -> int:
    """A torch seed for member ``seed`` of the network called ``key`` (actor, critic): independent streams."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(key.encode())]).generate_state(1, np.uint64)[0] >> 1)


def _uniform(gen: torch.Generator, shape: tuple[int, ...], bound: float) -> torch.Tensor:
    """uniform(-bound, bound) of ``shape``, float64 on the CPU."""
    return (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) * bound


def _task_inputs(gen: torch.Generator, dims: Sequence[int], padded: int, width: int, bias: bool):
    """Per-task Linear(dims[t] -> width) weights (T, padded, width), rows >= dims[t] zero, and biases (T, width);
    bound 1/sqrt(dims[t]) (the task's own fan-in)."""
    weight = torch.zeros(len(dims), padded, width, dtype=torch.float64)
    biases = torch.zeros(len(dims), width, dtype=torch.float64)
    for t, dim in enumerate(dims):
        bound = 1.0 / math.sqrt(dim)
        weight[t, :dim] = _uniform(gen, (dim, width), bound)
        if bias:
            biases[t] = _uniform(gen, (width,), bound)
    return weight, biases


def _per_task_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x (S, T, B, n) @ weight (S, T, n, m) + bias (S, T, m) -> (S, T, B, m): one (S*T)-batched product."""
    n_members, n_tasks, batch, width = x.shape
    x = x.reshape(n_members * n_tasks, batch, width)
    w = weight.reshape(n_members * n_tasks, width, -1)
    if bias is None:
        out = torch.bmm(x, w)
    else:
        out = torch.baddbmm(bias.reshape(n_members * n_tasks, 1, -1), x, w)
    return out.reshape(n_members, n_tasks, batch, -1)


def _shared_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x (S, T, B, n) @ weight (S, n, m) + bias (S, m) -> (S, T, B, m): every task's rows in one S-batch."""
    n_members, n_tasks, batch, width = x.shape
    out = torch.baddbmm(bias[:, None, :], x.reshape(n_members, n_tasks * batch, width), weight)
    return out.reshape(n_members, n_tasks, batch, -1)


class _MemberNet(nn.Module):
    """Stacked members (S, ...) built by ``init(gen)`` with one generator per seed; see the module doc."""

    key = ""

    def __init__(self, spec: ActorCriticSpec, seeds: Sequence[int], device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        self.spec = spec
        self.seeds = [int(s) for s in seeds]
        self.params = stack_members(
            self.seeds, lambda seed: self.init_member(torch.Generator().manual_seed(_member_seed(seed, self.key))),
            device, dtype)
        mask = torch.arange(spec.action_dim)[None, :] < torch.tensor(spec.action_dims)[:, None]
        self.register_buffer("action_mask", mask.to(device=device, dtype=dtype))  # (T, A) 1.0 where used

    def init_member(self, gen: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @property
    def n_members(self) -> int:
        return len(self.seeds)

    def _members(self, members: slice | None) -> dict[str, torch.Tensor]:
        return dict(self.params) if members is None else {k: v[members] for k, v in self.params.items()}

    def features(self, obs: torch.Tensor, members: slice | None = None) -> torch.Tensor:
        """ReLU(w_t(obs)) (S, T, B, input_width) from obs (S, T, B, obs_dim) or (T, B, obs_dim)."""
        p = self._members(members)
        if obs.dim() == 3:
            obs = obs.expand(p["input_weight"].shape[0], *obs.shape)
        return torch.relu(_per_task_linear(obs, p["input_weight"], p["input_bias"]))

    def shared_parameter_names(self) -> list[str]:
        """Names of the shared layers' parameters (what transfer copies)."""
        return [n for n in self.params if n.startswith("shared")]

    def n_parameters(self) -> int:
        """Parameters of one member that can move: the zero rows of padded inputs are not counted, so this
        is the size of T separate per-task input layers plus the shared layer and the heads."""
        spec = self.spec
        total = sum(v[0].numel() for v in self.params.values())
        total -= (spec.n_tasks * spec.obs_dim - sum(spec.obs_dims)) * spec.input_width
        if "action_weight" in self.params:
            total -= (spec.n_tasks * spec.action_dim - sum(spec.action_dims)) * spec.shared_width
        return total


class DDPGActor(_MemberNet):
    """S members x T tasks of mu_t(s) = tanh(f_t(ReLU(h(ReLU(w_t(s)))))) in [-1, 1]^action_dim.

    w_t: Linear(obs_dims[t] -> input_width); h: shared Linear(input_width -> shared_width); f_t:
    Linear(shared_width -> action_dim) whose outputs beyond ``action_dims[t]`` are set to 0 (the env
    wrapper scales the first ``action_dims[t]`` to the task's bounds). Parameters: ``input_weight``
    (S, T, obs_dim, J), ``input_bias`` (S, T, J), ``shared0_weight`` (S, J, K), ``shared0_bias`` (S, K),
    ``head_weight`` (S, T, K, A), ``head_bias`` (S, T, A).
    """

    key = "actor"

    def init_member(self, gen: torch.Generator) -> dict[str, torch.Tensor]:
        spec = self.spec
        return {**_input_and_shared_layers(gen, spec), **_heads(gen, spec, spec.action_dim, HEAD_INIT_BOUND)}

    def forward(self, obs: torch.Tensor, members: slice | None = None) -> torch.Tensor:
        """Actions (S, T, B, action_dim) in [-1, 1], exactly 0 on a task's padded dimensions."""
        p = self._members(members)
        z = torch.relu(_shared_linear(self.features(obs, members), p["shared0_weight"], p["shared0_bias"]))
        action = torch.tanh(_per_task_linear(z, p["head_weight"], p["head_bias"]))
        return action * self.action_mask[None, :, None, :]


def _input_and_shared_layers(gen: torch.Generator, spec: ActorCriticSpec) -> dict[str, torch.Tensor]:
    """The task input maps and the shared layer of an actor or a critic, drawn in this order from ``gen``:
    uniform(+-1/sqrt(fan_in)) as the paper's DDPG."""
    weight, bias = _task_inputs(gen, spec.obs_dims, spec.obs_dim, spec.input_width, bias=True)
    return {"input_weight": weight, "input_bias": bias, **_shared_layer(gen, spec)}


def _shared_layer(gen: torch.Generator, spec: ActorCriticSpec) -> dict[str, torch.Tensor]:
    """The shared layer's weight then bias, uniform(+-1/sqrt(input_width))."""
    bound = 1.0 / math.sqrt(spec.input_width)
    return {"shared0_weight": _uniform(gen, (spec.input_width, spec.shared_width), bound),
            "shared0_bias": _uniform(gen, (spec.shared_width,), bound)}


def _heads(gen: torch.Generator, spec: ActorCriticSpec, out_dim: int, bound: float) -> dict[str, torch.Tensor]:
    """The per-task heads' weights (T, shared_width, out_dim) then biases (T, out_dim), uniform(+-bound)."""
    return {"head_weight": _uniform(gen, (spec.n_tasks, spec.shared_width, out_dim), bound),
            "head_bias": _uniform(gen, (spec.n_tasks, out_dim), bound)}


class DDPGCritic(_MemberNet):
    """S members x T tasks of Q_t(s, a) = f_t(sigmoid(h(ReLU(w_t(s))) + P_t a)).

    w_t: Linear(obs_dims[t] -> input_width); h: shared Linear(input_width -> shared_width); P_t:
    Linear(action_dims[t] -> shared_width, no bias) on the zero-padded action; f_t: Linear(shared_width
    -> 1). Parameters as :class:`DDPGActor` plus ``action_weight`` (S, T, A, K); ``head_weight``
    (S, T, K, 1), ``head_bias`` (S, T, 1).
    """

    key = "critic"

    def init_member(self, gen: torch.Generator) -> dict[str, torch.Tensor]:
        spec = self.spec
        out = _input_and_shared_layers(gen, spec)
        out["action_weight"], _ = _task_inputs(gen, spec.action_dims, spec.action_dim, spec.shared_width, bias=False)
        return {**out, **_heads(gen, spec, 1, HEAD_INIT_BOUND)}

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, members: slice | None = None) -> torch.Tensor:
        """Q-values (S, T, B) of obs (S, T, B, obs_dim) and zero-padded actions (S, T, B, action_dim)."""
        p = self._members(members)
        state = _shared_linear(self.features(obs, members), p["shared0_weight"], p["shared0_bias"])
        z = torch.sigmoid(state + _per_task_linear(actions, p["action_weight"], None))
        return _per_task_linear(z, p["head_weight"], p["head_bias"])[..., 0]


# -- shared-depth ablation: any split of the hidden layers into shared and task-specific -----------

SPLIT_ALIASES = {"none": "tt", "paper": "ts", "all": "ss"}
"""Named splits of two hidden layers: none = T independent networks, paper = task-specific input map
then a shared layer (the paper's split), all = every hidden layer shared (only the heads per task)."""


def parse_split(split: str) -> tuple[bool, ...]:
    """Which hidden layers are shared, from a split name (:data:`SPLIT_ALIASES`) or a string of 't'
    (task-specific) and 's' (shared) per hidden layer, input side first: "ts" -> (False, True)."""
    text = SPLIT_ALIASES.get(str(split).strip().lower(), str(split).strip().lower())
    if not text or set(text) - {"t", "s"}:
        raise ConfigError(f"unknown layer split {split!r}: give one of {sorted(SPLIT_ALIASES)} or a string of "
                          "'t' (task-specific) and 's' (shared) per hidden layer, e.g. 'tss'")
    return tuple(letter == "s" for letter in text)


@dataclass(frozen=True)
class SplitSpec:
    """One member of a :class:`SplitMultiTaskNet`: T tasks, hidden layers of ``widths`` units, layer i
    shared by the T tasks when ``shared[i]``, else one copy per task; a task-specific linear head of
    ``out_dim`` outputs."""

    n_tasks: int
    in_dim: int
    out_dim: int
    widths: tuple[int, ...]
    shared: tuple[bool, ...]
    activation: str = "sigmoid"
    output_activation: str = "identity"

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "shared", tuple(bool(s) for s in self.shared))
        if self.n_tasks < 1 or self.in_dim < 1 or self.out_dim < 1:
            raise ConfigError(f"n_tasks, in_dim and out_dim must be >= 1, got {self.n_tasks}, {self.in_dim}, "
                              f"{self.out_dim}")
        if not self.widths or min(self.widths) < 1 or len(self.widths) != len(self.shared):
            raise ConfigError(f"give one positive width per hidden layer: widths={list(self.widths)}, "
                              f"{len(self.shared)} layers")
        for name in (self.activation, self.output_activation):
            if name not in ACTIVATIONS:
                raise ConfigError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")

    def layer_sizes(self) -> list[tuple[int, int, bool]]:
        """(fan_in, fan_out, shared) of every layer, the head last (never shared)."""
        sizes = [self.in_dim, *self.widths]
        return [(sizes[i], sizes[i + 1], self.shared[i]) for i in range(len(self.widths))] + [
            (sizes[-1], self.out_dim, False)]

    def n_parameters(self) -> int:
        """Weights and biases of one member (all T tasks): a shared layer counts once, a task layer T times."""
        return sum((fan_in + 1) * fan_out * (1 if shared else self.n_tasks)
                   for fan_in, fan_out, shared in self.layer_sizes())


def width_for_budget(n_tasks: int, in_dim: int, out_dim: int, shared: Sequence[bool], budget: int) -> int:
    """The common hidden width J whose :class:`SplitSpec` has the parameter count closest to ``budget``
    (the smaller J on a tie), so that splits are compared at a fixed total number of parameters."""
    def count(width: int) -> int:
        return SplitSpec(n_tasks, in_dim, out_dim, (width,) * len(shared), tuple(shared)).n_parameters()

    if budget < 1:
        raise ConfigError(f"the parameter budget must be >= 1, got {budget}")
    high = 1
    while count(high) < budget:
        high *= 2
    low = max(1, high // 2)
    while high - low > 1:  # count is increasing in the width: bisect for the last width below the budget
        middle = (low + high) // 2
        low, high = (middle, high) if count(middle) < budget else (low, middle)
    return min((low, high), key=lambda w: (abs(count(w) - budget), w))


class SplitMultiTaskNet(nn.Module):
    """S members x T tasks with any split of the hidden layers into shared and task-specific ones.

    Parameters (leading member dimension S): ``layer{i}_weight`` (S, fan_in, fan_out) and
    ``layer{i}_bias`` (S, fan_out) for a shared layer, (S, T, fan_in, fan_out) and (S, T, fan_out) for a
    task-specific one; ``head_weight`` (S, T, width, out_dim), ``head_bias`` (S, T, out_dim). With no
    shared layer the T tasks never meet: the net is T independent networks (task t's output depends
    on task t's parameters only, and its gradient on task t's loss only). Member s is drawn from a
    generator seeded with ``seeds[s]`` (every layer in order, a task layer's T copies at once, Xavier
    with gain sqrt 2, heads with gain 1), or given as ``initial``.
    """

    def __init__(self, spec: SplitSpec, seeds: Sequence[int], device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, initial: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.spec, self.seeds = spec, [int(s) for s in seeds]
        def draw(seed: int) -> dict[str, torch.Tensor]:
            return self.init_member(spec, torch.Generator().manual_seed(seed))

        self.params = stack_members(self.seeds, draw, device, dtype, initial)

    @staticmethod
    def init_member(spec: SplitSpec, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """One member's parameters (float64, CPU) drawn from ``generator``; shapes without the S dimension."""
        out: dict[str, torch.Tensor] = {}
        layers = spec.layer_sizes()
        for i, (fan_in, fan_out, shared) in enumerate(layers):
            name = "head" if i == len(layers) - 1 else f"layer{i}"
            gain = 1.0 if name == "head" else HIDDEN_GAIN
            weight, bias = init_linear_layers(generator, 1 if shared else spec.n_tasks, fan_in, fan_out, gain)
            out[f"{name}_weight"], out[f"{name}_bias"] = (weight[0], bias[0]) if shared else (weight, bias)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs (S, T, B, out_dim) for inputs (S, T, B, in_dim) (task t's rows go through task t's layers)."""
        spec, p = self.spec, self.params
        n_members, n_tasks, batch, _ = x.shape
        z = x
        for i, (_, fan_out, shared) in enumerate(spec.layer_sizes()):
            name = "head" if i == len(spec.widths) else f"layer{i}"
            weight, bias = p[f"{name}_weight"], p[f"{name}_bias"]
            if shared:  # one S-batch over all tasks' rows
                z = torch.baddbmm(bias[:, None, :], z.reshape(n_members, n_tasks * batch, -1), weight)
            else:  # one (S T)-batch
                z = torch.baddbmm(bias.reshape(n_members * n_tasks, 1, -1),
                                  z.reshape(n_members * n_tasks, batch, -1),
                                  weight.reshape(n_members * n_tasks, *weight.shape[2:]))
            z = ACTIVATIONS[spec.output_activation if name == "head" else spec.activation](z)
            z = z.reshape(n_members, n_tasks, batch, fan_out)
        return z


# -- the common DDPG networks (state and action concatenated at the critic's input) ---------------

class CommonDDPGActor(DDPGActor):
    """The common DDPG actor (as stable-baselines3's): :class:`DDPGActor`'s layers (ReLU MLP, tanh output) with
    every layer, the head included, initialised as ``torch.nn.Linear`` by default: weights and biases
    uniform(+-1/sqrt(fan_in)). Parameters as :class:`DDPGActor`."""

    key = "actor_common"

    def init_member(self, gen: torch.Generator) -> dict[str, torch.Tensor]:
        spec = self.spec
        return {**_input_and_shared_layers(gen, spec),
                **_heads(gen, spec, spec.action_dim, 1.0 / math.sqrt(spec.shared_width))}


class CommonDDPGCritic(DDPGCritic):
    """S members x T tasks of the common DDPG critic Q_t(s, a) = f_t(ReLU(h(ReLU(w_t([s, a]))))).

    w_t: Linear(obs_dims[t] + action_dims[t] -> input_width) on the concatenation of the zero-padded
    observation and action (``input_weight`` (S, T, obs_dim + action_dim, J), rows of padded entries zero);
    h: shared Linear(input_width -> shared_width); f_t: Linear(shared_width -> 1). Every layer initialised
    as ``torch.nn.Linear`` by default (uniform(+-1/sqrt(fan_in)), the task's own fan-in at the input), as
    stable-baselines3's critic. With one task this is the two-hidden-layer ReLU critic of the common DDPG
    implementations; with several, the input layer is per task and the second layer shared, as the paper's.
    """

    key = "critic_common"

    def init_member(self, gen: torch.Generator) -> dict[str, torch.Tensor]:
        spec = self.spec
        n_obs = spec.obs_dim
        weight = torch.zeros(spec.n_tasks, n_obs + spec.action_dim, spec.input_width, dtype=torch.float64)
        bias = torch.zeros(spec.n_tasks, spec.input_width, dtype=torch.float64)
        for t, (obs_dim, action_dim) in enumerate(zip(spec.obs_dims, spec.action_dims)):
            bound = 1.0 / math.sqrt(obs_dim + action_dim)
            block = _uniform(gen, (obs_dim + action_dim, spec.input_width), bound)
            weight[t, :obs_dim], weight[t, n_obs:n_obs + action_dim] = block[:obs_dim], block[obs_dim:]
            bias[t] = _uniform(gen, (spec.input_width,), bound)
        return {"input_weight": weight, "input_bias": bias, **_shared_layer(gen, spec),
                **_heads(gen, spec, 1, 1.0 / math.sqrt(spec.shared_width))}

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, members: slice | None = None) -> torch.Tensor:
        """Q-values (S, T, B) of obs (S, T, B, obs_dim) and zero-padded actions (S, T, B, action_dim)."""
        p = self._members(members)
        x = torch.cat([obs, actions.expand(*obs.shape[:-1], actions.shape[-1])], dim=-1)
        z = torch.relu(_per_task_linear(x, p["input_weight"], p["input_bias"]))
        z = torch.relu(_shared_linear(z, p["shared0_weight"], p["shared0_bias"]))
        return _per_task_linear(z, p["head_weight"], p["head_bias"])[..., 0]

    def n_parameters(self) -> int:
        spec = self.spec
        return super().n_parameters() - (spec.n_tasks * spec.action_dim - sum(spec.action_dims)) * spec.input_width


DDPG_NETWORKS: dict[str, tuple[type[DDPGActor], type[DDPGCritic]]] = {
    "paper": (DDPGActor, DDPGCritic),
    "common": (CommonDDPGActor, CommonDDPGCritic),
}
"""DDPG network presets: name -> (actor class, critic class). ``paper``: the action enters the critic at the
shared layer through a sigmoid, heads uniform(+-3e-3); ``common``: state and action concatenated at the critic's
input, ReLU throughout, torch's default initialisation (as stable-baselines3)."""
