"""The Snakemake workflow: the configs dry-run, bad configs are refused, a tiny sweep runs end to end.

Snakemake is slow to start (it imports the package and builds every job's config), so the tests share
their runs: one dry run per config (module-scoped fixtures, read by several tests), and one process that
parses the workflow under every bad config through the Snakemake API (tests/workflow_parse.py).
"""

import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import yaml

from mtrl_bench import config as cfg
from mtrl_bench.commands.run import EXPERIMENTS, config_file_params, experiment_module

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "workflow" / "config"


def copy_workflow(dest: Path) -> Path:
    """A copy of the workflow (workflow/Snakefile, rules, configs, profiles) to run in ``dest``."""
    shutil.copytree(REPO / "workflow", dest / "workflow", ignore=shutil.ignore_patterns("*.draft"))
    return dest


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir, capture_output=True, text=True,
                          timeout=timeout)


def output_of(done: subprocess.CompletedProcess) -> str:
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """One copy of the workflow for the dry runs, with a shipped paper-protocol summary for paper_figures."""
    dest = copy_workflow(tmp_path_factory.mktemp("workflow"))
    (dest / "analysis" / "reference" / "ours").mkdir(parents=True)
    (dest / "analysis" / "reference" / "ours" / "dqn.csv").write_text("experiment,value\n")
    return dest


@pytest.fixture(scope="module")
def default_dry_run(workdir) -> str:
    """A bare `snakemake -n -p` (no profile named, default config): the default sweep, the paper-protocol
    reference run and the shipped figures."""
    return output_of(snakemake(workdir, "-n", "-p", "--forceall", "--cores", "2", "all", "paper_reference",
                               "paper_figures"))


@pytest.fixture(scope="module")
def paper_dry_run(workdir) -> str:
    return output_of(snakemake(workdir, "-n", "-p", "--cores", "2", "--configfile", "workflow/config/paper.yaml"))


def jobs(dry_run: str, rule: str) -> list[str]:
    """The blocks of the dry run's jobs of ``rule`` (each block: output, wildcards, resources, shell command)."""
    blocks = dry_run.split("\n\n")
    return [b for b in blocks if b.lstrip().startswith(f"rule {rule}:") or f"\nrule {rule}:" in b]


def shell_commands(dry_run: str, rule: str) -> list[str]:
    return [line.split("Shell command: ", 1)[1] for block in jobs(dry_run, rule) for line in block.splitlines()
            if line.startswith("Shell command: ")]


def test_both_configs_dry_run_cleanly(default_dry_run, paper_dry_run):
    for out in (default_dry_run, paper_dry_run):
        assert "rule fqi_run:" in out and "rule dqn_run:" in out


def test_a_bare_snakemake_loads_the_default_workflow_profile(default_dry_run):
    # workflow/Snakefile finds profiles/default next to it: a bare `snakemake` reruns incomplete jobs and
    # resumes after an interruption, like `make run`.
    assert "Using workflow specific profile workflow/profiles/default" in default_dry_run
    profile = yaml.safe_load((REPO / "workflow" / "profiles" / "default" / "config.yaml").read_text())
    assert profile["rerun-incomplete"] is True


def test_paper_config_sweeps_the_papers_grid(paper_dry_run):
    out = paper_dry_run
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


def test_paper_fqi_jobs_ask_for_the_runtime_of_their_task_set(paper_dry_run):
    paper = yaml.safe_load((CONFIGS / "paper.yaml").read_text())
    by_set = paper["fqi"]["resources"]["runtime_by_task_set"]
    for task_set in ("T1", "T8"):
        assert job_runtime(paper_dry_run, f"results/runs/fqi/{task_set}_nested_w30_s0-99.csv") == by_set[task_set]
    assert by_set["T1"] < by_set["T8"]


def seeds_of(command: str) -> list[int]:
    words = command.split("--seeds ", 1)[1].split()
    return [int(w) for w in words[:words.index("--device")]]


def test_paper_reference_runs_mdqn_transfer_and_the_fqi_sweep_at_the_papers_protocol(default_dry_run):
    out = default_dry_run
    dqn = shell_commands(out, "paper_reference_dqn_run")
    by_tasks = {}  # MDQN + the five single-task DQNs -> their seeds over all seed batches
    for command in dqn:
        for flag in ("--epochs 50", "--steps-per-epoch 1000", "--test-steps 2000", "--shared-width 80",
                     "--input-width 80", "--out results/paper_reference/runs/dqn/"):
            assert flag in command, (flag, command)
        by_tasks.setdefault(command.split("--tasks ")[1].split(" --")[0], []).extend(seeds_of(command))
    assert sorted(by_tasks) == ["acrobot", "car_on_hill", "cartpole",
                                "cartpole acrobot mountaincar car_on_hill inverted_pendulum", "inverted_pendulum",
                                "mountaincar"]
    assert all(len(set(seeds)) >= 24 for seeds in by_tasks.values())
    # The transfer to Acrobot: a source on the four other tasks, unfrozen at 0, 10 and never, the same seeds.
    sources = shell_commands(out, "paper_reference_transfer_source_dqn")
    assert all("--tasks cartpole mountaincar car_on_hill inverted_pendulum " in c for c in sources)
    assert len({s for c in sources for s in seeds_of(c)}) >= 24
    transfer = shell_commands(out, "paper_reference_transfer_run_dqn")
    assert all("--target acrobot" in c for c in transfer)
    for frozen in ("0", "10", "50"):
        runs = [c for c in transfer if f"--frozen-epochs {frozen} " in c]
        assert len({s for c in runs for s in seeds_of(c)}) >= 24, frozen
    # The FQI T sweep: T = 1, 2, 4, 8, nested and random task sets, 50 iterations, the paper's fit rule.
    fqi = shell_commands(out, "paper_reference_fqi_run")
    sets = {c.split("runs/fqi/")[1].split("_w")[0] for c in fqi}
    assert {f"T{n}_nested" for n in (1, 2, 4, 8)} <= sets and {f"T{n}_random0" for n in (2, 4, 8)} <= sets
    assert all("--iterations 50" in c and "--max-fit-steps none" in c for c in fqi)
    seeds_per_set = {}
    for c in fqi:
        seeds_per_set.setdefault(c.split("runs/fqi/")[1].split("_w")[0], set()).update(seeds_of(c))
    assert all(len(seeds) >= 24 for seeds in seeds_per_set.values())
    assert max(len(seeds_of(c)) for c in fqi) <= 4  # small batches: each finishes within a session
    # The DDPG budget protocol: the PyBullet pendulum group, MDDPG + one DDPG per task, 8 seeds, 50 x 1,000 steps.
    ddpg = shell_commands(out, "paper_reference_ddpg_run")
    assert len(ddpg) == 4 and all("--group pendulum " in c and "--epochs 50 " in c and "--steps-per-epoch 1000 " in c
                                  and len(seeds_of(c)) == 8 for c in ddpg)
    assert sum("--tasks bullet_inverted_pendulum bullet_inverted_double_pendulum bullet_inverted_pendulum_swingup "
               in c for c in ddpg) == 1
    # Its own results folder.
    for rule in ("paper_reference_dqn_tables", "paper_reference_transfer_figures_dqn", "paper_reference_fqi_figures"):
        assert all("results/paper_reference/" in c and " results/tables" not in c and " results/figures" not in c
                   for c in shell_commands(out, rule)), rule


def test_paper_figures_draws_from_the_shipped_summaries(default_dry_run, workdir):
    (command,) = shell_commands(default_dry_run, "paper_figures")
    assert "--ours analysis/reference/ours" in command and "mtrl-bench run" not in command
    # Without shipped summaries: one line that says what to do.
    done = snakemake(workdir, "-n", "--cores", "1", "paper_figures", "--config", "paper_reference={shipped: absent}")
    assert done.returncode != 0
    assert "paper_figures: no shipped paper-protocol summaries (*.csv) in absent/" in done.stdout + done.stderr


BAD_CONFIGS = [
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
    ({"paper_reference": {"shipped": 3}}, "shipped"),
]


@cache
def parse_errors(root: str) -> tuple[str, ...]:
    """The error of parsing the workflow under each of BAD_CONFIGS (and last, the default config: "")."""
    workdir = copy_workflow(Path(root))
    runs = []
    for i, (override, _) in enumerate(BAD_CONFIGS):
        (workdir / f"bad{i}.yaml").write_text(yaml.safe_dump(override))
        runs.append(["workflow/config/default.yaml", f"bad{i}.yaml"])
    runs.append(["workflow/config/default.yaml"])
    done = subprocess.run([sys.executable, str(REPO / "tests" / "workflow_parse.py"), str(workdir)],
                          input=json.dumps(runs), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return tuple(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("index", range(len(BAD_CONFIGS)))
def test_bad_configs_are_refused_naming_the_key(tmp_path_factory, index):
    errors = parse_errors(str(tmp_path_factory.getbasetemp() / "bad_configs"))
    assert errors[-1] == "", f"the default config itself fails to parse: {errors[-1][-2000:]}"
    message = BAD_CONFIGS[index][1]
    assert errors[index], "the workflow accepted the bad config"
    assert message in errors[index], errors[index][-2000:]


def test_nested_override_on_the_command_line_is_read_as_yaml(workdir):
    # Snakemake delivers nested --config values as strings; the workflow reads them as YAML scalars.
    out = output_of(snakemake(workdir, "-n", "-p", "--cores", "1", "--config",
                              "fqi={sweep: {shared_width: [12]}, params: {learning_rate: 3e-3}}"))
    assert "T1_nested_w12_s0-4.csv" in out and "T1_nested_w30_" not in out
    assert "--learning-rate 0.003" in out


@pytest.mark.parametrize("configfile", ["default", "paper", "test_tiny"])
def test_mtrl_bench_run_reads_a_whole_workflow_config(configfile):
    # `mtrl-bench run <experiment> --config workflow/config/<x>.yaml` takes the experiment's `params`.
    path = str(CONFIGS / f"{configfile}.yaml")
    sections = yaml.safe_load(Path(path).read_text())
    for name in EXPERIMENTS:
        params = config_file_params(path, name)
        section = sections.get(name) or sections.get(f"ablation_{name}") or {}
        assert params == section.get("params", {}), name
        cfg.build(experiment_module(name).Config, params, where=name)


def test_mtrl_bench_run_with_the_default_workflow_config_runs(tmp_path):
    from mtrl_bench.cli import main
    from mtrl_bench.results import read_results

    out = tmp_path / "testbed.csv"
    assert main(["run", "testbed", "--config", str(CONFIGS / "default.yaml"), "--epochs", "2", "--task-counts", "1",
                 "--n-samples", "5", "--out", str(out)]) == 0
    rows, prov = read_results(out)
    assert prov["config"]["noise_std"] == 0.1 and prov["config"]["epochs"] == 2 and len(rows) > 0


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
