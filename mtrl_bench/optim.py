"""Adam over stacked ensemble parameters, with members that can stop independently.

The first dimension of every parameter indexes members; ``step(active)`` updates only active members, each
exactly as torch's Adam would alone; frozen parameters (:meth:`MemberAdam.freeze`) do not move.

Design notes: docs/learners.md#memberadam.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class MemberAdam:
    """Adam (Kingma & Ba) with per-member step counts; defaults as torch.optim.Adam."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.weight_decay = float(weight_decay)
        n_members = self.params[0].shape[0]
        device = self.params[0].device
        self.steps = torch.zeros(n_members, dtype=torch.float64, device=device)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self._buffers: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        # Per parameter: its own step counts (S,) once it has been frozen, else None (= self.steps).
        self.param_steps: list[torch.Tensor | None] = [None] * len(self.params)
        self._frozen: set[int] = set()

    def _indices(self, params: Iterable[torch.Tensor]) -> list[int]:
        positions = {id(p): i for i, p in enumerate(self.params)}
        indices = []
        for p in params:
            if id(p) not in positions:
                raise ValueError("freeze/unfreeze: a parameter this optimiser does not hold")
            indices.append(positions[id(p)])
        return indices

    def freeze(self, params: Iterable[torch.Tensor]) -> None:
        """Stop updating ``params`` (and their moments and step counts) until :meth:`unfreeze`."""
        for i in self._indices(params):
            if self.param_steps[i] is None:
                self.param_steps[i] = self.steps.clone()
            self._frozen.add(i)

    def unfreeze(self, params: Iterable[torch.Tensor]) -> None:
        """Update ``params`` again from the next step; their bias correction continues their own count."""
        for i in self._indices(params):
            self._frozen.discard(i)

    def is_frozen(self, param: torch.Tensor) -> bool:
        return self._indices([param])[0] in self._frozen

    def _scratch(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = id(p)
        if key not in self._buffers:
            self._buffers[key] = (torch.empty_like(p), torch.empty_like(p))
        return self._buffers[key]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, active: torch.Tensor | None = None) -> None:
        """One Adam step for the members where ``active`` (S,) bool is True (all when None)."""
        beta1, beta2 = self.betas
        if active is None:
            active = torch.ones_like(self.steps, dtype=torch.bool)
        self.steps += active.to(self.steps.dtype)
        bias1 = 1 - beta1 ** self.steps
        bias2 = 1 - beta2 ** self.steps
        # Every member is updated in place with one set of operations (the same arithmetic whatever the
        # batch), then the stopped members' values are put back: they do not move.
        stopped = None if bool(active.all()) else (~active).nonzero().flatten()
        for i, (p, m, v) in enumerate(zip(self.params, self.exp_avg, self.exp_avg_sq)):
            if p.grad is None or i in self._frozen:
                continue
            own = self.param_steps[i]
            if own is None:
                b1_all, b2_all = bias1, bias2
            else:  # a parameter that was frozen: its own count, its own bias correction
                own += active.to(own.dtype)
                b1_all, b2_all = 1 - beta1 ** own, 1 - beta2 ** own
            saved = None if stopped is None else (p[stopped].clone(), m[stopped].clone(), v[stopped].clone())
            adam_update(p, p.grad, m, v, b1_all, b2_all, self.lr, self.betas, self.eps, self.weight_decay,
                        self._scratch(p))
            if saved is not None:
                p[stopped], m[stopped], v[stopped] = saved


@torch.no_grad()
def adam_update(p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, bias1: torch.Tensor,
                bias2: torch.Tensor, lr: float, betas: tuple[float, float], eps: float, weight_decay: float,
                scratch: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Adam's arithmetic for every member, in place: parameter ``p``, gradient ``g`` and moments ``m``,
    ``v`` (S, ...); bias corrections ``bias1`` = 1 - beta1^step, ``bias2`` (S,); ``scratch``: two buffers
    shaped like ``p`` (reused, so no large allocation per step). Callers that move only some members put
    the others back (:meth:`MemberAdam.step`, the FQI fit's packed loop)."""
    beta1, beta2 = betas
    shape = (-1,) + (1,) * (p.dim() - 1)
    if weight_decay:
        g = g.add(p, alpha=weight_decay)
    one, two = scratch
    m.mul_(beta1).add_(torch.mul(g, 1 - beta1, out=one))
    v.mul_(beta2).add_(torch.mul(g, 1 - beta2, out=one).mul_(g))
    b1 = bias1.clamp(min=1e-30).to(p.dtype).view(shape)
    b2 = bias2.clamp(min=1e-30).to(p.dtype).view(shape)
    # torch.optim.Adam: p -= lr * (m / b1) / (sqrt(v / b2) + eps)  (written as in torch)
    denom = torch.sqrt(v, out=one).div_(b2.sqrt()).add_(eps)
    p.sub_(torch.div(m, b1, out=two).div_(denom).mul_(lr))
