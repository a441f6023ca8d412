"""Multi-task FQI: learning, batched seeds, divergence handling, datasets."""

import numpy as np
import pytest
import torch

from mtrl_bench.algos import fqi, fqi_fit
from mtrl_bench.algos.fqi import FQIConfig, run_fqi
from mtrl_bench.errors import ConfigError
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.datasets import DatasetSpec, generate, load_or_generate

SMALL_DATA = DatasetSpec(grid_size=7, seed=0)


@pytest.fixture(scope="module")
def q_star_tables():
    # A fake "truth" is enough where only shapes and bookkeeping are tested; the exact solver is
    # tested in test_qstar.py.
    return {p.name: np.zeros(200) for p in coh.VARIANTS}


def small_config(**kw):
    base = dict(variants=["0", "4"], seeds=[0, 1], shared_width=8, input_width=8, iterations=3,
                max_fit_steps=60, dataset=SMALL_DATA, device="cpu")
    base.update(kw)
    return FQIConfig(**base)


def frame(rows):
    import pandas as pd

    return pd.DataFrame(rows)


def test_rows_cover_every_iteration_task_seed_and_metric(q_star_tables):
    rows = frame(run_fqi(small_config(), q_star_tables, log=lambda m: None)[0])
    assert set(rows.metric) == {"avi_diff", "approx_error", "J", "fit_steps"}
    counts = rows.groupby(["metric"]).size()
    assert (counts == 3 * 2 * 2).all()
    assert set(rows.task) == {"1.000_4.000", "0.800_4.000"} and (rows.n_tasks == 2).all()
    assert np.isfinite(rows.value).all()


def test_same_seed_gives_same_numbers(q_star_tables):
    a = frame(run_fqi(small_config(), q_star_tables, log=lambda m: None)[0])
    b = frame(run_fqi(small_config(), q_star_tables, log=lambda m: None)[0])
    np.testing.assert_array_equal(a.value.to_numpy(), b.value.to_numpy())


def test_seed_in_a_batch_equals_the_seed_run_alone(q_star_tables):
    cfg = dict(max_fit_steps=None, patience=20, tolerance=1e-4, iterations=2)
    batched = frame(run_fqi(small_config(seeds=[3, 7, 9], **cfg), q_star_tables, log=lambda m: None)[0])
    alone = frame(run_fqi(small_config(seeds=[7], **cfg), q_star_tables, log=lambda m: None)[0])
    mine = batched[batched.seed == 7].reset_index(drop=True)
    assert len(mine) == len(alone) > 0
    np.testing.assert_allclose(mine.value.to_numpy(), alone.value.to_numpy(), rtol=1e-4, atol=1e-5)


def test_the_fit_lowers_the_error_against_q_star():
    params = coh.VARIANTS[0]
    from mtrl_bench.tasks.car_on_hill.qstar import paper_test_grid, solve_q_star

    states, actions = paper_test_grid()
    q_star, _ = solve_q_star(params, states, actions, max_depth=12)
    rows = frame(run_fqi(small_config(variants=["0"], seeds=[0], iterations=4, max_fit_steps=400,
                                      shared_width=16, input_width=16),
                         {params.name: q_star}, log=lambda m: None)[0])
    avi = rows[rows.metric == "avi_diff"].sort_values("step").value.to_numpy()
    assert avi[-1] < avi[0]


def test_a_diverging_seed_is_recorded_and_the_others_go_on(q_star_tables, monkeypatch):
    original = fqi.bellman_targets

    def poisoned(net, data, gamma):
        targets = original(net, data, gamma)
        if net is not None:  # from iteration 2 on, member 1 gets NaN targets
            targets = targets.clone()
            targets[1] = float("nan")
        return targets

    monkeypatch.setattr(fqi, "bellman_targets", poisoned)
    rows, extra = run_fqi(small_config(), q_star_tables, log=lambda m: None)
    rows = frame(rows)
    assert extra["failed_seeds"] == {1: 2}
    assert set(rows[rows.seed == 1].metric) == {"avi_diff", "approx_error", "J", "fit_steps", "diverged"}
    assert rows[(rows.seed == 1) & (rows.metric != "diverged")].step.max() == 1
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
    (dict(seeds=[]), "seed list is empty"),
    (dict(shared_width=0), "widths must be positive"),
    (dict(variants=["0", "1.000_4.000"]), "variants repeat"),
])
def test_bad_config_is_refused(kw, message):
    with pytest.raises(ConfigError, match=message):
        small_config(**kw).validate()


def test_member_blocks_do_not_change_the_fit(q_star_tables, monkeypatch):
    # The CPU fit evaluates members in cache-sized blocks; members are independent, so the
    # numbers must equal one block holding every member.
    config = small_config(seeds=[0, 1, 2, 3, 4], iterations=2, max_fit_steps=30)
    monkeypatch.setattr(fqi_fit, "ROWS_PER_BLOCK", 10**9)
    whole = frame(run_fqi(config, q_star_tables, log=lambda m: None)[0])
    monkeypatch.setattr(fqi_fit, "ROWS_PER_BLOCK", 1)  # one member per block
    assert len(fqi_fit.member_blocks(5, 1000, fqi_fit.ROWS_PER_BLOCK)) == 5
    blocked = frame(run_fqi(config, q_star_tables, log=lambda m: None)[0])
    np.testing.assert_allclose(blocked.value.to_numpy(), whole.value.to_numpy(), rtol=1e-5, atol=1e-6)
