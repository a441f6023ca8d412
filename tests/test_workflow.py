"""The Snakemake workflow: both configs dry-run, bad configs are refused, a tiny sweep runs end to end."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def copy_workflow(dest: Path) -> Path:
    shutil.copy(REPO / "Snakefile", dest / "Snakefile")
    shutil.copytree(REPO / "workflow", dest / "workflow", ignore=shutil.ignore_patterns("*.draft"))
    return dest


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("configfile", [None, "workflow/config/paper.yaml"])
def test_both_configs_dry_run_cleanly(tmp_path, configfile):
    copy_workflow(tmp_path)
    args = ["-n", "--cores", "2", "--quiet", "rules"] + (["--configfile", configfile] if configfile else [])
    done = snakemake(tmp_path, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fqi_run" in done.stdout + done.stderr


def test_paper_config_sweeps_the_papers_grid(tmp_path):
    copy_workflow(tmp_path)
    done = snakemake(tmp_path, "-n", "--cores", "2", "--configfile", "workflow/config/paper.yaml")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    # T in {1,2,4,8,16} x widths {5,10,30,80} x one batch of 100 seeds, and Q* for all 16 variants.
    assert "T16_nested_w80_s0-99.csv" in out
    assert out.count("rule fqi_run:") == 20 and out.count("rule qstar:") == 16
    # DDPG: MDDPG and three DDPGs on each of the paper's two groups (the default's MuJoCo group dropped).
    assert out.count("rule ddpg_run:") == 8 and "mddpg_walker_w500_s0-39.csv" in out
    assert "ddpg_bullet_inverted_pendulum_w500_s0-39.csv" in out and "pendulum_mujoco" not in out


def job_runtime(dry_run: str, output: str) -> int:
    """The runtime resource Snakemake gives the job that writes ``output`` (from ``-n`` output)."""
    after = dry_run[dry_run.index(f"output: {output}"):]
    line = next(ln for ln in after.splitlines() if ln.strip().startswith("resources:"))
    return int(line.split("runtime=")[1].split(",")[0])


def test_paper_fqi_jobs_ask_for_the_runtime_of_their_task_set(tmp_path):
    copy_workflow(tmp_path)
    paper = yaml.safe_load((REPO / "workflow" / "config" / "paper.yaml").read_text())
    by_set = paper["fqi"]["resources"]["runtime_by_task_set"]
    done = snakemake(tmp_path, "-n", "--cores", "2", "--configfile", "workflow/config/paper.yaml")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    for task_set in ("T1", "T8"):
        assert job_runtime(out, f"results/runs/fqi/{task_set}_nested_w30_s0-99.csv") == by_set[task_set]
    assert by_set["T1"] < by_set["T8"]


@pytest.mark.parametrize("override, message", [
    ({"fqi": {"sweep": {"shared_width": [0]}}}, "fqi.params.shared_width must be >= 1"),
    ({"fqi": {"params": {"learning_rate": float("nan")}}}, "fqi.params.learning_rate must be a finite number"),
    ({"fqi": {"params": {"unknown_key": 1}}}, "fqi.params.unknown_key"),
    ({"dqn": {"params": {"tasks": ["pong"]}}}, "pong"),
    ({"fqi": {"seeds": {"first": 0, "count": 0}}}, "count"),
    ({"device": "tpu"}, "device"),
    ({"ddpg": {"groups": {"atari": []}}}, "atari"),
    ({"ddpg": {"groups": {"pendulum_mujoco": ["hopper_stand"]}}}, "hopper_stand"),
    ({"transfer": {"dqn": {"held_out": ["pong"]}}}, "pong"),
    ({"fqi": {"unknown_key": 1}}, "unknown_key"),
    ({"fqi": {"resources": {"runtime_by_task_set": {"eight": 5}}}}, "eight"),
])
def test_bad_configs_are_refused_naming_the_key(tmp_path, override, message):
    copy_workflow(tmp_path)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(override))
    done = snakemake(tmp_path, "-n", "--cores", "1", "--configfile", "bad.yaml")
    assert done.returncode != 0
    assert message in done.stdout + done.stderr


def test_nested_override_on_the_command_line_is_read_as_yaml(tmp_path):
    # Snakemake delivers nested --config values as strings; the workflow reads them as YAML scalars.
    copy_workflow(tmp_path)
    done = snakemake(tmp_path, "-n", "-p", "--cores", "1", "--config",
                     "fqi={sweep: {shared_width: [12]}, params: {learning_rate: 3e-3}}")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "T1_nested_w12_s0-4.csv" in out and "T1_nested_w30_" not in out
    assert "--learning-rate 0.003" in out


def assert_same_numbers_as_reference(results: Path) -> None:
    """Every tidy value of the tiny sweep equals the stored reference (tests/reference/README.md)."""
    import pandas as pd

    sys.path.insert(0, str(REPO / "tests" / "reference"))
    from regenerate import SORT, collect

    ours = collect(results)
    reference = pd.read_csv(REPO / "tests" / "reference" / "test_tiny_results.csv",
                            dtype={"variants": str, "task": str, "algorithm": str})
    keys = [c for c in SORT if c != "metric"] + ["metric"]
    assert ours[keys].astype(str).equals(reference[keys].astype(str)), "the sweep's rows differ from the reference"
    np.testing.assert_allclose(ours["value"].to_numpy(float), reference["value"].to_numpy(float), rtol=1e-6,
                               atol=1e-9, err_msg="a value of the tiny sweep moved (see tests/reference/README.md)")


def test_tiny_sweep_produces_every_figure_and_table_and_resumes(tmp_path):
    copy_workflow(tmp_path)
    done = snakemake(tmp_path, "--cores", "2", "--configfile", "workflow/config/test_tiny.yaml")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    results = tmp_path / "results"
    for stem in ("avi_diff_per_iteration", "final_error_vs_T", "J_per_iteration"):
        for ext in ("pdf", "png"):
            assert (results / "figures" / f"fqi_{stem}.{ext}").stat().st_size > 1000
    for stem in ("fit", "final_error"):
        for ext in ("csv", "md", "tex"):
            assert (results / "tables" / f"{stem}.{ext}").stat().st_size > 0
    for name in ("testbed_excess_risk_vs_T", "fqi_avi_bound_vs_T"):
        assert (results / "figures" / f"{name}.png").stat().st_size > 1000
    for name in ("testbed_fit", "fqi_bound", "dqn_summary"):
        assert (results / "tables" / f"{name}.md").stat().st_size > 0
    assert (results / "figures" / "dqn_return_discounted_per_epoch.png").stat().st_size > 1000
    # MDQN on the two tiny tasks plus one single-task DQN per task.
    assert sorted(p.name for p in (results / "runs" / "dqn").glob("*.csv")) == [
        "dqn_car_on_hill_w8_s0-1.csv", "dqn_cartpole_w8_s0-1.csv", "mdqn_w8_s0-1.csv"]
    assert len(list((results / "runs" / "fqi").glob("*.csv"))) == 4
    # MDDPG on the two tiny pendulum tasks plus one single-task DDPG per task; the DQN transfer case.
    assert sorted(p.name for p in (results / "runs" / "ddpg").glob("*.csv")) == [
        "ddpg_mujoco_inverted_double_pendulum_w4_s0-1.csv", "ddpg_mujoco_inverted_pendulum_w4_s0-1.csv",
        "mddpg_pendulum_mujoco_w4_s0-1.csv"]
    for name in ("ddpg_return_discounted_per_epoch.png", "transfer_dqn_return_discounted_per_epoch.png"):
        assert (results / "figures" / name).stat().st_size > 1000
    for name in ("ddpg_summary", "ddpg_vs_published", "transfer_dqn_summary", "transfer_dqn_vs_published",
                 "fqi_vs_published", "dqn_vs_published"):
        assert (results / "tables" / f"{name}.md").stat().st_size > 0
    assert_same_numbers_as_reference(results)
    # Nothing left to do after a complete run; deleting one run file re-runs only that job (+ analysis).
    again = snakemake(tmp_path, "-n", "--cores", "2", "--configfile", "workflow/config/test_tiny.yaml")
    assert "Nothing to be done" in again.stdout + again.stderr
    (results / "runs" / "fqi" / "T2_nested_w4_s1-1.csv").unlink()
    again = snakemake(tmp_path, "-n", "--cores", "2", "--configfile", "workflow/config/test_tiny.yaml")
    out = again.stdout + again.stderr
    assert out.count("rule fqi_run:") == 1 and out.count("rule qstar:") == 0
