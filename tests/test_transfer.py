"""Transfer of shared layers: freezing in MemberAdam, checkpoints (save/load, epoch choice, bad files), the
transfer runs of DQN and DDPG (the transfer analysis: tests/test_transfer_analysis.py)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from mtrl_bench import checkpoints as ckpt
from mtrl_bench import config as cfg
from mtrl_bench.algos import ddpg as ddpg_algo
from mtrl_bench.algos import dqn as dqn_algo
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments import dqn as dqn_experiment
from mtrl_bench.experiments import transfer
from mtrl_bench.nets import NetSpec, SharedMultiTaskNet
from mtrl_bench.optim import MemberAdam

SOURCE_TASKS = ["cartpole", "car_on_hill"]
TARGET = "inverted_pendulum"  # short episodes: the tiny runs complete some
TINY = dict(input_width=8, shared_width=6, epochs=2, steps_per_epoch=20, test_steps=60, replay_capacity=100,
            learning_starts=10, batch_size=8, epsilon_decay_steps=30, target_update_every=10)


def tiny_dqn(**kw) -> dqn_algo.DQNConfig:
    return cfg.build(dqn_algo.DQNConfig, {**TINY, **kw})


def tiny_transfer(source_dir, **kw) -> transfer.Config:
    fields = {"algorithm": "dqn", "target": TARGET, "source_dir": str(source_dir), "dqn": dict(TINY)}
    return cfg.build(transfer.Config, {**fields, **kw})


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A tiny MDQN source run on two tasks that saved its shared layers (criterion best), seeds 0 and 1."""
    folder = tmp_path_factory.mktemp("source")
    config = tiny_dqn(tasks=SOURCE_TASKS, save_shared="best", checkpoint_dir=str(folder / "ck"))
    result = dqn_experiment.run(config, [0, 1])
    return folder / "ck", pd.DataFrame(result.rows), result


# -- MemberAdam freezing -------------------------------------------------------------------------

def _grads(params, seed):
    gen = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen)


def test_frozen_parameters_and_their_adam_state_do_not_move_and_move_after_unfreezing():
    a = torch.nn.Parameter(torch.randn(3, 4, 5))
    b = torch.nn.Parameter(torch.randn(3, 5))
    opt = MemberAdam([a, b], lr=1e-2)
    opt.freeze([b])
    b0 = b.detach().clone()
    for step in range(5):
        _grads([a, b], step)
        opt.step()
    assert torch.equal(b.detach(), b0)
    assert torch.count_nonzero(opt.exp_avg[1]) == 0 and torch.count_nonzero(opt.exp_avg_sq[1]) == 0
    assert torch.equal(opt.param_steps[1], torch.zeros(3, dtype=torch.float64))
    assert opt.is_frozen(b) and not opt.is_frozen(a)
    # After unfreezing, b's first step is that of a fresh Adam (bias correction at step 1), not step 6.
    opt.unfreeze([b])
    fresh_b = torch.nn.Parameter(b.detach().clone())
    fresh = MemberAdam([fresh_b], lr=1e-2)
    _grads([a, b], 99)
    fresh_b.grad = b.grad.clone()
    opt.step()
    fresh.step()
    assert not torch.equal(b.detach(), b0)
    assert torch.equal(b.detach(), fresh_b.detach())
    assert torch.equal(opt.exp_avg[1], fresh.exp_avg[0]) and torch.equal(opt.param_steps[1], fresh.steps)
    assert torch.equal(opt.steps, torch.full((3,), 6.0, dtype=torch.float64))


def test_freezing_leaves_the_other_parameters_on_their_unfrozen_trajectory():
    torch.manual_seed(0)
    a1, b1 = torch.nn.Parameter(torch.randn(2, 3)), torch.nn.Parameter(torch.randn(2, 4))
    a2 = torch.nn.Parameter(a1.detach().clone())
    with_frozen, alone = MemberAdam([a1, b1]), MemberAdam([a2])
    with_frozen.freeze([b1])
    for step in range(4):
        _grads([a1, b1], step)
        a2.grad = a1.grad.clone()
        active = torch.tensor([True, step % 2 == 0])
        with_frozen.step(active)
        alone.step(active)
    assert torch.equal(a1.detach(), a2.detach())
    with pytest.raises(ValueError, match="does not hold"):
        with_frozen.freeze([torch.nn.Parameter(torch.zeros(2, 1))])


# -- checkpoints: save / load, metadata, bad files -----------------------------------------------

def _net(seeds, width=6):
    spec = NetSpec(n_tasks=2, obs_dim=4, n_actions=[2, 3], input_width=8, shared_widths=(width, width),
                   input_activation="relu", shared_activations=("relu", "sigmoid"), output_activation="identity")
    return SharedMultiTaskNet(spec, seeds)


def test_save_then_load_gives_identical_network_outputs(tmp_path):
    trained = _net([3])
    with torch.no_grad():
        for name in trained.shared_parameter_names():
            trained.params[name].add_(0.1 * torch.randn_like(trained.params[name]))
    path = ckpt.save_checkpoint(tmp_path / "seed3.pt", ckpt.member_tensors({"q": trained}, 0),
                                {"seed": 3, "architecture": {"q": ckpt.architecture(trained)}})
    fresh = _net([3])  # same seed: same task layers, the initial shared layers
    obs = torch.randn(2, 5, 4)
    assert not torch.equal(fresh(obs), trained(obs))
    ckpt.load_into([ckpt.load_checkpoint(path)], {"q": [fresh]})
    assert torch.equal(fresh(obs), trained(obs))


def test_the_source_run_writes_one_checkpoint_per_seed_with_its_metadata(source):
    folder, rows, result = source
    assert sorted(p.name for p in folder.iterdir()) == ["seed0.pt", "seed1.pt"]
    assert result.extra["checkpoints"] == [str(folder / "seed0.pt"), str(folder / "seed1.pt")]
    for seed in (0, 1):
        meta = ckpt.load_checkpoint(folder / f"seed{seed}.pt").metadata
        assert meta["seed"] == seed and meta["algorithm"] == "mdqn" and meta["source_tasks"] == SOURCE_TASKS
        assert meta["criterion"] == "best" and meta["architecture"] == {
            "q": {"input_width": 8, "shared_widths": [6, 6], "shared_activations": ["relu", "sigmoid"]}}
        assert {"version", "git_commit", "created_utc", "score", "epoch"} <= set(meta)
        scores = rows.loc[(rows["seed"] == seed) & (rows["metric"] == "return_discounted")].pivot(
            index="step", columns="task", values="value")[SOURCE_TASKS]
        chosen = ckpt.select_epoch(list(scores.index[1:]), scores.to_numpy()[1:], "best", scores.to_numpy())
        assert meta["epoch"] == scores.index[1:][chosen]
        assert meta["score"] == pytest.approx(dict(scores.loc[meta["epoch"]]))


def test_best_sum_final_and_best_choose_as_documented():
    epochs = [1, 2, 3, 4]
    # task 0 in units of 100, task 1 in units of 1: best-sum follows task 0 alone; best weighs both.
    scores = np.array([[100.0, 0.0], [300.0, 0.0], [290.0, 1.0], [120.0, 0.9]])
    assert epochs[ckpt.select_epoch(epochs, scores, "best-sum")] == 2
    assert epochs[ckpt.select_epoch(epochs, scores, "best")] == 3
    assert epochs[ckpt.select_epoch(epochs, scores, "final")] == 4
    tied = np.array([[1.0, 1.0], [1.0, 1.0]])
    assert ckpt.select_epoch([1, 2], tied, "best") == 0  # the earliest of ties


@pytest.mark.parametrize("mode", ["best", "best-sum", "final"])
def test_the_snapshot_keeper_keeps_what_the_criterion_picks(mode):
    rng = np.random.default_rng(1)
    for _ in range(30):
        scores = np.round(rng.normal(size=(25, 3)) * rng.choice([1.0, 100.0], 3), 0)
        keeper = ckpt.SnapshotKeeper(mode)
        for e, s in enumerate(scores):
            keeper.observe(e, s, {"epoch": torch.tensor(float(e))}, candidate=e >= 1)
        epoch, chosen_scores, tensors = keeper.choose()
        expected = 1 + ckpt.select_epoch(list(range(1, 25)), scores[1:], mode, scores)
        assert epoch == expected and tensors["epoch"].item() == expected
        assert np.array_equal(chosen_scores, scores[expected])
        assert len(keeper.kept) <= 25


def _corrupt(path, how):
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    elif how == "altered":
        payload = torch.load(path, weights_only=True)
        first = sorted(payload["tensors"])[0]
        payload["tensors"][first] = payload["tensors"][first] + 1.0
        torch.save(payload, path)
    elif how == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)


@pytest.mark.parametrize("how, message", [("truncated", "unreadable"), ("garbage", "unreadable"),
                                          ("altered", "checksum"), ("foreign", "not an mtrl-bench")])
def test_a_corrupt_checkpoint_is_a_one_line_error(tmp_path, source, how, message):
    folder = tmp_path / "ck"
    folder.mkdir()
    for seed in (0, 1):
        (folder / f"seed{seed}.pt").write_bytes((source[0] / f"seed{seed}.pt").read_bytes())
    _corrupt(folder / "seed1.pt", how)
    with pytest.raises(ConfigError, match=message) as err:
        transfer.run(tiny_transfer(folder), [0, 1])
    assert "\n" not in str(err.value) and "seed1.pt" in str(err.value)


def test_a_mismatched_or_missing_checkpoint_is_a_one_line_error_naming_both(source):
    folder = source[0]
    with pytest.raises(ConfigError) as err:
        transfer.run(tiny_transfer(folder, dqn={**TINY, "shared_width": 7}), [0])
    text = str(err.value)
    assert "\n" not in text and "shared widths 6x6" in text and "shared widths 7x7" in text
    with pytest.raises(ConfigError, match="does not exist"):
        transfer.run(tiny_transfer(folder), [0, 5])
    with pytest.raises(ConfigError, match="trained on the target"):
        transfer.run(tiny_transfer(folder, target="cartpole"), [0])


def test_a_bad_checkpoint_leaves_earlier_results_untouched(tmp_path, source):
    """Through the CLI: the error is one line with status 2; the results file already at --out and the
    source checkpoints are unchanged."""
    folder = tmp_path / "ck"
    folder.mkdir()
    good = (source[0] / "seed0.pt").read_bytes()
    (folder / "seed0.pt").write_bytes(good[:100])
    out = tmp_path / "transfer.csv"
    out.write_text("# an earlier step's results\n")
    args = [sys.executable, "-m", "mtrl_bench.cli", "run", "transfer", "--source-dir", str(folder),
            "--target", TARGET, *sum(([f"--dqn.{k.replace('_', '-')}", str(v)] for k, v in TINY.items()), []),
            "--seeds", "0", "--out", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "unreadable" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert out.read_text() == "# an earlier step's results\n"
    assert (source[0] / "seed0.pt").read_bytes() == good


# -- transfer runs (DQN) -------------------------------------------------------------------------

def test_a_transferred_learners_first_evaluation_is_that_of_a_network_built_from_the_checkpoint(source):
    folder = source[0]
    rows = pd.DataFrame(transfer.run(tiny_transfer(folder, frozen_epochs=1), [0, 1]).rows)
    first = rows.loc[(rows["step"] == 0) & (rows["metric"] == "return_discounted")].sort_values("seed")
    built = dqn_algo.build_learner(tiny_dqn(tasks=[TARGET]), [0, 1])
    ckpt.load_into(ckpt.load_checkpoints(folder, [0, 1]), {"q": [built.net]})
    expected = dqn_algo.evaluate(built)["return_discounted"][:, 0]
    assert np.array_equal(first["value"].to_numpy(), expected)
    assert set(rows["experiment"]) == {"dqn_transfer"} and set(rows["algorithm"]) == {"transfer_unfreeze1"}
    assert set(rows["variants"]) == {TARGET} and set(rows["width"]) == {6}


def test_without_a_real_source_the_transfer_run_is_the_single_task_baseline(tmp_path):
    """Checkpoints of the target learner's own initial shared layers, trained from the start: the transfer
    run reproduces the dqn experiment's single-task run row for row (load after filling changes nothing)."""
    config = tiny_dqn(tasks=[TARGET])
    own = dqn_algo.build_learner(config, [0, 1])
    for s, seed in enumerate([0, 1]):
        ckpt.save_checkpoint(ckpt.checkpoint_path(tmp_path, seed), ckpt.member_tensors({"q": own.net}, s),
                             {"seed": seed, "source_tasks": [], "architecture": {"q": ckpt.architecture(own.net)}})
    moved = pd.DataFrame(transfer.run(tiny_transfer(tmp_path), [0, 1]).rows)
    baseline = pd.DataFrame(dqn_experiment.run(config, [0, 1]).rows)
    baseline = baseline.loc[baseline["metric"] != "diverged"]
    columns = ["seed", "step", "metric", "value"]
    key = ["seed", "step", "metric"]
    assert len(moved) == len(baseline)
    pd.testing.assert_frame_equal(moved[columns].sort_values(key).reset_index(drop=True),
                                  baseline[columns].sort_values(key).reset_index(drop=True))


def _trained_learner(config, seeds):
    learner = transfer.build_learner(config, seeds, torch.device("cpu"))
    sources = ckpt.load_checkpoints(config.source_dir, seeds)
    transfer.train(config, learner, sources)
    return learner, sources


@pytest.mark.parametrize("frozen, moved", [(0, True), (1, True), (2, False), (50, False)])
def test_loaded_layers_stay_frozen_for_the_first_epochs_only(source, frozen, moved):
    config = tiny_transfer(source[0], frozen_epochs=frozen)
    learner, sources = _trained_learner(config, [0])
    for name in learner.net.shared_parameter_names():
        same = torch.equal(learner.net.params[name][0], sources[0].tensors[f"q.{name}"])
        assert same != moved, name
    assert not torch.equal(learner.net.params["head_weight"], dqn_algo.build_learner(config.dqn, [0]).net.params[
        "head_weight"])  # the task's own layers learned throughout
    assert config.label == ("transfer_frozen" if frozen >= 2 else f"transfer_unfreeze{frozen}")


def test_online_only_loading_leaves_the_target_network_until_its_first_copy(source):
    config = tiny_transfer(source[0], load_into="online", frozen_epochs=5,
                           dqn={**TINY, "epochs": 1, "steps_per_epoch": 5})  # fewer updates than target_update_every
    learner, sources = _trained_learner(config, [1])
    initial = dqn_algo.build_learner(config.dqn, [1]).target
    for name in learner.net.shared_parameter_names():
        assert torch.equal(learner.net.params[name][0], sources[0].tensors[f"q.{name}"])
        assert torch.equal(learner.target.params[name], initial.params[name])
    assert config.label == "transfer_frozen_online"
    both = dataclasses.replace(config, load_into="online_and_target")
    learner, _ = _trained_learner(both, [1])
    for name in learner.net.shared_parameter_names():
        assert torch.equal(learner.target.params[name][0], sources[0].tensors[f"q.{name}"])


def test_config_rules():
    with pytest.raises(ConfigError, match="not a DQN task"):
        cfg.build(transfer.Config, {"target": "hopper_stand"})
    with pytest.raises(ConfigError, match="set by the target"):
        cfg.build(transfer.Config, {"dqn": {"tasks": ["cartpole", "acrobot"]}})
    with pytest.raises(ConfigError, match="does not save"):
        cfg.build(transfer.Config, {"dqn": {"save_shared": "best", "checkpoint_dir": "x"}})
    with pytest.raises(ConfigError, match="checkpoint_dir"):
        cfg.build(dqn_algo.DQNConfig, {"save_shared": "final"})
    with pytest.raises(ConfigError, match="source_dir"):
        transfer.run(cfg.build(transfer.Config, {}), [0])
    assert cfg.build(transfer.Config, {"target": "cartpole"}).dqn.tasks == ("cartpole",)
    with pytest.raises(ConfigError, match="not in group"):
        cfg.build(transfer.Config, {"algorithm": "ddpg", "target": "acrobot"})
    built = cfg.build(transfer.Config, {"algorithm": "ddpg", "target": "cartpole_swingup", "frozen_epochs": 100})
    assert built.ddpg.tasks == ["cartpole_swingup"] and built.label == "transfer_frozen"


# -- transfer runs (DDPG) ------------------------------------------------------------------------

DDPG_SMALL = dict(group="pendulum_mujoco", input_width=16, shared_width=12, epochs=2, steps_per_epoch=20,
                  test_steps=30, replay_capacity=200, warmup_steps=10, batch_size=8)
DDPG_TARGET = "mujoco_inverted_double_pendulum"


@pytest.fixture(scope="module")
def ddpg_source(tmp_path_factory):
    """A small MDDPG source run on the two other tasks of the MuJoCo pendulum group, saving its shared layers."""
    pytest.importorskip("mujoco")
    from mtrl_bench.experiments import ddpg as ddpg_experiment

    folder = tmp_path_factory.mktemp("ddpg_source") / "ck"
    tasks = ["mujoco_inverted_pendulum", "cartpole_swingup"]
    config = cfg.build(ddpg_experiment.Config, {**DDPG_SMALL, "tasks": tasks, "save_shared": "final",
                                                "checkpoint_dir": str(folder)})
    try:
        ddpg_experiment.run(config, [0, 1])
    except ConfigError as err:  # an engine of the group is missing here
        pytest.skip(str(err))
    return folder, tasks


def test_ddpg_checkpoints_hold_actor_and_critic_shared_layers(ddpg_source):
    folder, tasks = ddpg_source
    saved = ckpt.load_checkpoint(folder / "seed1.pt")
    assert saved.metadata["algorithm"] == "mddpg" and saved.metadata["source_tasks"] == tasks
    assert saved.metadata["epoch"] == 2 and saved.metadata["criterion"] == "final"
    assert saved.metadata["architecture"] == {
        "actor": {"input_width": 16, "shared_widths": [12], "shared_activations": ["relu"]},
        "critic": {"input_width": 16, "shared_widths": [12], "shared_activations": ["sigmoid"]}}
    assert sorted(saved.tensors) == ["actor.shared0_bias", "actor.shared0_weight", "critic.shared0_bias",
                                     "critic.shared0_weight"]
    assert tuple(saved.tensors["critic.shared0_weight"].shape) == (16, 12)


@pytest.mark.parametrize("frozen", [0, 2])
def test_ddpg_transfer_starts_from_the_checkpoint_and_freezes_as_asked(ddpg_source, frozen):
    from mtrl_bench.experiments import ddpg as ddpg_experiment

    folder, _ = ddpg_source
    config = cfg.build(transfer.Config, {"algorithm": "ddpg", "target": DDPG_TARGET, "source_dir": str(folder),
                                         "frozen_epochs": frozen, "ddpg": DDPG_SMALL})
    make_env = ddpg_experiment.env_factory(config.ddpg)
    learner = transfer.build_learner(config, [0, 1], torch.device("cpu"), make_env)
    sources = ckpt.load_checkpoints(folder, [0, 1])
    try:
        result = transfer.train(config, learner, sources)
    finally:
        learner.close()
    rows = pd.DataFrame(result.rows)
    assert set(rows["experiment"]) == {"ddpg_transfer"} and set(rows["variants"]) == {DDPG_TARGET}
    assert set(rows["algorithm"]) == {"transfer_frozen" if frozen else "transfer_unfreeze0"}
    for s in (0, 1):
        for kind, net in (("actor", learner.actor), ("critic", learner.critic)):
            for name in net.shared_parameter_names():
                same = torch.equal(net.params[name][s], sources[s].tensors[f"{kind}.{name}"])
                assert same == bool(frozen), (kind, name)
    # The first evaluation is that of a fresh learner (same warm-up) with the checkpoint's shared layers.
    built = ddpg_algo_learner(config, make_env)
    try:
        ddpg_algo.warm_up(built, config.ddpg.warmup_steps)
        ckpt.load_into(sources, {"actor": [built.actor], "critic": [built.critic]})
        expected = ddpg_algo.evaluate(built)["return_discounted"][:, 0]
    finally:
        for env in (built.env, built.eval_env):
            env.close()
    first = rows.loc[(rows["step"] == 0) & (rows["metric"] == "return_discounted")].sort_values("seed")
    assert np.array_equal(first["value"].to_numpy(), expected)


def ddpg_algo_learner(config, make_env):
    from mtrl_bench.experiments import ddpg as ddpg_experiment

    return ddpg_algo.build_learner(ddpg_experiment.learner_params(config.ddpg), [0, 1], make_env, "cpu")


def test_a_seed_that_diverged_in_the_first_epoch_still_gets_a_checkpoint_of_epoch_0(tmp_path):
    net = _net([0, 1])
    saver = ckpt.SharedLayerSaver("best", tmp_path, "mdqn", ["a", "b"], [0, 1], {"q": net}, epochs=3)
    initial = ckpt.member_tensors({"q": net}, 1)
    saver.observe(0, np.zeros((2, 2)), np.array([True, True]))
    with torch.no_grad():
        net.params["shared0_weight"].add_(1.0)
    for epoch in (1, 2, 3):
        saver.observe(epoch, np.full((2, 2), float(epoch)), np.array([True, False]))
    paths = saver.write()
    assert [p.name for p in paths] == ["seed0.pt", "seed1.pt"]
    first, second = (ckpt.load_checkpoint(p) for p in paths)
    assert first.metadata["epoch"] == 3 and second.metadata["epoch"] == 0
    assert all(torch.equal(second.tensors[k], initial[k]) for k in initial)
    with pytest.raises(ConfigError, match="checkpoint_dir"):
        ckpt.SharedLayerSaver("best", None, "mdqn", ["a"], [0], {"q": net}, epochs=1)


def test_loading_into_another_activation_or_network_kind_is_a_one_line_error(tmp_path):
    source = _net([0])
    path = ckpt.save_checkpoint(tmp_path / "seed0.pt", ckpt.member_tensors({"q": source}, 0),
                                {"seed": 0, "architecture": {"q": ckpt.architecture(source)}})
    spec = dataclasses.replace(source.spec, shared_activations=("tanh", "sigmoid"))
    other = SharedMultiTaskNet(spec, [0])
    with pytest.raises(ConfigError) as err:
        ckpt.load_into([ckpt.load_checkpoint(path)], {"q": [other]})
    text = str(err.value)
    assert "\n" not in text and "activations relu/sigmoid" in text and "activations tanh/sigmoid" in text
    assert torch.equal(other.params["shared0_weight"], SharedMultiTaskNet(spec, [0]).params["shared0_weight"])
    with pytest.raises(ConfigError, match="no 'actor' shared layers"):
        ckpt.check_compatible(ckpt.load_checkpoint(path), {"actor": other})
