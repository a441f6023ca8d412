"""The ablations (beyond the paper): the knobs (dissimilarity, imbalance, layer splits, wider Car-On-Hill task
sets), the experiments' rows and the analysis tables and figures built from tiny runs."""

import numpy as np
import pandas as pd
import pytest
import torch

from analysis import ablation_figures, ablation_tables
from mtrl_bench import config as cfg
from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments import coh_similarity, depth, imbalance, similarity, testbed
from mtrl_bench.nets import SplitMultiTaskNet, SplitSpec, parse_split, width_for_budget
from mtrl_bench.optim import MemberAdam
from mtrl_bench.results import write_results
from mtrl_bench.tasks.car_on_hill.family import variant

TINY = dict(task_counts=(1, 2, 4), widths=(3,), n_samples=10, n_test=20, epochs=30, log_every=15, complexity_draws=10)


# -- the testbed's knobs -------------------------------------------------------------------------

def test_dissimilarity_zero_gives_identical_tasks():
    config = testbed.SyntheticRegressionConfig(**TINY, dissimilarity=0.0)
    inputs = torch.randn(1, 7, 4, dtype=torch.float64).expand(config.task_pool, 7, 4)
    targets = testbed.teacher(config, seed=3)(inputs)
    assert torch.equal(targets, targets[:1].expand_as(targets))
    assert targets.std() > 0.05


def test_dissimilarity_one_gives_unrelated_tasks_and_keeps_the_scale():
    inputs = torch.randn(1, 4000, 4, dtype=torch.float64).expand(8, 4000, 4)
    common = testbed.teacher(testbed.SyntheticRegressionConfig(task_counts=(8,), dissimilarity=0.0), 0)(inputs)
    unrelated = testbed.teacher(testbed.SyntheticRegressionConfig(task_counts=(8,), dissimilarity=1.0), 0)(inputs)
    correlation = np.corrcoef(unrelated.numpy())[np.triu_indices(8, 1)]
    assert np.abs(correlation).mean() < 0.5  # independent random functions, not copies
    assert not torch.allclose(unrelated[0], unrelated[1])
    # the private part replaces the common one at the same variance (within a factor of the draws)
    assert 0.2 < float(unrelated.var() / common.var()) < 5.0


def test_dissimilarity_unset_is_the_testbed_teacher():
    config = testbed.SyntheticRegressionConfig(**TINY)
    half = testbed.SyntheticRegressionConfig(**TINY, dissimilarity=0.5)
    assert torch.equal(testbed.make_tasks(config, [0]).train_inputs, testbed.make_tasks(half, [0]).train_inputs)
    assert not torch.equal(testbed.make_tasks(config, [0]).train_targets, testbed.make_tasks(half, [0]).train_targets)


def test_imbalance_rho_one_gives_equal_datasets():
    config = testbed.SyntheticRegressionConfig(**TINY)
    assert bool(testbed.training_mask(config).all())
    assert config.small_task_samples == config.n_samples
    small = testbed.SyntheticRegressionConfig(**TINY, small_task_fraction=0.3)
    mask = testbed.training_mask(small)
    assert mask.sum(dim=1).tolist() == [3] + [10] * (small.task_pool - 1)
    assert testbed.SyntheticRegressionConfig(**TINY, small_task_fraction=0.01).small_task_samples == 1


def test_imbalance_sweep_at_rho_one_reproduces_the_testbed():
    rows = pd.DataFrame(imbalance.run(imbalance.Config(**TINY, fractions=(1.0,)), [0], "cpu").rows)
    plain = pd.DataFrame(testbed.run(testbed.SyntheticRegressionConfig(**TINY), [0], "cpu").rows)
    assert set(rows["variants"]) == {"rho=1"} and set(rows["experiment"]) == {"imbalance"}
    np.testing.assert_array_equal(rows["value"].to_numpy(), plain["value"].to_numpy())


def test_a_small_task_learns_worse_alone():
    config = testbed.SyntheticRegressionConfig(task_counts=(1, 4), widths=(5,), n_samples=40, n_test=200, epochs=150,
                                               log_every=150, small_task_fraction=0.1, complexity_draws=10)
    frame = pd.DataFrame(testbed.run(config, [0, 1, 2], "cpu").rows)
    final = frame[(frame.metric == "excess_risk_noiseless") & (frame.step == 150) & (frame.n_tasks == 1)]
    small = final[final.task == "0"]["value"].mean()
    assert small > final[final.task != "0"]["value"].mean()


def test_sweep_configs_refuse_the_swept_scalar():
    with pytest.raises(ConfigError, match="dissimilarities"):
        similarity.Config(**TINY, dissimilarity=0.5)
    with pytest.raises(ConfigError, match="fractions"):
        imbalance.Config(**TINY, small_task_fraction=0.5)
    with pytest.raises(ConfigError, match="include 1"):
        similarity.Config(**{**TINY, "task_counts": (2, 4)})


# -- layer splits --------------------------------------------------------------------------------

def test_parse_split():
    assert parse_split("paper") == (False, True)
    assert parse_split("none") == (False, False)
    assert parse_split("all") == (True, True)
    assert parse_split("tss") == (False, True, True)
    with pytest.raises(ConfigError, match="layer split"):
        parse_split("txs")


def test_zero_shared_layers_equal_t_independent_nets():
    n_tasks, seeds = 3, [0, 1]
    spec = SplitSpec(n_tasks, 4, 2, (6, 5), (False, False), "tanh")
    joint = SplitMultiTaskNet(spec, seeds, dtype=torch.float64)
    alone_spec = SplitSpec(1, 4, 2, (6, 5), (False, False), "tanh")
    alone = [SplitMultiTaskNet(alone_spec, seeds, dtype=torch.float64,
                               initial={k: v.detach()[:, t:t + 1].clone() for k, v in joint.params.items()})
             for t in range(n_tasks)]
    x = torch.randn(2, n_tasks, 9, 4, dtype=torch.float64)
    y = torch.randn(2, n_tasks, 9, 2, dtype=torch.float64)
    for t in range(n_tasks):
        torch.testing.assert_close(joint(x)[:, t], alone[t](x[:, t:t + 1])[:, 0], rtol=0, atol=1e-12)
    # one Adam step on the sum of the task losses = one step of each independent net on its own loss
    optimizers = [MemberAdam(net.parameters(), lr=0.05) for net in (joint, *alone)]
    ((joint(x) - y) ** 2).mean(dim=(2, 3)).sum().backward()
    optimizers[0].step()
    for t, net in enumerate(alone):
        ((net(x[:, t:t + 1]) - y[:, t:t + 1]) ** 2).mean(dim=(2, 3)).sum().backward()
        optimizers[t + 1].step()
        for name, value in net.params.items():
            torch.testing.assert_close(joint.params[name].detach()[:, t:t + 1], value.detach(), rtol=0, atol=1e-12)


def test_shared_layers_see_every_task():
    spec = SplitSpec(2, 3, 1, (4, 4), (False, True))
    net = SplitMultiTaskNet(spec, [0], dtype=torch.float64)
    x = torch.randn(1, 2, 5, 3, dtype=torch.float64)
    net(x)[:, 0].sum().backward()  # task 0's output alone
    assert net.params["layer1_weight"].grad.abs().sum() > 0
    assert net.params["layer0_weight"].grad[:, 1].abs().sum() == 0
    assert net.params["layer1_weight"].shape == (1, 4, 4) and net.params["layer0_weight"].shape == (1, 2, 3, 4)


def test_parameter_counts_and_the_fixed_budget():
    paper = SplitSpec(4, 4, 1, (10, 10), (False, True))
    assert paper.n_parameters() == 4 * (5 * 10) + 11 * 10 + 4 * 11
    for shared in [(False, False), (True, True), (False, True)]:
        width = width_for_budget(4, 4, 1, shared, paper.n_parameters())
        counts = [SplitSpec(4, 4, 1, (w, w), shared).n_parameters() for w in (width - 1, width, width + 1) if w]
        best = SplitSpec(4, 4, 1, (width, width), shared).n_parameters()
        assert abs(best - paper.n_parameters()) == min(abs(c - paper.n_parameters()) for c in counts)
    assert width_for_budget(4, 4, 1, (False, True), paper.n_parameters()) == 10
    assert width_for_budget(4, 4, 1, (True, True), paper.n_parameters()) > 10 > width_for_budget(
        4, 4, 1, (False, False), paper.n_parameters())


DEPTH = dict(task_counts=(1, 2, 4), width=4, n_samples=10, n_test=20, epochs=20, log_every=10)


def test_depth_run_rows_and_the_single_task_baseline():
    frame = pd.DataFrame(depth.run(depth.Config(**DEPTH), [0, 1], "cpu").rows)
    assert set(frame["algorithm"]) == {"split-tt", "split-ts", "split-ss"}
    final = frame[(frame.metric == "excess_risk") & (frame.step == 20) & (frame.n_tasks == 1)]
    by_split = final.pivot_table(index=["task", "seed"], columns="algorithm", values="value")
    assert np.allclose(by_split["split-tt"], by_split["split-ss"]) and np.allclose(by_split["split-ts"],
                                                                                   by_split["split-ss"])
    sizes = frame[frame.metric == "n_parameters"].groupby(["algorithm", "n_tasks"])["value"].first()
    assert sizes["split-ts", 4] == SplitSpec(4, 4, 1, (4, 4), (False, True)).n_parameters()
    assert abs(sizes["split-tt", 4] / sizes["split-ts", 4] - 1) < 0.2
    alone = pd.DataFrame(depth.run(depth.Config(**DEPTH), [1], "cpu").rows)
    np.testing.assert_allclose(alone["value"], frame[frame.seed == 1]["value"], rtol=1e-6)


def test_depth_config_errors():
    with pytest.raises(ConfigError, match="repeat"):
        depth.Config(**{**DEPTH, "splits": ("none", "tt")})
    with pytest.raises(ConfigError, match="divide"):
        depth.Config(**{**DEPTH, "task_counts": (1, 3, 4)})


# -- Car-On-Hill task sets -----------------------------------------------------------------------

def test_car_on_hill_accepts_tasks_beyond_the_paper():
    assert variant("1.000_7.000").action == 7.0
    params = variant("1.000_5.000_g6.867")
    assert params.gravity == 6.867 and params.name == "1.000_5.000_g6.867"
    assert variant("3").name == "1.000_4.375"
    with pytest.raises(ConfigError, match="canonical"):
        variant("1_7")
    with pytest.raises(ConfigError, match="unknown"):
        variant("heavy")


def test_coh_task_sets_spread_around_the_centre():
    assert coh_similarity.task_set("force", 0.2, 2) == ["1.000_4.000", "1.000_6.000"]
    assert coh_similarity.task_set("gravity", 0.3, 3) == ["1.000_5.000_g6.867", "1.000_5.000", "1.000_5.000_g12.753"]
    config = cfg.build(coh_similarity.Config, {"spreads": [0.1, 0.4], "task_counts": [2, 4]})
    assert config.fqi_config(["1.000_3.000"]).variants == ["1.000_3.000"]
    assert len(config.task_sets()) == 4
    with pytest.raises(ConfigError, match="too small"):
        coh_similarity.Config(spreads=(0.0001,), task_counts=(4,))


# -- analysis --------------------------------------------------------------------------------------

def _synthetic_fqi(gain_by_spread: dict[float, float], seeds=range(6)) -> pd.DataFrame:
    """Tidy coh_similarity-like rows: single error 1.0 (+ seed noise), multi = single - gain."""
    rng = np.random.default_rng(0)
    rows = []
    for spread, gain in gain_by_spread.items():
        for seed in seeds:
            noise = rng.normal(0, 0.01, 2)
            for t, task in enumerate(["a", "b"]):
                base = dict(experiment="coh_similarity", variants=f"force_spread={spread:g}", task=task, width=30,
                            seed=seed, step=3, metric="avi_diff")
                rows.append({**base, "algorithm": "fqi", "n_tasks": 1, "value": 1.0 + noise[t]})
                rows.append({**base, "algorithm": "mfqi", "n_tasks": 2, "value": 1.0 + noise[t] - gain})
    return pd.DataFrame(rows)


def test_gain_and_breaking_point_on_known_curves():
    frame = _synthetic_fqi({0.1: 0.2, 0.2: 0.1, 0.3: -0.1, 0.4: -0.2})
    gains = ablation_tables.paired_gains(ablation_tables.final_errors(frame, "coh_similarity"))
    np.testing.assert_allclose(gains.groupby("sweep")["gain"].mean().to_numpy(), [0.2, 0.1, -0.1, -0.2])
    summary = ablation_tables.gain_summary(gains, n_boot=200)
    points = ablation_tables.breaking_points(gains, summary, n_boot=200)
    assert len(points) == 1
    assert points["first_null"].iloc[0] == pytest.approx(0.3)
    assert points["crossing"].iloc[0] == pytest.approx(0.25)
    assert points["crossing_lo"].iloc[0] <= 0.25 <= points["crossing_hi"].iloc[0]
    never = _synthetic_fqi({0.1: 0.3, 0.2: 0.2})
    gains = ablation_tables.paired_gains(ablation_tables.final_errors(never, "coh_similarity"))
    points = ablation_tables.breaking_points(gains, ablation_tables.gain_summary(gains, n_boot=50), n_boot=50)
    assert np.isinf(points["crossing"].iloc[0]) and np.isinf(points["first_null"].iloc[0])


def test_crossing_interpolates():
    assert ablation_tables.crossing(np.array([0.0, 1.0]), np.array([1.0, -1.0])) == pytest.approx(0.5)
    assert ablation_tables.crossing(np.array([0.0, 1.0]), np.array([-1.0, -1.0])) == 0.0
    assert np.isinf(ablation_tables.crossing(np.array([0.0, 1.0]), np.array([1.0, 0.5])))


def _write_run(module, config, path, seeds=(0, 1, 2)):
    result = module.run(config, list(seeds), "cpu")
    write_results(path, result.rows, {"config": cfg.record(config), "experiment": module.EXPERIMENT})
    return str(path)


def test_tables_and_figures_build_from_tiny_runs(tmp_path):
    sim = _write_run(similarity, similarity.Config(**TINY, dissimilarities=(0.0, 0.5, 1.0)), tmp_path / "sim.csv")
    imb = _write_run(imbalance, imbalance.Config(**TINY, fractions=(0.2, 1.0)), tmp_path / "imb.csv")
    dep = _write_run(depth, depth.Config(**DEPTH), tmp_path / "depth.csv")
    coh = tmp_path / "coh.csv"
    write_results(coh, _synthetic_fqi({0.1: 0.2, 0.3: -0.1}).to_dict("records"), {"config": {}})
    boot = ["--n-boot", "20"]
    for study, runs in [("similarity", sim), ("imbalance", imb), ("depth", dep), ("coh-similarity", str(coh))]:
        assert ablation_tables.main([study, "--runs", runs, "--outdir", str(tmp_path / "tab"), *boot]) == 0
        assert ablation_figures.main([study, "--runs", runs, "--outdir", str(tmp_path / "fig"), *boot]) == 0
    for stem in ("ablation_similarity_gain", "ablation_similarity_breaking", "ablation_similarity_bound",
                 "ablation_imbalance", "ablation_depth", "ablation_depth_fit", "ablation_coh_similarity_breaking"):
        assert (tmp_path / "tab" / f"{stem}.csv").is_file()
    for stem in ("ablation_similarity_gain", "ablation_similarity_theory", "ablation_imbalance",
                 "ablation_depth_vs_T", "ablation_coh_similarity_gain"):
        assert (tmp_path / "fig" / f"{stem}.png").stat().st_size > 1000
    bound = pd.read_csv(tmp_path / "tab" / "ablation_similarity_bound.csv")
    assert set(bound["dissimilarity"]) == {0.0, 0.5, 1.0} and bound["measured_excess_risk"].notna().all()
    table = pd.read_csv(tmp_path / "tab" / "ablation_imbalance.csv")
    assert set(table["group"]) == {"small", "others"} and set(table["rho"]) == {0.2, 1.0}
