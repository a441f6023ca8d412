"""Named fit rules (paper, fast), the one step interface of the fit, and the authors' file names."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from test_fqi import small_config, zero_q_star_dir  # noqa: F401  (a fixture)
from test_fqi_fit import make_net, targets_for, task_data

from mtrl_bench import config as cfg
from mtrl_bench.algos import fqi as algo
from mtrl_bench.algos.fqi_fit import DEFAULT_KERNEL, REFERENCE, FitOptions, adam_steps, fit
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments import fqi as experiment
from mtrl_bench.optim import MemberAdam
from mtrl_bench.tasks.car_on_hill import authors_data
from mtrl_bench.tasks.car_on_hill import dynamics as coh
from mtrl_bench.tasks.car_on_hill.datasets import DatasetSpec, generate


def test_rules_name_their_step_size():
    assert algo.rule_learning_rate("paper", 3e-3) == 3e-3
    assert algo.rule_learning_rate("fast", 1e-3) == 1e-2
    with pytest.raises(ConfigError, match="fit_rule must be one of"):
        algo.rule_learning_rate("lbfgs", 1e-3)


def test_fast_rule_refuses_another_learning_rate(zero_q_star_dir):  # noqa: F811
    with pytest.raises(ConfigError, match="fit_rule fast steps at 0.01"):
        small_config(zero_q_star_dir, fit_rule="fast", learning_rate=3e-3)
    with pytest.raises(ConfigError, match="fqi.fit_rule"):
        small_config(zero_q_star_dir, fit_rule="magic")


def test_fast_rule_is_the_paper_rule_at_ten_times_the_step(zero_q_star_dir):  # noqa: F811
    # What keeps a config that already stepped at 1e-2 (the default sweep) bit for bit where it was.
    fast = experiment.run(small_config(zero_q_star_dir, fit_rule="fast", iterations=2), [0, 1], "cpu").rows
    paper = experiment.run(small_config(zero_q_star_dir, learning_rate=1e-2, iterations=2), [0, 1], "cpu").rows
    slow = experiment.run(small_config(zero_q_star_dir, iterations=2), [0, 1], "cpu").rows
    assert pd.DataFrame(fast).equals(pd.DataFrame(paper))
    assert not np.allclose(pd.DataFrame(fast).value, pd.DataFrame(slow).value)


def test_the_default_kernel_is_documented_once():
    assert FitOptions().kernel == DEFAULT_KERNEL == experiment.Config().fit_kernel == "auto"
    assert REFERENCE.kernel == "autograd" and REFERENCE.sync_every == 1


def test_a_step_rule_plugs_into_the_one_loop():
    # A step rule sees the packed members and the step function; the loop applies the stopping rule.
    data = task_data(2, [40, 30])
    net = make_net(3, 2, input_width=6, shared_widths=(6,))
    targets = targets_for(net, data)
    seen = []

    def counting(packed, kernel, native):
        step = adam_steps(packed, kernel, native)

        def one():
            seen.append(int(packed.state.running.sum()))
            return step()

        return one

    steps, diverged = fit(net, MemberAdam(net.parameters(), lr=1e-2), data, targets, torch.ones(3, dtype=torch.bool),
                          patience=5, tolerance=1e-3, max_steps=50, steps=counting)
    assert len(seen) == int(steps.max()) and not bool(diverged.any())
    assert seen[0] == 3 and seen[-1] >= 1


def test_authors_files_are_found_under_their_own_names(tmp_path):
    params = coh.VARIANTS[0]
    data = generate(params, DatasetSpec(grid_size=3, seed=0))
    (tmp_path / f"dataset_{params.name}.pkl").write_bytes(pickle.dumps(authors_data.to_tuples(data)))
    assert authors_data.variant_path(tmp_path, params).name == "dataset_1.000_4.000.pkl"
    np.testing.assert_array_equal(authors_data.load_variant(tmp_path, params).states, data.states)
    (tmp_path / f"{params.name}.pkl").write_bytes(pickle.dumps(authors_data.to_tuples(data)))
    assert authors_data.variant_path(tmp_path, params).name == "1.000_4.000.pkl"  # our name wins
    assert authors_data.variant_path(tmp_path, coh.VARIANTS[4]).name == "0.800_4.000.pkl"  # neither: ours


def test_config_records_the_rule(zero_q_star_dir):  # noqa: F811
    config = small_config(zero_q_star_dir, fit_rule="fast")
    assert cfg.record(config)["fit_rule"] == "fast" and cfg.build(experiment.Config, cfg.record(config)) == config


@pytest.mark.slow
def test_bench_prints_both_rules_side_by_side():
    from mtrl_bench.bench import fqi as fqi_bench

    lines: list[str] = []
    costs = fqi_bench.time_fit_rules(torch.device("cpu"), n_tasks=1, n_seeds=2, iterations=1, out=lines.append)
    assert [c.rule for c in costs] == list(algo.FIT_RULES)
    assert all(c.cpu_s_per_seed > 0 and c.steps_per_seed >= 100 for c in costs)
    assert "fewer CPU seconds" in lines[-1]


def test_seed_per_run_gives_each_seed_its_own_draw(zero_q_star_dir):  # noqa: F811
    config = small_config(zero_q_star_dir, iterations=2, max_fit_steps=20, dataset={"grid_size": 5, "seed": 3,
                                                                                     "seed_per_run": True})
    partial = []
    result = experiment.run(config, [0, 2], "cpu", on_iteration=lambda k, r: partial.append(len(r.rows)))
    rows = pd.DataFrame(result.rows)
    assert result.extra["dataset_seed_per_run"] == {"0": 3, "2": 5}
    assert partial == sorted(partial) and partial[-1] == len(rows)
    for seed, draw in ((0, 3), (2, 5)):
        alone = small_config(zero_q_star_dir, iterations=2, max_fit_steps=20, dataset={"grid_size": 5, "seed": draw})
        own = pd.DataFrame(experiment.run(alone, [seed], "cpu").rows)
        assert np.array_equal(rows[rows.seed == seed].value.to_numpy(), own.value.to_numpy())
    with pytest.raises(ConfigError, match="seed_per_run"):
        small_config(zero_q_star_dir, dataset_dir=str(zero_q_star_dir), approx_error_data="split",
                     dataset={"grid_size": 5, "seed_per_run": True})

