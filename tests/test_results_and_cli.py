"""Tidy results files (provenance, atomic writes) and the CLI's handling of bad input."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from mtrl_bench import results
from mtrl_bench.cli import main
from mtrl_bench.errors import ConfigError


def rows(value=0.5):
    return [{"experiment": "fqi", "algorithm": "fqi", "variants": "1.000_4.000", "n_tasks": 1,
             "task": "1.000_4.000", "width": 30, "seed": 0, "step": 1, "metric": "avi_diff", "value": value}]


def test_results_round_trip_with_provenance(tmp_path):
    prov = results.provenance({"k": 1}, "cpu", started=0.0, seeds=[0])
    path = results.write_results(tmp_path / "r.csv", rows(), prov)
    frame, back = results.read_results(path)
    assert list(frame.columns) == results.COLUMNS and frame.value.iloc[0] == 0.5
    for key in ("config", "version", "git_commit", "device", "wall_time_s", "seeds"):
        assert key in back
    assert back["config"] == {"k": 1}


def test_results_refuse_nan_and_leave_no_partial_file(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        results.write_results(tmp_path / "r.csv", rows(float("nan")), {})
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_no_file_that_looks_complete(tmp_path, monkeypatch):
    def boom(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        results.atomic_write_text(tmp_path / "out.csv", "data")
    assert list(tmp_path.iterdir()) == []


def test_reading_a_foreign_file_says_what_is_wrong(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="not an mtrl-bench results file"):
        results.read_results(tmp_path / "x.csv")


@pytest.mark.parametrize("argv, message", [
    (["run", "fqi", "--variants", "42", "--out", "{tmp}/o.csv"], "unknown Car-On-Hill variant"),
    (["run", "fqi", "--seeds", "--out", "{tmp}/o.csv"], "seed list is empty"),
    (["run", "fqi", "--out", "/proc/nope/o.csv"], "output folder"),
    (["run", "fqi", "--device", "cuda:7", "--out", "{tmp}/o.csv"], "cuda"),
])
def test_cli_bad_input_gets_a_one_line_error(argv, message, tmp_path, capsys):
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("flags, message", [
    (["--shared-width", "0"], "fqi.shared_width must be >= 1"),
    (["--learning-rate", "nan"], "fqi.learning_rate must be a finite number"),
    (["--learning-rate", "inf"], "fqi.learning_rate must be a finite number"),
    (["--max-fit-steps", "ten"], "fqi.max_fit_steps must be an integer"),
])
def test_cli_refuses_bad_hyper_parameters_naming_the_key(flags, message, tmp_path, capsys):
    code = main(["run", "fqi", *flags, "--out", str(tmp_path / "x.csv")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


def test_config_file_keys_are_the_dataclass_fields_and_flags_override_them(tmp_path, capsys):
    from mtrl_bench import config as cfg
    from mtrl_bench.experiments import fqi

    (tmp_path / "c.yaml").write_text("fqi:\n  shared_width: 7\n  learning_rate: 2.0e-3\n  dataset: {grid_size: 5}\n")
    built = cfg.build(fqi.Config, cfg.load_yaml_section(str(tmp_path / "c.yaml"), "fqi"))
    assert (built.shared_width, built.learning_rate, built.dataset.grid_size) == (7, 2e-3, 5)
    (tmp_path / "bad.yaml").write_text("fqi:\n  shared_widht: 7\n")
    code = main(["run", "fqi", "--config", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "x.csv")])
    assert code == 2 and "fqi.shared_widht" in capsys.readouterr().err
    # The generated argument list reads back to the same config.
    import argparse
    import shlex

    parser = argparse.ArgumentParser()
    cfg.add_arguments(parser, fqi.Config)
    args = parser.parse_args(shlex.split(cfg.to_cli_args(fqi.Config, cfg.record(built))))
    assert cfg.from_args(fqi.Config, args) == built


def test_qstar_cli_writes_the_paper_grid_csv(tmp_path):
    # A shallow search keeps this fast; full-depth values are computed by the workflow and benchmark.
    out = tmp_path / "q.csv"
    assert main(["qstar", "--mass", "1.0", "--gravity", "9.81", "--action", "4.0", "--grid", "paper",
                 "--max-depth", "6", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["position", "velocity", "action", "q_star"] and len(frame) == 200
    assert (frame.action.iloc[:100] == 0).all() and (frame.action.iloc[100:] == 1).all()
    assert frame.velocity.iloc[1] > frame.velocity.iloc[0] and frame.position.iloc[1] == frame.position.iloc[0]
    assert (frame.q_star == -1).sum() == 34  # immediate failures, as in the authors' tables


def test_run_fqi_cli_end_to_end(tmp_path, capsys):
    qdir = tmp_path / "q"
    qdir.mkdir()
    from mtrl_bench.tasks.car_on_hill.qstar import paper_test_grid, write_q_star_csv

    s, a = paper_test_grid()
    write_q_star_csv(qdir / "1.000_4.000.csv", {"position": s[:, 0], "velocity": s[:, 1], "action": a,
                                                "q_star": np.zeros(200)})
    out = tmp_path / "runs" / "r.csv"
    (tmp_path / "c.yaml").write_text("iterations: 3\nshared_width: 5\n")
    code = main(["run", "fqi", "--config", str(tmp_path / "c.yaml"), "--variants", "0", "--seeds", "0", "1",
                 "--iterations", "2", "--max-fit-steps", "20", "--dataset.grid-size", "5", "--qstar-dir", str(qdir),
                 "--data-dir", str(tmp_path / "d"), "--device", "cpu", "--out", str(out)])
    assert code == 0 and str(out) in capsys.readouterr().out
    frame, prov = results.read_results(out)
    assert prov["config"]["variants"] == ["1.000_4.000"] and prov["config"]["max_fit_steps"] == 20
    assert prov["config"]["shared_width"] == 5 and prov["config"]["dataset"]["grid_size"] == 5
    assert set(frame.seed) == {0, 1} and frame.step.max() == 2
    assert json.loads(json.dumps(prov))["device"].startswith("cpu")
