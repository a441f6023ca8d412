"""The shared-representation ensemble: shapes, masking, and member s = the network trained alone."""

import pytest
import torch

from mtrl_bench.errors import ConfigError
from mtrl_bench.nets import NetSpec, SharedMultiTaskNet
from mtrl_bench.optim import MemberAdam


def make_spec(**kw):
    base = dict(n_tasks=3, obs_dim=4, n_actions=[2, 3, 3], input_width=8, shared_widths=(6, 5),
                shared_activations=("relu", "sigmoid"), output_activation="identity")
    base.update(kw)
    return NetSpec(**base)


def test_output_shape_and_masked_actions_are_minus_infinity():
    net = SharedMultiTaskNet(make_spec(), seeds=[0, 1])
    q = net(torch.randn(3, 7, 4))
    assert q.shape == (2, 3, 7, 3)
    assert torch.isinf(q[:, 0, :, 2]).all() and torch.isfinite(q[:, 1:]).all()
    assert (q[:, 0].argmax(-1) < 2).all()


def test_shared_layers_are_shared_across_tasks_and_task_layers_are_not():
    net = SharedMultiTaskNet(make_spec(), seeds=[0])
    x = torch.randn(1, 5, 4).expand(3, -1, -1)
    q = net(x)
    net.params["head_weight"].data[:, 1] += 1.0  # change task 1's head only
    q2 = net(x)
    assert torch.equal(q[:, 0], q2[:, 0]) and not torch.equal(q[:, 1], q2[:, 1])
    assert net.params["shared0_weight"].shape == (1, 8, 6)


def train(seeds, steps=60):
    torch.manual_seed(123)  # data only; member init comes from the seeds
    x, y = torch.randn(3, 32, 4), torch.randn(3, 32, 3)
    net = SharedMultiTaskNet(make_spec(n_actions=[3, 3, 3]), seeds=seeds)
    opt = MemberAdam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        ((net(x) - y) ** 2).mean(dim=(1, 2, 3)).sum().backward()
        opt.step()
    return net


def test_member_of_a_batch_equals_the_network_trained_alone_with_its_seed():
    batched = train([5, 11, 17])
    alone = train([11])
    for name, value in batched.params.items():
        torch.testing.assert_close(value[1], alone.params[name][0], rtol=0, atol=1e-6)


def test_member_adam_matches_torch_adam_for_one_member():
    x, y = torch.randn(3, 16, 4), torch.randn(3, 16, 3)
    net = SharedMultiTaskNet(make_spec(n_actions=[3, 3, 3]), seeds=[4])
    ref = SharedMultiTaskNet(make_spec(n_actions=[3, 3, 3]), seeds=[4])
    ours, theirs = MemberAdam(net.parameters(), lr=1e-2), torch.optim.Adam(ref.parameters(), lr=1e-2)
    for _ in range(50):
        for model, opt in ((net, ours), (ref, theirs)):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
    for name in net.params:
        torch.testing.assert_close(net.params[name], ref.params[name], rtol=0, atol=1e-5)


def test_inactive_members_do_not_move():
    net = SharedMultiTaskNet(make_spec(), seeds=[0, 1])
    before = {k: v.detach().clone() for k, v in net.params.items()}
    opt = MemberAdam(net.parameters(), lr=0.1)
    net(torch.randn(3, 4, 4)).nan_to_num(neginf=0).sum().backward()
    opt.step(torch.tensor([True, False]))
    for name, value in net.params.items():
        assert torch.equal(value[1], before[name][1]) and not torch.equal(value[0], before[name][0])


@pytest.mark.parametrize("kw, message", [
    (dict(shared_widths=(0,), shared_activations=("relu",)), "widths must be positive"),
    (dict(n_actions=[2, 0, 3]), "at least one action"),
    (dict(input_activation="swish"), "unknown activation"),
])
def test_bad_architecture_is_refused_with_a_clear_message(kw, message):
    with pytest.raises(ConfigError, match=message):
        make_spec(**kw)
