"""Multi-task FQI: learning, batched seeds, divergence handling, datasets, the config vocabulary."""

import numpy as np
import pandas as pd
import pytest
import torch

from mtrl_bench import config as cfg
from mtrl_bench.algos import fqi, fqi_fit
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments import fqi as experiment
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill import family as coh_family
from mtrl_bench.tasks.car_on_hill.datasets import DatasetSpec, generate, load_or_generate
from mtrl_bench.tasks.car_on_hill.family import CarOnHillFamily
from mtrl_bench.tasks.car_on_hill.qstar import paper_test_grid, solve_q_star, write_q_star_csv

SMALL_DATA = DatasetSpec(grid_size=7, seed=0)


def write_q_star(folder, params, q_star):
    states, actions = paper_test_grid()
    write_q_star_csv(folder / f"{params.name}.csv", {"position": states[:, 0], "velocity": states[:, 1],
                                                    "action": actions, "q_star": q_star})


@pytest.fixture(scope="module")
def zero_q_star_dir(tmp_path_factory):
    # A fake "truth" is enough where only shapes and bookkeeping are tested; the exact solver is
    # tested in test_qstar.py.
    folder = tmp_path_factory.mktemp("qstar")
    for params in coh.VARIANTS:
        write_q_star(folder, params, np.zeros(200))
    return folder


def small_config(qstar_dir, **kw):
    base = dict(variants=["0", "4"], shared_width=8, input_width=8, iterations=3, max_fit_steps=60,
                dataset={"grid_size": 7, "seed": 0}, data_dir=None, qstar_dir=str(qstar_dir))
    base.update(kw)
    return cfg.build(experiment.Config, base, where="fqi")


def run_rows(config, seeds):
    return pd.DataFrame(experiment.run(config, seeds, "cpu").rows)


def test_rows_cover_every_iteration_task_seed_and_metric(zero_q_star_dir):
    rows = run_rows(small_config(zero_q_star_dir), [0, 1])
    assert set(rows.metric) == {"avi_diff", "approx_error", "J", "fit_steps"}
    counts = rows.groupby(["metric"]).size()
    assert (counts == 3 * 2 * 2).all()
    assert set(rows.task) == {"1.000_4.000", "0.800_4.000"} and (rows.n_tasks == 2).all()
    assert (rows.algorithm == "mfqi").all() and (rows.variants == "1.000_4.000+0.800_4.000").all()
    assert np.isfinite(rows.value).all()


def test_same_seed_gives_same_numbers(zero_q_star_dir):
    a = run_rows(small_config(zero_q_star_dir), [0, 1])
    b = run_rows(small_config(zero_q_star_dir), [0, 1])
    np.testing.assert_array_equal(a.value.to_numpy(), b.value.to_numpy())


def test_seed_in_a_batch_equals_the_seed_run_alone(zero_q_star_dir):
    config = small_config(zero_q_star_dir, max_fit_steps=None, patience=20, tolerance=1e-4, iterations=2)
    batched = run_rows(config, [3, 7, 9])
    alone = run_rows(config, [7])
    mine = batched[batched.seed == 7].reset_index(drop=True)
    assert len(mine) == len(alone) > 0
    np.testing.assert_allclose(mine.value.to_numpy(), alone.value.to_numpy(), rtol=1e-4, atol=1e-5)


def test_the_fit_lowers_the_error_against_q_star(tmp_path):
    params = coh.VARIANTS[0]
    states, actions = paper_test_grid()
    q_star, _ = solve_q_star(params, states, actions, max_depth=12)
    write_q_star(tmp_path, params, q_star)
    rows = run_rows(small_config(tmp_path, variants=["0"], iterations=4, max_fit_steps=400, shared_width=16,
                                 input_width=16), [0])
    assert (rows.algorithm == "fqi").all()
    avi = rows[rows.metric == "avi_diff"].sort_values("step").value.to_numpy()
    assert avi[-1] < avi[0]


def test_missing_q_star_is_computed_once_and_cached(tmp_path, monkeypatch):
    # The exact solver is tested in test_qstar.py (a full table takes minutes); here a stand-in
    # checks that the family computes a missing table once, caches it and reads it back.
    calls = []

    def fake_table(params):
        calls.append(params.name)
        states, actions = paper_test_grid()
        return {"position": states[:, 0], "velocity": states[:, 1], "action": actions,
                "q_star": np.linspace(-1, 1, 200)}

    monkeypatch.setattr(coh_family, "q_star_table", fake_table)
    truth = CarOnHillFamily().truth(["4"], str(tmp_path))
    assert (tmp_path / f"{coh.VARIANTS[4].name}.csv").is_file() and calls == [coh.VARIANTS[4].name]
    assert truth.states.shape == (1, 200, 2) and truth.actions.shape == (1, 200) and truth.q_star.shape == (1, 200)
    again = CarOnHillFamily().truth([coh.VARIANTS[4].name], str(tmp_path))
    assert len(calls) == 1
    np.testing.assert_allclose(again.q_star, np.linspace(-1, 1, 200)[None])


def test_greedy_return_of_always_pushing_right_is_the_discounted_terminal_reward():
    params = coh.VARIANTS[0]
    state, length, reward = np.array(coh.START_STATE), 0, 0.0
    while True:
        state, reward, absorbing = coh.step(state, np.array(1), params.mass, params.gravity, params.action)
        length += 1
        if absorbing or length == coh.HORIZON:
            break
    returns = CarOnHillFamily().greedy_return(lambda s: np.ones(s.shape[:2], dtype=np.int64), 2, ["0", "4"], 0.95)
    assert returns.shape == (2, 2)
    assert returns[0, 0] == returns[1, 0] == pytest.approx(float(reward) * 0.95 ** (length - 1))


def test_a_diverging_seed_is_recorded_and_the_others_go_on(zero_q_star_dir, monkeypatch):
    original = fqi.bellman_targets

    def poisoned(net, data, gamma):
        targets = original(net, data, gamma)
        if net is not None:  # from iteration 2 on, member 1 gets NaN targets
            targets = targets.clone()
            targets[1] = float("nan")
        return targets

    monkeypatch.setattr(fqi, "bellman_targets", poisoned)
    result = experiment.run(small_config(zero_q_star_dir), [0, 1], "cpu")
    rows = pd.DataFrame(result.rows)
    assert result.failed_seeds == {1: 2}
    assert set(rows[rows.seed == 1].metric) == {"avi_diff", "approx_error", "J", "fit_steps", "diverged"}
    assert rows[(rows.seed == 1) & (rows.metric != "diverged")].step.max() == 1
    diverged = rows[rows.metric == "diverged"]
    assert len(diverged) == 2 and (diverged.step == 2).all() and (diverged.value == 2).all()
    assert rows[rows.seed == 0].step.max() == 3 and np.isfinite(rows.value).all()


def test_fit_stops_by_patience_before_the_cap():
    data = fqi_fit.TaskTensors.stack([generate(coh.VARIANTS[0], SMALL_DATA)], torch.device("cpu"), torch.float32)
    from mtrl_bench.nets import NetSpec, SharedMultiTaskNet
    from mtrl_bench.optim import MemberAdam

    net = SharedMultiTaskNet(NetSpec(n_tasks=1, obs_dim=2, n_actions=[2], input_width=4, shared_widths=(4,)), [0])
    targets = torch.zeros_like(data.rewards).expand(1, -1, -1)
    steps, diverged = fqi_fit.fit(net, MemberAdam(net.parameters(), lr=1e-2), data, targets,
                              torch.ones(1, dtype=torch.bool), patience=10, tolerance=1e-3, max_steps=5000)
    assert 10 <= steps.item() < 5000 and not diverged.item()


def test_datasets_are_seeded_cached_with_their_parameters_and_biased(tmp_path):
    a = load_or_generate(coh.VARIANTS[0], DatasetSpec(seed=1), tmp_path)
    b = load_or_generate(coh.VARIANTS[0], DatasetSpec(seed=1), tmp_path)
    c = generate(coh.VARIANTS[0], DatasetSpec(seed=2))
    assert len(list(tmp_path.glob("*.npz"))) == 1
    np.testing.assert_array_equal(a.states, b.states)
    assert len(a) != len(c) or not np.array_equal(a.actions, c.actions)
    assert len(np.unique(a.episode)) == 17 * 17
    assert 0.72 < a.actions.mean() < 0.82
    assert set(np.unique(a.rewards[a.absorbing])) <= {-1.0, 1.0} and (a.rewards[~a.absorbing] == 0).all()


@pytest.mark.parametrize("kw, message", [
    (dict(variants=["17"]), "unknown Car-On-Hill variant"),
    (dict(variants=[]), "fqi.variants must not be empty"),
    (dict(shared_width=0), "fqi.shared_width must be >= 1"),
    (dict(variants=["0", "1.000_4.000"]), "variants repeat"),
    (dict(learning_rate=float("nan")), "fqi.learning_rate must be a finite number"),
    (dict(holdout_fraction=1.0), "holdout_fraction must be < 1"),
    (dict(family="pendulum"), "unknown task family 'pendulum'"),
    (dict(bogus=1), "unknown key"),
])
def test_bad_config_is_refused_once_naming_the_key(zero_q_star_dir, kw, message):
    with pytest.raises(ConfigError, match=message):
        small_config(zero_q_star_dir, **kw)


def test_the_config_record_is_its_own_vocabulary(zero_q_star_dir):
    config = small_config(zero_q_star_dir, variants=["4", "0"])
    assert config.variants == ["0.800_4.000", "1.000_4.000"]  # canonical names are recorded
    assert cfg.build(experiment.Config, cfg.record(config)) == config
    assert experiment.EXPERIMENT == "fqi" and experiment.Config().family == "car_on_hill"


def test_member_blocks_do_not_change_the_fit(zero_q_star_dir, monkeypatch):
    # The CPU fit evaluates members in cache-sized blocks; members are independent, so the
    # numbers must equal one block holding every member.
    config = small_config(zero_q_star_dir, iterations=2, max_fit_steps=30)
    monkeypatch.setattr(fqi_fit, "ROWS_PER_BLOCK", 10**9)
    whole = run_rows(config, [0, 1, 2, 3, 4])
    monkeypatch.setattr(fqi_fit, "ROWS_PER_BLOCK", 1)  # one member per block
    assert len(fqi_fit.member_blocks(5, 1000, fqi_fit.ROWS_PER_BLOCK)) == 5
    blocked = run_rows(config, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(blocked.value.to_numpy(), whole.value.to_numpy(), rtol=1e-5, atol=1e-6)


# -- train on every transition, approx_error on an independent held-out set, the authors' files --

EPS_DATA = {"policy": "epsilon_greedy", "grid_size": 7, "seed": 0}


def test_held_out_set_trains_on_every_transition_and_measures_on_independent_data(zero_q_star_dir, tmp_path):
    config = small_config(zero_q_star_dir, dataset=EPS_DATA, approx_error_data="held_out_set", data_dir=str(tmp_path))
    train, held, record = experiment.task_data(config, CarOnHillFamily(), config.variants)
    for t, name in enumerate(config.variants):
        full = load_or_generate(coh_family.variant(name), config.dataset, None)
        assert len(train[t]) == len(full)  # no row withheld from the fit
        np.testing.assert_array_equal(train[t].states, full.states)
        # Same behaviour policy and start states, other random draws: not the training rows.
        assert set(np.unique(held[t].episode)) == set(np.unique(full.episode)) == set(range(49))
        assert len(held[t]) != len(full) or not np.array_equal(held[t].actions, full.actions)
        assert abs(held[t].actions.mean() - full.actions.mean()) < 0.1
        assert record["train_rows"][name] == len(full) and record["held_out_rows"][name] == len(held[t])
    assert record["approx_error_data"].startswith("held_out_set")
    result = experiment.run(config, [0], "cpu")
    assert result.extra["train_rows"] == record["train_rows"]


def test_split_withholds_episodes_from_the_fit(zero_q_star_dir):
    config = small_config(zero_q_star_dir, approx_error_data="split", holdout_fraction=0.2)
    train, held, _ = experiment.task_data(config, CarOnHillFamily(), config.variants)
    for t in range(2):
        assert not set(np.unique(train[t].episode)) & set(np.unique(held[t].episode))
        assert len(np.unique(held[t].episode)) == round(0.2 * 49)


def write_authors_file(folder, params, spec):
    import pickle

    from mtrl_bench.tasks.car_on_hill import authors_data

    data = generate(params, spec)
    with open(authors_data.variant_path(folder, params), "wb") as handle:
        pickle.dump(authors_data.to_tuples(data), handle)
    return data


def test_dataset_dir_trains_on_the_authors_files(zero_q_star_dir, tmp_path):
    spec = DatasetSpec(**EPS_DATA)
    for index in (0, 4):
        write_authors_file(tmp_path, coh.VARIANTS[index], spec)
    common = dict(dataset=EPS_DATA, approx_error_data="held_out_set", iterations=2, max_fit_steps=20)
    from_files = experiment.run(small_config(zero_q_star_dir, dataset_dir=str(tmp_path), **common), [0], "cpu")
    generated = experiment.run(small_config(zero_q_star_dir, **common), [0], "cpu")
    # The file holds exactly the generated transitions: the same fit, the same numbers.
    np.testing.assert_array_equal(pd.DataFrame(from_files.rows).value, pd.DataFrame(generated.rows).value)
    assert from_files.extra["training_data"] == f"files in {tmp_path}"
    assert from_files.extra["train_rows"] == generated.extra["train_rows"]


def test_dataset_dir_with_a_missing_file_is_one_line_naming_it(zero_q_star_dir, tmp_path):
    write_authors_file(tmp_path, coh.VARIANTS[0], DatasetSpec(**EPS_DATA))
    config = small_config(zero_q_star_dir, dataset_dir=str(tmp_path), dataset=EPS_DATA,
                          approx_error_data="held_out_set")
    with pytest.raises(ConfigError, match=r"0\.800_4\.000\.pkl") as err:
        experiment.run(config, [0], "cpu")
    assert "\n" not in str(err.value)


def test_dataset_dir_with_coin_held_out_data_is_refused(zero_q_star_dir, tmp_path):
    with pytest.raises(ConfigError, match="dataset.policy: epsilon_greedy"):
        small_config(zero_q_star_dir, dataset_dir=str(tmp_path), approx_error_data="held_out_set",
                     dataset={"grid_size": 7, "seed": 0, "policy": "coin"})
    small_config(zero_q_star_dir, dataset_dir=str(tmp_path), approx_error_data="split")  # their episodes, split


def test_fit_options_reach_the_fit(zero_q_star_dir, monkeypatch):
    seen = []
    original = fqi.fit

    def spy(*args, **kw):
        seen.append(args[-1])
        return original(*args, **kw)

    monkeypatch.setattr(fqi, "fit", spy)
    config = small_config(zero_q_star_dir, iterations=2, max_fit_steps=40, fit_kernel="fused", fit_sync_every=8,
                          fit_repack_every=16)
    fused = run_rows(config, [0, 1])
    assert seen and all(o == fqi_fit.FitOptions(kernel="fused", sync_every=8, repack_every=16) for o in seen)
    reference = run_rows(small_config(zero_q_star_dir, iterations=2, max_fit_steps=40), [0, 1])
    np.testing.assert_allclose(fused.value.to_numpy(), reference.value.to_numpy(), rtol=1e-3, atol=1e-4)


def test_authors_q_star_convention_and_its_metric(zero_q_star_dir, tmp_path):
    q = np.array([-1.0, -0.95, -0.9025, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(coh_family.authors_q_star(q, 0.95), [-1.0, -0.9025, -0.857375, 0.0, 0.5, 1.0])
    for index in (0, 4):
        write_q_star(tmp_path, coh.VARIANTS[index], np.linspace(-1, 1, 200))
    calls = []
    rows = pd.DataFrame(experiment.run(small_config(tmp_path, record_authors_qstar=True), [0], "cpu",
                                       on_iteration=lambda k, r: calls.append((k, len(r.rows)))).rows)
    assert "avi_diff_authors_qstar" in set(rows.metric)
    exact = rows[rows.metric == "avi_diff"].value.to_numpy()
    authors = rows[rows.metric == "avi_diff_authors_qstar"].value.to_numpy()
    assert not np.array_equal(exact, authors) and np.all(np.abs(exact - authors) < 0.05)
    assert [k for k, _ in calls] == [1, 2, 3] and calls[-1][1] == len(rows)
    assert "avi_diff_authors_qstar" not in set(run_rows(small_config(tmp_path), [0]).metric)
