"""Shared-representation networks with seeds as a leading batch dimension.

For task t the network computes Q_t(x) = f_t(h(w_t(x))):

* ``w_t``: task-specific input map, Linear(obs_dim -> input_width) + activation;
* ``h``: shared layers, Linear(input_width -> shared_widths[0]) + activation, ...;
* ``f_t``: task-specific head, Linear(shared_widths[-1] -> n_actions_max) + output activation.

S independent networks (one per seed, "members") are stored as stacked parameters of shape
(S, ...) and evaluated with one set of batched tensor operations. Member s is initialised from a
``torch.Generator`` seeded with ``seeds[s]`` only (on the CPU, then moved to the device), so it is
the same network whether it is trained alone or inside a batch. Tasks with fewer actions than
``n_actions_max`` have their extra outputs masked by the caller (see ``action_mask``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

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


def _init_linear(gen: torch.Generator, fan_in: int, fan_out: int, gain: float, scheme: str):
    """Weight (fan_in, fan_out) and bias (fan_out,) drawn from ``gen`` on the CPU in float64."""
    if scheme == "xavier":
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    else:
        bound = 1.0 / math.sqrt(fan_in)
    weight = (torch.rand(fan_in, fan_out, generator=gen, dtype=torch.float64) * 2 - 1) * bound
    # torch.nn.Linear's default bias: uniform(+-1/sqrt(fan_in)).
    bias_bound = 1.0 / math.sqrt(fan_in)
    bias = (torch.rand(fan_out, generator=gen, dtype=torch.float64) * 2 - 1) * bias_bound
    return weight, bias


class SharedMultiTaskNet(nn.Module):
    """S members x T tasks of Q_t = f_t(h(w_t(x))); parameters carry a leading member dimension."""

    def __init__(self, spec: NetSpec, seeds: Sequence[int], device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        if len(seeds) == 0:
            raise ConfigError("give at least one seed")
        self.spec = spec
        self.seeds = [int(s) for s in seeds]
        members = [self._init_member(spec, seed) for seed in self.seeds]
        stacked = {name: torch.stack([m[name] for m in members]) for name in members[0]}
        self.params = nn.ParameterDict(
            {name: nn.Parameter(value.to(device=device, dtype=dtype)) for name, value in stacked.items()}
        )
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

    def features(self, obs: torch.Tensor, members: slice | None = None) -> torch.Tensor:
        """Shared representation h(w_t(x)).

        Args:
            obs: (T, B, obs_dim), the same inputs for every member, or (S, T, B, obs_dim).
            members: evaluate only these members (S = their number); default all.
        Returns:
            (S, T, B, shared_widths[-1]).
        """
        spec = self.spec
        p = self.params if members is None else {k: v[members] for k, v in self.params.items()}
        n_members, n_tasks = p["input_weight"].shape[0], spec.n_tasks
        if obs.dim() == 3:
            obs = obs.expand(n_members, *obs.shape)
        batch = obs.shape[2]
        # Batched matrix products with the bias folded in (baddbmm): one (S*T)-batch for the task
        # layers, one S-batch over all tasks' rows for each shared layer.
        z = torch.baddbmm(p["input_bias"].reshape(n_members * n_tasks, 1, -1),
                          obs.reshape(n_members * n_tasks, batch, spec.obs_dim),
                          p["input_weight"].reshape(n_members * n_tasks, spec.obs_dim, -1))
        z = ACTIVATIONS[spec.input_activation](z).reshape(n_members, n_tasks * batch, -1)
        for i, act in enumerate(spec.shared_activations):
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
