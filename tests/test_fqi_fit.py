"""The FQI fit rule: the fused step equals the autograd step; the device-side stopping rule and
re-packing give the step-by-step loop's numbers exactly."""

from __future__ import annotations

import copy

import pytest
import torch

from mtrl_bench.algos.fqi_fit import FitOptions, TaskTensors, fit, weighted_mse
from mtrl_bench.algos.fqi_fused import FusedFitStep, plan_tiles, step_flops_per_row
from mtrl_bench.errors import ConfigError
from mtrl_bench.nets import NetSpec, SharedMultiTaskNet
from mtrl_bench.optim import MemberAdam

PAPER_NET = {}
DEEP_NET = dict(input_width=6, shared_widths=(7, 5), shared_activations=("tanh", "relu"))


def task_data(n_tasks: int, lengths: list[int], seed: int = 0) -> TaskTensors:
    """Random transitions, tasks padded to the longest (padding rows hold junk that must not count)."""
    gen = torch.Generator().manual_seed(seed)
    n = max(lengths)
    states = torch.rand(n_tasks, n, 2, generator=gen) * 2 - 1
    weight = torch.zeros(n_tasks, n)
    for t, length in enumerate(lengths):
        weight[t, :length] = 1.0
    actions = torch.randint(0, 2, (n_tasks, n), generator=gen)
    rewards = torch.rand(n_tasks, n, generator=gen)
    return TaskTensors(states, actions, rewards, states.flip(-1), torch.ones(n_tasks, n), weight)


def make_net(n_members: int, n_tasks: int, **widths) -> SharedMultiTaskNet:
    spec = NetSpec(n_tasks=n_tasks, obs_dim=2, n_actions=[2] * n_tasks, **widths)
    return SharedMultiTaskNet(spec, list(range(10, 10 + n_members)))


def targets_for(net: SharedMultiTaskNet, data: TaskTensors, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(net.n_members, *data.weight.shape, generator=gen) * 2 - 1


def reference_loss_and_grads(net: SharedMultiTaskNet, data: TaskTensors, targets: torch.Tensor):
    net.zero_grad()
    share = data.weight.sum(-1) / data.weight.sum()
    loss = (weighted_mse(net, data, targets) * share).sum(-1)
    loss.sum().backward()
    return loss.detach(), {k: v.grad.clone() for k, v in net.params.items()}


def assert_relative(actual: torch.Tensor, expected: torch.Tensor, rel: float) -> None:
    scale = expected.abs().max().clamp(min=1e-30)
    assert float((actual - expected).abs().max() / scale) <= rel


def assert_step_equals_autograd(make_step, widths: dict, lengths: list[int], rel: float = 1e-5) -> None:
    """A kernel's loss and gradients (``make_step(net, data)``) equal the autograd step's to ``rel``."""
    data = task_data(3, lengths)
    net = make_net(4, 3, **widths)
    targets = targets_for(net, data)
    loss, grads = reference_loss_and_grads(net, data, targets)
    step_loss, step_grads = make_step(net, data).loss_and_grads({k: v.detach() for k, v in net.params.items()},
                                                                targets)
    assert_relative(step_loss, loss, rel)
    assert set(step_grads) == set(grads)
    for name in grads:
        assert step_grads[name].shape == grads[name].shape
        assert_relative(step_grads[name], grads[name], rel)


@pytest.mark.parametrize("widths", [PAPER_NET, DEEP_NET], ids=["paper", "deep"])
@pytest.mark.parametrize("rows_per_tile", [50, 100_000], ids=["row-slices", "whole-members"])
def test_fused_loss_and_gradients_equal_autograd_to_round_off(widths, rows_per_tile):
    assert_step_equals_autograd(
        lambda net, data: FusedFitStep(net, data.states, data.actions, data.weight, rows_per_tile),
        widths, [120, 90, 101])


def assert_padding_blind(make_step) -> None:
    """Junk targets on padding rows change neither a kernel's loss nor its gradients, bit for bit."""
    data = task_data(2, [80, 50])
    net = make_net(2, 2)
    targets = targets_for(net, data)
    step = make_step(net, data)
    params = {k: v.detach() for k, v in net.params.items()}
    loss, grads = step.loss_and_grads(params, targets)
    junk = targets.clone()
    junk[:, 1, 50:] = 1e3  # the padding of task 1
    junk_loss, junk_grads = step.loss_and_grads(params, junk)
    assert torch.equal(loss, junk_loss)
    assert all(torch.equal(grads[k], junk_grads[k]) for k in grads)


def test_fused_padding_rows_do_not_count():
    assert_padding_blind(lambda net, data: FusedFitStep(net, data.states, data.actions, data.weight, 64))


def test_one_adam_step_with_fused_gradients_equals_the_autograd_step():
    data = task_data(2, [150, 130])
    net = make_net(3, 2)
    twin = copy.deepcopy(net)
    targets = targets_for(net, data)
    reference_loss_and_grads(net, data, targets)
    MemberAdam(net.parameters()).step()
    fused = FusedFitStep(twin, data.states, data.actions, data.weight)
    _, grads = fused.loss_and_grads({k: v.detach() for k, v in twin.params.items()}, targets)
    for name, p in twin.params.items():
        p.grad = grads[name]
    MemberAdam(twin.parameters()).step()
    for name in net.params:
        assert_relative(twin.params[name].detach(), net.params[name].detach(), 1e-5)
        assert not torch.equal(twin.params[name], make_net(3, 2).params[name])  # the step moved it


def test_tiles_cover_every_member_and_row_once():
    for n_members, n_tasks, n_rows, tile in [(7, 2, 30, 100), (3, 4, 50, 64), (5, 1, 10, 1)]:
        seen = torch.zeros(n_members, n_rows, dtype=torch.long)
        for t in plan_tiles(n_members, n_tasks, n_rows, tile):
            seen[t.members, t.rows] += 1
        assert bool((seen == 1).all())


def test_flop_count_of_the_paper_network():
    # forward 2,040 + weight gradients 2,040 + hidden-activation gradients 1,920
    assert step_flops_per_row(make_net(1, 1)) == 6_000


def fit_run(options: FitOptions | None, poison: bool = False, max_steps: int | None = 300, n_members: int = 5):
    """A fit with members that stop at different steps (and optionally one that diverges)."""
    data = task_data(2, [70, 55], seed=3)
    net = make_net(n_members, 2, input_width=8, shared_widths=(8,))
    optimizer = MemberAdam(net.parameters(), lr=1e-2)
    targets = targets_for(net, data, seed=4)
    if poison:
        targets[1, 0, 5] = float("nan")
    active = torch.ones(n_members, dtype=torch.bool)
    active[-1] = False  # an inactive member is never touched
    steps, diverged = fit(net, optimizer, data, targets, active, patience=7, tolerance=1e-4, max_steps=max_steps,
                          options=options)
    state = [optimizer.steps, *optimizer.exp_avg, *optimizer.exp_avg_sq]
    return steps, diverged, {k: v.detach().clone() for k, v in net.params.items()}, state


def assert_same_run(a, b) -> None:
    steps_a, diverged_a, params_a, state_a = a
    steps_b, diverged_b, params_b, state_b = b
    assert torch.equal(steps_a, steps_b) and torch.equal(diverged_a, diverged_b)
    assert all(torch.equal(params_a[k], params_b[k]) for k in params_a)
    assert all(torch.equal(x, y) for x, y in zip(state_a, state_b))


@pytest.mark.parametrize("poison", [False, True], ids=["clean", "one-diverges"])
@pytest.mark.parametrize("sync_every,repack_every", [(1, 0), (13, 0), (500, 0), (4, 9)])
def test_device_stopping_rule_gives_the_step_by_step_numbers(poison, sync_every, repack_every):
    reference = fit_run(None, poison)
    steps, diverged, _, _ = reference
    assert len(set(steps[:-1].tolist())) > 1  # members stop at different steps
    assert int(steps[-1]) == 0  # the inactive member
    assert bool(diverged[1]) == poison
    options = FitOptions(kernel="autograd", sync_every=sync_every, repack_every=repack_every)
    assert_same_run(fit_run(options, poison), reference)


def test_steps_capped_by_max_steps_on_the_device_rule():
    steps, _, _, _ = fit_run(FitOptions(sync_every=100), max_steps=12)
    assert int(steps.max()) == 12


@pytest.mark.parametrize("repack_every", [5, 16])
def test_fused_fit_is_identical_with_and_without_repacking(repack_every):
    plain = fit_run(FitOptions(kernel="fused", sync_every=4))
    assert_same_run(fit_run(FitOptions(kernel="fused", sync_every=4, repack_every=repack_every)), plain)
    assert_same_run(fit_run(FitOptions(kernel="fused", sync_every=1)), plain)


def test_fused_fit_follows_the_reference_fit():
    reference = fit_run(None, max_steps=40)
    fused = fit_run(FitOptions(kernel="fused"), max_steps=40)
    for name in reference[2]:
        assert_relative(fused[2][name], reference[2][name], 1e-3)


def test_bad_fit_options_are_config_errors():
    with pytest.raises(ConfigError, match="kernel"):
        FitOptions(kernel="magic")
    with pytest.raises(ConfigError, match="sync_every"):
        FitOptions(sync_every=0)


def test_authors_network_is_the_same_function_as_ours():
    from mtrl_bench.bench.fqi import AuthorsNet

    data = task_data(2, [40, 33])
    net = make_net(1, 2)
    theirs = AuthorsNet(2)
    p = {k: v.detach()[0] for k, v in net.params.items()}
    with torch.no_grad():
        for t in range(2):
            theirs.inputs[t].weight.copy_(p["input_weight"][t].T)
            theirs.inputs[t].bias.copy_(p["input_bias"][t])
            theirs.heads[t].weight.copy_(p["head_weight"][t].T)
            theirs.heads[t].bias.copy_(p["head_bias"][t])
        theirs.shared.weight.copy_(p["shared0_weight"].T)
        theirs.shared.bias.copy_(p["shared0_bias"])
        ours = net(data.states)[0]
        q = theirs([data.states[0], data.states[1]])
    for t in range(2):
        assert_relative(q[t], ours[t], 1e-6)


def test_paper_projection_counts_steps_and_rewards_repacking():
    import numpy as np

    from mtrl_bench.bench.fqi import REPACK_EVERY, _step_time_at, project_run
    from mtrl_bench.bench.fqi_profile import AUTHORS_TYPICAL, SPREAD

    per_member = 1e-3
    flat = {1: 0.5, 10: 0.5, 100: 0.5}  # a step costs the same whatever the batch
    assert project_run(flat, repack=False) == pytest.approx(SPREAD[1] * sum(AUTHORS_TYPICAL) * 0.5)
    linear = {s: s * per_member for s in (1, 10, 100)}  # a step costs in proportion to the running members
    assert _step_time_at(linear, 10) == pytest.approx(10 * per_member)
    assert _step_time_at(linear, 31.6) == pytest.approx(31.6 * per_member, rel=1e-6)
    packed, plain = project_run(linear, repack=True), project_run(linear, repack=False)
    # Re-packing pays about the members' own steps (100 x the typical count), never less.
    assert 100 * sum(AUTHORS_TYPICAL) * per_member <= packed < 0.85 * plain
    # A measured iteration: half the seeds stop at 2 x REPACK_EVERY steps, half at 6 x.
    profile = [np.array([2.0, 6.0]) * REPACK_EVERY]
    assert project_run(linear, profile, repack=True) == pytest.approx(
        (2 * 100 + 4 * 50) * REPACK_EVERY * per_member)
    assert project_run(linear, profile, repack=False) == pytest.approx(6 * REPACK_EVERY * 100 * per_member)


def test_device_loop_asks_the_host_only_every_sync_every_steps(monkeypatch):
    asked = []
    original = torch.Tensor.__bool__

    def counting(self):
        asked.append(1)
        return original(self)

    data = task_data(2, [60, 45])
    net = make_net(3, 2, input_width=8, shared_widths=(8,))
    optimizer = MemberAdam(net.parameters())
    targets = targets_for(net, data)
    active = torch.ones(3, dtype=torch.bool)
    monkeypatch.setattr(torch.Tensor, "__bool__", counting)
    steps, _ = fit(net, optimizer, data, targets, active, patience=10**6, tolerance=0.0, max_steps=100,
                   options=FitOptions(kernel="fused", sync_every=25))
    monkeypatch.undo()
    assert steps.tolist() == [100, 100, 100]
    assert len(asked) <= 100 // 25 + 1  # one check per 25 steps (and the last, which finds none running)
