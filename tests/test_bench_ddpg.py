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
