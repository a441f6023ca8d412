"""``bench ddpg``: the environment baseline is every task's own bare rate."""

from __future__ import annotations

import pytest

from mtrl_bench import config as cfg
from mtrl_bench.bench import ddpg as bench
from mtrl_bench.experiments import ddpg as experiment


def test_env_ratio_weighs_each_task_by_its_own_bare_rate(monkeypatch):
    pytest.importorskip("mujoco")
    rates = iter([1000.0, 100.0])
    monkeypatch.setattr(bench, "bare_env_steps_per_s", lambda build, steps=2000: next(rates))
    config = cfg.build(experiment.Config, {"tasks": ["mujoco_inverted_pendulum", "mujoco_inverted_double_pendulum"],
                                           "input_width": 8, "shared_width": 8})
    builders = [experiment.single_env(cfg.build(experiment.Config, {"tasks": [t]})) for t in config.tasks]
    figures = bench.measure(config, experiment.env_factory(config), builders, seed_counts=(2,), steps=2, warmup=1,
                            repeats=1)
    (row,) = figures["rows"]
    # two seeds of each task one after the other at their bare rates: 2 x (1/1000 + 1/100) s per joint step
    assert row["env_vs_bare"] == pytest.approx(2 * (1 / 1000 + 1 / 100) / (row["env_ms_per_step"] / 1e3))
    assert figures["bare_env_steps_per_s"] == [1000.0, 100.0]
    with pytest.raises(ValueError, match="one bare environment per task"):
        bench.measure(config, experiment.env_factory(config), builders[:1], seed_counts=(1,), steps=1, warmup=1,
                      repeats=1)


def test_step_rates_compares_the_stepper_with_the_same_bare_environments_stepped_in_turn(monkeypatch):
    """``python -m mtrl_bench.tasks.step_rates``: x = joint steps/s x S / (joint steps/s of T bare envs in turn)."""
    from mtrl_bench.tasks import step_rates

    bare = {"mujoco_inverted_pendulum": (1000.0, 5.0), "mujoco_inverted_double_pendulum": (500.0, 20.0),
            "cartpole_swingup": (500.0, 11.0)}
    monkeypatch.setattr(step_rates, "bare_rate", lambda task, seconds=1.5, seed=0: bare[task])
    monkeypatch.setattr(step_rates, "vector_rate", lambda tasks, n_seeds, workers, seconds=1.5: (100.0 / n_seeds, 30.0))
    lines = step_rates.report(["pendulum_mujoco"], seeds=[1, 4], workers=[0], seconds=0.01)
    assert lines[0].startswith("group pendulum_mujoco: bare steps/s")
    serial = 1 / (1 / 1000 + 1 / 500 + 1 / 500)  # 200 joint steps/s
    assert len(lines) == 3 and all(f"x{100.0 / serial:.2f} of serial bare" in line for line in lines[1:])
    assert "(bare 12)" in lines[1] and "300 env steps/s" in lines[1]


def test_step_rates_measures_a_real_stepper():
    pytest.importorskip("mujoco")
    from mtrl_bench.tasks import step_rates

    rate, cpu_us = step_rates.vector_rate(["mujoco_inverted_pendulum"], n_seeds=2, workers=0, seconds=0.05)
    assert rate > 0 and cpu_us > 0
