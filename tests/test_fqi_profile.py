"""The steps-per-iteration profile behind the paper projection: read from result files, completed
where a measurement stopped early, and shipped with the package."""

from __future__ import annotations

import numpy as np
import pytest

from mtrl_bench.bench import fqi_profile
from mtrl_bench.errors import ConfigError

HEADER = "experiment,algorithm,variants,n_tasks,task,width,seed,step,metric,value\n"


def write_runs(path, rows):
    lines = ["# mtrl-bench-provenance: {}\n", HEADER]
    lines += [f"fqi,mfqi,a+b,{t},{task},{w},{seed},{it},{metric},{v}\n" for t, task, w, seed, it, metric, v in rows]
    path.write_text("".join(lines))
    return path


def test_each_seed_and_iteration_counts_once_per_task_set(tmp_path):
    rows = []
    for seed, steps in ((0, [100, 40]), (1, [300, 60])):
        for it, v in enumerate(steps, start=1):
            rows += [(2, task, 30, seed, it, "fit_steps", v) for task in ("a", "b")]  # one row per task
            rows.append((2, "a", 30, seed, it, "avi_diff", 0.5))
    rows.append((2, "a", 10, 0, 1, "fit_steps", 9999))  # another width
    profiles = fqi_profile.read_runs([write_runs(tmp_path / "r.csv", rows)], width=30)
    assert list(profiles) == [2]
    assert [sorted(c.tolist()) for c in profiles[2]] == [[100, 300], [40, 60]]


def test_missing_or_empty_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such result file"):
        fqi_profile.read_runs([tmp_path / "absent.csv"])
    empty = write_runs(tmp_path / "e.csv", [(1, "a", 30, 0, 1, "avi_diff", 0.1)])
    with pytest.raises(ConfigError, match="no fit_steps rows"):
        fqi_profile.read_runs([empty])


def test_short_measurements_are_completed_from_the_longest_scaled():
    long = [np.array([100.0, 300.0])] * 2 + [np.array([10.0, 30.0])] * 3
    short = [np.array([400.0, 400.0])]  # twice T=1's first iteration
    profile, note = fqi_profile.complete({1: long, 8: short}, 8, iterations=5)
    assert len(profile) == 5
    assert profile[0].tolist() == [400.0, 400.0]
    assert profile[1].tolist() == [200.0, 600.0] and profile[4].tolist() == [20.0, 60.0]
    assert "1-1 measured" in note and "T=1 x 2.00" in note
    nearest, note = fqi_profile.complete({1: long, 8: short}, 2, iterations=5)
    assert nearest[0].tolist() == [100.0, 300.0] and "from T=1" in note


def test_the_shipped_measurement_covers_the_paper_run():
    profiles = fqi_profile.measured()
    assert 1 in profiles and len(profiles[1]) == fqi_profile.ITERATIONS
    assert all(len(c) >= 2 and (c > 0).all() for c in profiles[1])
    # The rule's signature: the first fit is the longest (the targets start at the rewards).
    assert profiles[1][0].mean() > np.mean([c.mean() for c in profiles[1][1:]])


def test_authors_profile_has_their_figures():
    profile = fqi_profile.authors_profile()
    assert len(profile) == 50
    assert sum(float(np.mean(c)) for c in profile) == pytest.approx(sum(fqi_profile.AUTHORS_TYPICAL))
