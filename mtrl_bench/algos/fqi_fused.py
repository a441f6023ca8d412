"""A fused fit step for the FQI network: hand-derived gradients over cache-sized row tiles.

Same interface and arithmetic as the autograd step, equal to it up to float32 round-off; FLOPs per real row:
:func:`step_flops_per_row` (6,000 at the paper's 2-30-30-2).

Design notes: docs/fqi.md#the-fused-step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mtrl_bench.errors import ConfigError
from mtrl_bench.nets import SharedMultiTaskNet

# Rows (members x tasks x rows per task) per tile: large enough that the ~30 torch calls of a tile
# cost little next to its arithmetic, small enough that its activations stay in a core's L2/L3.
ROWS_PER_TILE = 8_192

_FORWARD = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "identity": lambda a: a}


def _sigmoid_out(pre: torch.Tensor, out: torch.Tensor) -> None:
    torch.sigmoid(pre, out=out)


def _tanh_out(pre: torch.Tensor, out: torch.Tensor) -> None:
    torch.tanh(pre, out=out)


def _relu_out(pre: torch.Tensor, out: torch.Tensor) -> None:
    torch.clamp(pre, min=0.0, out=out)


def _identity_out(pre: torch.Tensor, out: torch.Tensor) -> None:
    out.copy_(pre)


# act(pre) written into ``out`` (a strided view of a workspace buffer), no allocation.
_FORWARD_OUT = {"sigmoid": _sigmoid_out, "tanh": _tanh_out, "relu": _relu_out, "identity": _identity_out}


def _backward_out(name: str, grad: torch.Tensor, out: torch.Tensor, into: torch.Tensor) -> torch.Tensor:
    """As :func:`_backward`, written into ``into`` (which may be ``grad`` itself)."""
    if name == "sigmoid":
        return torch.ops.aten.sigmoid_backward.grad_input(grad, out, grad_input=into)
    if name == "tanh":
        return torch.ops.aten.tanh_backward.grad_input(grad, out, grad_input=into)
    if name == "relu":
        return torch.ops.aten.threshold_backward.grad_input(grad, out, 0.0, grad_input=into)
    return grad


def _backward(name: str, grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """d loss / d pre-activation from d loss / d activation ``grad`` and the activation ``out``."""
    if name == "sigmoid":
        return torch.ops.aten.sigmoid_backward(grad, out)
    if name == "tanh":
        return torch.ops.aten.tanh_backward(grad, out)
    if name == "relu":
        return torch.ops.aten.threshold_backward(grad, out, 0.0)
    return grad


def step_flops_per_row(net: SharedMultiTaskNet) -> int:
    """Multiply-add FLOPs (x2) of one forward + backward pass per training row (see module doc)."""
    spec = net.spec
    widths = [spec.input_width, *spec.shared_widths, spec.n_actions_max]
    hidden = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    return 4 * spec.obs_dim * spec.input_width + 6 * hidden


@dataclass
class Tile:
    """One tile: members ``members`` x rows ``rows`` of every task."""

    members: slice
    rows: slice


def plan_tiles(n_members: int, n_tasks: int, n_rows: int, rows_per_tile: int = ROWS_PER_TILE) -> list[Tile]:
    """Tiles covering members x rows: whole members per tile when one fits, else row slices of one."""
    per_member = n_tasks * n_rows
    if per_member <= rows_per_tile:
        size = max(1, rows_per_tile // per_member)
        return [Tile(slice(s, min(s + size, n_members)), slice(0, n_rows)) for s in range(0, n_members, size)]
    n_slices = math.ceil(per_member / rows_per_tile)
    step = math.ceil(n_rows / n_slices)
    return [Tile(slice(s, s + 1), slice(r, min(r + step, n_rows)))
            for s in range(n_members) for r in range(0, n_rows, step)]


class FusedFitStep:
    """Loss and gradients of the FQI fit for every member of ``net`` without autograd.

    Activations are held feature-major, (tasks x members, features, rows), with a row of ones
    appended so that each layer's bias is one more column of its weight matrix: every matrix
    product then has the long dimension (rows) as its contiguous, vectorised one.

    Args:
        net: the network (one or more shared layers; any of sigmoid/tanh/relu/identity).
        states: (T, N, obs_dim) training inputs, the same for every member.
        actions: (T, N) long, the action taken on each row.
        weight: (T, N) 1 on real rows, 0 on padding.
        rows_per_tile: the tile size (rows of all members and tasks per tile).
    """

    def __init__(self, net: SharedMultiTaskNet, states: torch.Tensor, actions: torch.Tensor, weight: torch.Tensor,
                 rows_per_tile: int = ROWS_PER_TILE):
        spec = net.spec
        if states.shape[:2] != actions.shape or actions.shape != weight.shape or states.shape[0] != spec.n_tasks:
            raise ConfigError(f"fused fit: states {tuple(states.shape)}, actions {tuple(actions.shape)} and weight "
                              f"{tuple(weight.shape)} must share (tasks={spec.n_tasks}, rows)")
        if rows_per_tile < 1:
            raise ConfigError(f"rows_per_tile must be >= 1, got {rows_per_tile}")
        self.spec = spec
        self.n_tasks, self.n_rows = actions.shape
        ones = torch.ones_like(states[..., :1])
        self.inputs = torch.cat([states, ones], -1).transpose(1, 2).contiguous()  # (T, obs + 1, N)
        # c = weight / (real rows of all tasks): a member's loss is sum c (q_taken - y)^2 over all rows.
        coef = weight / weight.sum()
        onehot = torch.nn.functional.one_hot(actions, spec.n_actions_max).to(states.dtype)
        self.taken_coef = (onehot * coef[..., None]).transpose(1, 2).contiguous()  # (T, A, N)
        self.rows_per_tile = rows_per_tile
        self.n_shared = len(spec.shared_widths)
        self._workspaces: dict[tuple[int, int], dict[str, list[torch.Tensor]]] = {}

    def tiles(self, n_members: int) -> list[Tile]:
        return plan_tiles(n_members, self.n_tasks, self.n_rows, self.rows_per_tile)

    def augmented(self, params: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Each layer's [W^T | b]: input (S, T, J, obs+1), shared (S, K, J+1) ..., head (S, T, A, K+1)."""
        out = [torch.cat([params["input_weight"].transpose(-1, -2), params["input_bias"][..., None]], -1)]
        for i in range(self.n_shared):
            out.append(torch.cat([params[f"shared{i}_weight"].transpose(-1, -2),
                                  params[f"shared{i}_bias"][..., None]], -1))
        out.append(torch.cat([params["head_weight"].transpose(-1, -2), params["head_bias"][..., None]], -1))
        return out

    def split(self, augmented: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """The inverse of :meth:`augmented`: {parameter name: tensor} in the net's layout."""
        names = ["input", *[f"shared{i}" for i in range(self.n_shared)], "head"]
        out = {}
        for name, aug in zip(names, augmented):
            out[f"{name}_weight"] = aug[..., :-1].transpose(-1, -2).contiguous()
            out[f"{name}_bias"] = aug[..., -1].contiguous()
        return out

    @torch.no_grad()
    def loss_and_grads(self, params: dict[str, torch.Tensor],
                       targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss (S,) and gradients {name: (S, ...)} for the members whose ``params`` are given.

        ``params`` holds the net's parameter layout for S members (all of the net's, or a packed
        subset); ``targets`` is (S, T, N) for the same members.
        """
        weights = self.augmented(params)
        grads = [torch.zeros_like(w) for w in weights]
        n_members = weights[0].shape[0]
        loss = torch.zeros(n_members, dtype=targets.dtype, device=targets.device)
        for tile in self.tiles(n_members):
            self._tile(tile, weights, grads, targets, loss)
        return loss, self.split(grads)

    def _workspace(self, n_members: int, rows: int, like: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """Buffers for one tile shape, kept across steps so that no step allocates (or page-faults) them.

        ``z[l]``: layer l's activations with a row of ones below, (T*B, width_l + 1, R); ``pre[l]``: its
        pre-activations, then its gradient, (T*B, width_l, R).
        """
        key = (n_members, rows)
        if key not in self._workspaces:
            batch = self.n_tasks * n_members
            widths = [self.spec.input_width, *self.spec.shared_widths]
            new = dict(dtype=like.dtype, device=like.device)
            self._workspaces[key] = {
                "z": [torch.ones(batch, w + 1, rows, **new) for w in widths],
                "pre": [torch.empty(batch, w, rows, **new) for w in widths],
                "grad": [torch.empty(batch, w, rows, **new) for w in widths],
            }
        return self._workspaces[key]

    def _tile(self, tile: Tile, weights: list[torch.Tensor], grads: list[torch.Tensor], targets: torch.Tensor,
              loss: torch.Tensor) -> None:
        spec = self.spec
        ms, rs = tile.members, tile.rows
        n_tasks, n_members, rows = self.n_tasks, tile.members.stop - tile.members.start, rs.stop - rs.start
        batch = n_tasks * n_members  # batch index = task * n_members + member
        inputs = self.inputs[:, :, rs]  # (T, obs+1, R)
        work = self._workspace(n_members, rows, targets)
        z, pre, grad_buf = work["z"], work["pre"], work["grad"]
        acts = [spec.input_activation, *spec.shared_activations]

        # Forward. The input layer of a task is one product for all members: (B*J, obs+1) @ (obs+1, R).
        w_in = weights[0][ms].transpose(0, 1).reshape(n_tasks, -1, inputs.shape[1])
        torch.bmm(w_in, inputs, out=pre[0].view(n_tasks, -1, rows))
        _FORWARD_OUT[acts[0]](pre[0], z[0][:, :-1])
        shared_w = [w[ms].expand(n_tasks, -1, -1, -1).reshape(batch, *w.shape[-2:]) for w in weights[1:-1]]
        for layer, w in enumerate(shared_w, start=1):
            torch.bmm(w, z[layer - 1], out=pre[layer])
            _FORWARD_OUT[acts[layer]](pre[layer], z[layer][:, :-1])
        w_head = weights[-1][ms].transpose(0, 1).reshape(batch, *weights[-1].shape[-2:])
        q = _FORWARD[spec.output_activation](torch.bmm(w_head, z[-1]))  # (T*B, A, R)

        # Loss and its gradient at the head's pre-activation (only the taken action's entry is non-zero).
        q4 = q.view(n_tasks, n_members, -1, rows)
        diff = q4 - targets[ms][:, :, None, rs].transpose(0, 1)
        weighted = self.taken_coef[:, None, :, rs] * diff
        loss[ms] += (weighted * diff).sum((0, 2, 3))
        grad = _backward(spec.output_activation, 2.0 * weighted, q4).reshape(batch, -1, rows)

        # Backward, layer by layer: d[W^T | b] = grad @ [z; 1]^T, then the gradient at the layer below.
        grads[-1][ms] += torch.bmm(grad, z[-1].transpose(1, 2)).view(n_tasks, n_members, *grads[-1].shape[2:]) \
            .transpose(0, 1)
        below = w_head[:, :, :-1]
        for layer in range(self.n_shared, -1, -1):
            torch.bmm(below.transpose(1, 2).contiguous(), grad, out=grad_buf[layer])
            grad = _backward_out(acts[layer], grad_buf[layer], z[layer][:, :-1], grad_buf[layer])
            if layer == 0:
                break
            grads[layer][ms] += torch.bmm(grad, z[layer - 1].transpose(1, 2)) \
                .view(n_tasks, n_members, *grads[layer].shape[1:]).sum(0)
            below = shared_w[layer - 1][:, :, :-1]
        # The input layer's gradient of a task, for all members at once: (B*J, R) @ (R, obs+1).
        grads[0][ms] += torch.bmm(grad.view(n_tasks, -1, rows), inputs.transpose(1, 2)) \
            .view(n_tasks, n_members, *grads[0].shape[2:]).transpose(0, 1)
