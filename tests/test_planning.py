"""Job planning (mtrl_bench.experiments.planning): the jobs, file names and arguments the rules expand."""

import pytest

from mtrl_bench.errors import ConfigError
from mtrl_bench.experiments import planning as plan

DQN = {"seeds": {"first": 0, "count": 5}, "sweep": {"shared_width": [80]},
       "params": {"tasks": ["cartpole", "acrobot", "mountaincar"], "epochs": 20}}
DDPG = {"seeds": {"first": 0, "count": 4}, "sweep": {"shared_width": [500]},
        "groups": {"pendulum": [], "walker": ["hopper_stand", "walker_walk"], "pendulum_mujoco": None}, "params": {}}


def test_seed_batches_split_the_seeds_into_ranges_of_at_most_the_batch_size():
    assert plan.seed_batches({"seeds": {"first": 3, "count": 5}, "seed_batch_size": 2}) == ["3-4", "5-6", "7-7"]
    assert plan.seed_batches({"seeds": {"first": 0, "count": 24}}) == ["0-23"]
    assert plan.seed_list("3-5") == [3, 4, 5] and plan.seed_list("7-7") == [7]


def test_sweep_points_are_every_combination_labelled_by_short_names():
    points = plan.sweep_points({"sweep": {"input_map": ["task", "shared"], "widths": [5, 30]}})
    assert points == {"task_w5": {"input_map": "task", "widths": 5}, "task_w30": {"input_map": "task", "widths": 30},
                      "shared_w5": {"input_map": "shared", "widths": 5},
                      "shared_w30": {"input_map": "shared", "widths": 30}}
    assert plan.sweep_points({}) == {"": {}}
    assert plan.sweep_points({"sweep": {"axis": ["force"]}}) == {"axisforce": {"axis": "force"}}


def test_grid_and_run_files_list_every_job_in_a_stable_order():
    points = {"w5": {"shared_width": 5}, "w30": {"shared_width": 30}}
    assert plan.grid(points, [{"a": 1}, {"a": 2}]) == [
        ({"shared_width": 5}, {"a": 1}), ({"shared_width": 30}, {"a": 1}),
        ({"shared_width": 5}, {"a": 2}), ({"shared_width": 30}, {"a": 2})]
    assert plan.run_files("r", ["mdqn", "dqn_acrobot"], points, ["0-1", "2-3"]) == [
        "r/dqn_acrobot_w30_s0-1.csv", "r/dqn_acrobot_w30_s2-3.csv", "r/dqn_acrobot_w5_s0-1.csv",
        "r/dqn_acrobot_w5_s2-3.csv", "r/mdqn_w30_s0-1.csv", "r/mdqn_w30_s2-3.csv", "r/mdqn_w5_s0-1.csv",
        "r/mdqn_w5_s2-3.csv"]


def test_fqi_task_sets_are_the_nested_sets_and_reproducible_random_draws():
    sets = plan.fqi_task_sets({"task_sets": {"n_tasks": [1, 4], "random_draws": 2, "random_seed": 3}})
    assert sets == {
        "T1_nested": ["1.000_4.000"], "T1_random0": ["1.050_4.500"], "T1_random1": ["1.200_4.625"],
        "T4_nested": ["1.000_4.000", "0.800_4.000", "1.000_4.500", "1.200_4.500"],
        "T4_random0": ["1.000_4.375", "0.950_4.000", "1.150_4.500", "1.200_4.750"],
        "T4_random1": ["1.000_4.250", "1.100_4.500", "1.150_4.500", "1.200_4.500"]}
    only_random = plan.fqi_task_sets({"task_sets": {"n_tasks": [4], "nested": False, "random_draws": 1,
                                                    "random_seed": 3}})
    assert only_random == {"T4_random0": sets["T4_random0"]}
    with pytest.raises(ConfigError, match="number of tasks"):
        plan.fqi_task_sets({"task_sets": {"n_tasks": [17]}})


def test_fqi_gamma_falls_back_to_the_familys_discount():
    assert plan.fqi_gamma({"params": {}}) == 0.95
    assert plan.fqi_gamma({"params": {"gamma": 0.9}}) == 0.9


def test_run_args_are_the_dataclass_vocabulary_and_bad_values_name_the_key():
    args = plan.run_args("fqi", {"params": {"iterations": 3}}, {"shared_width": 12}, variants=["0", "1"])
    assert args == "--iterations 3 --shared-width 12 --variants 0 1"
    with pytest.raises(ConfigError, match="fqi.params.shared_width must be >= 1"):
        plan.run_args("fqi", {"params": {}}, {"shared_width": 0})


def test_dqn_and_ddpg_jobs_are_the_multi_task_run_and_one_single_task_run_per_task():
    assert plan.dqn_jobs(DQN) == {"mdqn": ["cartpole", "acrobot", "mountaincar"], "dqn_cartpole": ["cartpole"],
                                  "dqn_acrobot": ["acrobot"], "dqn_mountaincar": ["mountaincar"]}
    jobs = plan.ddpg_jobs(DDPG)
    assert jobs["mddpg_walker"] == {"group": "walker", "tasks": ["hopper_stand", "walker_walk"]}
    assert jobs["ddpg_walker_walk"] == {"group": "walker", "tasks": ["walker_walk"]}
    assert len(jobs["mddpg_pendulum"]["tasks"]) == 3 and not any("mujoco" in job for job in jobs)
    with pytest.raises(ConfigError, match="ddpg.groups.atari"):
        plan.ddpg_jobs({**DDPG, "groups": {"atari": []}})


def test_dqn_transfer_case_pairs_frozen_map_sources_and_baselines():
    case = plan.transfer_case("dqn", {"held_out": ["acrobot"], "frozen_epochs": [0, 10, "all"]}, DQN)
    assert case.pairs == [("acrobot", "w80")] and case.held == ["acrobot"]
    assert case.frozen == {"f0": 0, "f10": 10, "fall": 20}
    assert case.source_fields("acrobot", "w80", "ck") == {"tasks": ["cartpole", "mountaincar"],
                                                          "save_shared": "best", "checkpoint_dir": "ck"}
    # The no-transfer curve is the dqn experiment's own single-task run, named as its rules name it.
    assert case.baseline_files("r/dqn", ["0-4"]) == plan.run_files("r/dqn", ["dqn_acrobot"], ["w80"], ["0-4"])
    assert case.run_files("r/transfer", ["0-4"]) == [f"r/transfer/acrobot_w80_{f}_s0-4.csv"
                                                     for f in ("f0", "f10", "fall")]
    params = case.run_params("acrobot", "w80", "f10", "ck")
    assert params == {"algorithm": "dqn", "target": "acrobot", "source_dir": "ck", "frozen_epochs": 10,
                      "load_into": "online_and_target", "dqn": {"epochs": 20, "shared_width": 80}}
    assert len(case.source_jobs()) == 1 and len(case.run_jobs()) == 3
    for point, fixed in case.source_jobs():
        plan.experiment_config("dqn", DQN, point, **fixed)
    for point, fixed in case.run_jobs():
        plan.experiment_config("transfer", {}, point, **fixed)
    assert "--frozen-epochs 10" in case.run_args("acrobot", "w80", "f10", "ck")
    every = plan.transfer_case("dqn", {"held_out": "all"}, DQN)
    assert every.held == ["acrobot", "cartpole", "mountaincar"] and every.frozen == {"f0": 0, "fall": 20}


def test_ddpg_transfer_sources_stay_in_the_held_out_tasks_group():
    case = plan.transfer_case("ddpg", {"held_out": ["hopper_stand"], "frozen_epochs": [0]}, DDPG)
    assert case.group_of["hopper_stand"] == "walker"
    assert case.source_fields("hopper_stand", "w500", "ck") == {"tasks": ["walker_walk"], "save_shared": "best",
                                                                "checkpoint_dir": "ck", "group": "walker"}
    assert case.run_params("hopper_stand", "w500", "f0", "ck")["ddpg"]["group"] == "walker"


@pytest.mark.parametrize("case, section, message", [
    ({"held_out": ["pong"]}, DQN, "'pong' is not one of the dqn tasks"),
    ({"frozen_epochs": [20]}, DQN, "frozen_epochs: 20 must be an integer in 0..19"),
    ({}, {**DQN, "params": {"tasks": ["cartpole"]}}, "needs at least two dqn tasks"),
    ({}, None, "needs the `dqn` section"),
])
def test_bad_transfer_cases_are_refused_naming_the_key(case, section, message):
    with pytest.raises(ConfigError, match=message):
        plan.transfer_case("dqn", case, section)
