"""The compiled FQI fit kernel: equal to the autograd step to float32 round-off, padding-blind, identical
with and without re-packing, and clear about what it cannot run."""

from __future__ import annotations

import pytest
import torch
from test_fqi_fit import (
    assert_padding_blind,
    assert_relative,
    assert_same_run,
    assert_step_equals_autograd,
    fit_run,
    make_net,
    reference_loss_and_grads,
    targets_for,
    task_data,
)

from mtrl_bench.algos import fqi_native
from mtrl_bench.algos.fqi_fit import FitOptions, resolve_kernel
from mtrl_bench.algos.fqi_native import NativeFitStep, NativeKernelUnavailable
from mtrl_bench.errors import ConfigError


@pytest.fixture(scope="module", autouse=True)
def compiled():
    try:
        fqi_native.library()
    except NativeKernelUnavailable as err:  # a machine without a C compiler: the kernel cannot exist here
        pytest.skip(str(err))


NETS = {
    "paper": {},
    "relu-identity": dict(input_width=7, shared_widths=(13,), shared_activations=("relu",),
                          output_activation="identity"),
    "tanh-narrow": dict(input_width=5, shared_widths=(3,), input_activation="tanh", shared_activations=("tanh",)),
    "wide": dict(input_width=33, shared_widths=(41,)),
}


@pytest.mark.parametrize("widths", NETS.values(), ids=NETS.keys())
@pytest.mark.parametrize("lengths", [[120, 90, 101], [64, 64, 64], [5, 1, 70]], ids=["ragged", "whole-tiles", "tiny"])
def test_native_loss_and_gradients_equal_autograd_to_round_off(widths, lengths):
    assert_step_equals_autograd(lambda net, data: NativeFitStep(net, data.states, data.actions, data.weight),
                                widths, lengths)


def test_native_activations_are_accurate_far_from_zero():
    """Saturated units (|pre-activation| up to ~60) still give the reference's gradients."""
    data = task_data(1, [77])
    net = make_net(2, 1)
    with torch.no_grad():
        for p in net.params.values():
            p.mul_(12.0)
    targets = targets_for(net, data)
    loss, grads = reference_loss_and_grads(net, data, targets)
    native = NativeFitStep(net, data.states, data.actions, data.weight)
    native_loss, native_grads = native.loss_and_grads({k: v.detach() for k, v in net.params.items()}, targets)
    assert_relative(native_loss, loss, 1e-5)
    for name in grads:
        assert_relative(native_grads[name], grads[name], 1e-4)


def test_native_padding_rows_do_not_count():
    assert_padding_blind(lambda net, data: NativeFitStep(net, data.states, data.actions, data.weight))


def test_a_member_gets_the_same_numbers_in_any_batch():
    """Members are computed one after another: a member's bits do not depend on who else is batched."""
    data = task_data(2, [70, 55])
    net = make_net(5, 2)
    targets = targets_for(net, data)
    native = NativeFitStep(net, data.states, data.actions, data.weight)
    params = {k: v.detach() for k, v in net.params.items()}
    loss, grads = native.loss_and_grads(params, targets)
    pick = torch.tensor([3, 1])
    sub_loss, sub_grads = native.loss_and_grads({k: v[pick] for k, v in params.items()}, targets[pick])
    assert torch.equal(sub_loss, loss[pick])
    assert all(torch.equal(sub_grads[k], grads[k][pick]) for k in grads)


@pytest.mark.parametrize("repack_every", [5, 16])
def test_native_fit_is_identical_with_and_without_repacking(repack_every):
    plain = fit_run(FitOptions(kernel="native", sync_every=4))
    assert_same_run(fit_run(FitOptions(kernel="native", sync_every=4, repack_every=repack_every)), plain)
    assert_same_run(fit_run(FitOptions(kernel="native", sync_every=1)), plain)


@pytest.mark.parametrize("poison", [False, True], ids=["clean", "one-diverges"])
def test_native_fit_follows_the_reference_fit(poison):
    reference = fit_run(None, poison, max_steps=40)
    native = fit_run(FitOptions(kernel="native", sync_every=8, repack_every=16), poison, max_steps=40)
    assert torch.equal(native[1], reference[1])  # the same member diverges
    for name in reference[2]:
        assert_relative(native[2][name], reference[2][name], 1e-3)


def test_auto_picks_native_where_it_runs_and_fused_elsewhere():
    data = task_data(2, [30, 20])
    assert resolve_kernel("auto", make_net(2, 2), data) == "native"
    deep = make_net(2, 2, input_width=6, shared_widths=(7, 5), shared_activations=("tanh", "relu"))
    assert resolve_kernel("auto", deep, data) == "fused"
    assert resolve_kernel("fused", make_net(2, 2), data) == "fused"
    assert resolve_kernel("auto", make_net(2, 2), task_data(2, [30, 20]).__class__(
        *(t.double() if t.is_floating_point() else t for t in vars(data).values()))) == "fused"


def test_native_refuses_what_it_cannot_run_and_says_what_to_use():
    data = task_data(2, [30, 20])
    deep = make_net(2, 2, input_width=6, shared_widths=(7, 5), shared_activations=("tanh", "relu"))
    with pytest.raises(ConfigError, match="one shared layer.*fused"):
        NativeFitStep(deep, data.states, data.actions, data.weight)
    with pytest.raises(ConfigError, match="float32"):
        NativeFitStep(make_net(2, 2), data.states.double(), data.actions, data.weight)


def test_no_compiler_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("MTRL_BENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(fqi_native.shutil, "which", lambda name: None)
    fqi_native.library.cache_clear()
    try:
        with pytest.raises(NativeKernelUnavailable, match="C compiler.*fused"):
            fqi_native.library()
        assert list(tmp_path.iterdir()) == []
    finally:
        fqi_native.library.cache_clear()


def test_the_library_is_built_once_and_atomically(monkeypatch, tmp_path):
    monkeypatch.setenv("MTRL_BENCH_CACHE", str(tmp_path))
    fqi_native.library.cache_clear()
    try:
        fqi_native.library()
        built = sorted(p.name for p in tmp_path.iterdir())
        assert len(built) == 1 and built[0].startswith("fqi_native-") and built[0].endswith(".so")
        fqi_native.library.cache_clear()
        fqi_native.library()  # found on disk, not built again
        assert sorted(p.name for p in tmp_path.iterdir()) == built
    finally:
        fqi_native.library.cache_clear()


def test_a_run_that_cannot_build_the_kernel_stops_before_any_work(monkeypatch, tmp_path, capsys):
    from mtrl_bench.cli import main

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    monkeypatch.setenv("MTRL_BENCH_CACHE", str(blocker / "cache"))
    fqi_native.library.cache_clear()
    try:
        code = main(["run", "fqi", "--fit-kernel", "native", "--variants", "3", "--iterations", "1",
                     "--qstar-dir", str(tmp_path / "qstar"), "--data-dir", str(tmp_path / "data"),
                     "--seeds", "0", "--out", str(tmp_path / "run.csv")])
    finally:
        fqi_native.library.cache_clear()
    assert code == 2
    assert "MTRL_BENCH_CACHE" in capsys.readouterr().err
    assert not (tmp_path / "run.csv").exists() and not (tmp_path / "qstar").exists()
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_native_adam_equals_member_adam_and_leaves_inactive_members_alone(weight_decay):
    from mtrl_bench.optim import MemberAdam

    net = make_net(4, 2)
    gen = torch.Generator().manual_seed(5)
    grads = {k: torch.randn(v.shape, generator=gen) for k, v in net.params.items()}
    reference = MemberAdam(net.parameters(), lr=3e-3, weight_decay=weight_decay)
    names = list(net.params)
    params = [net.params[n].detach().clone() for n in names]
    exp_avg = [torch.zeros_like(p) for p in params]
    exp_avg_sq = [torch.zeros_like(p) for p in params]
    steps = torch.zeros(4, dtype=torch.float64)
    before = [p.clone() for p in params]
    active = torch.tensor([True, False, True, True])
    for _ in range(3):  # three steps, so that the bias corrections move
        for name in names:
            net.params[name].grad = grads[name]
        reference.step(active)
        fqi_native.adam_step(params, exp_avg, exp_avg_sq, [grads[n] for n in names], active, steps,
                             reference.lr, reference.betas, reference.eps, weight_decay)
    assert steps.tolist() == [3.0, 0.0, 3.0, 3.0]
    for name, p, old in zip(names, params, before):
        assert_relative(p, net.params[name].detach(), 1e-6)
        assert torch.equal(p[1], old[1])  # the inactive member
        assert not torch.equal(p[0], old[0])


def test_threads_share_the_members_without_changing_a_bit():
    data = task_data(2, [130, 70])
    net = make_net(7, 2)
    targets = targets_for(net, data)
    params = {k: v.detach() for k, v in net.params.items()}
    one = NativeFitStep(net, data.states, data.actions, data.weight, threads=1).loss_and_grads(params, targets)
    three = NativeFitStep(net, data.states, data.actions, data.weight, threads=3).loss_and_grads(params, targets)
    assert torch.equal(one[0], three[0])
    assert all(torch.equal(one[1][k], three[1][k]) for k in one[1])


def test_bench_fqi_prints_the_three_way_comparison_and_a_measured_projection():
    from mtrl_bench.bench import fqi as fqi_bench
    from mtrl_bench.bench import fqi_profile

    lines: list[str] = []
    report = fqi_bench.run(torch.device("cpu"), [1, 2], [1, 8], 30, 2, qstar=False, workers=1, out=lines.append,
                           kernels=("fused", "native"), dynamics=False, profiles=fqi_profile.measured())
    text = "\n".join(lines)
    assert report["sgemm_gflops"] > 0 and report["fma_peak_gflops"] > 0
    kernels = {(p["kernel"], p["n_tasks"], p["n_seeds"]) for p in report["points"]}
    assert kernels == {(k, t, s) for k in ("fused", "native") for t in (1, 8) for s in (1, 2)}
    assert all(p["gflops"] > 0 for p in report["points"])
    assert "of FMA" in text and "authors' way, T=8" in text
    jobs = report["paper"]["native"]["jobs"]
    assert set(jobs) == {1, 2, 4, 8} and report["paper"]["native"]["profile"] == "measured"
    assert jobs[1]["seconds"] < jobs[8]["seconds"] and jobs[1]["seconds"] <= jobs[1]["seconds_without_repacking"]
    assert "iterations 1-50 measured" in jobs[1]["profile"] and "4-50 from T=" in jobs[8]["profile"]
