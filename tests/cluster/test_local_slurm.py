"""The SLURM profile: static checks (always) and a real run on a one-node SLURM (marker ``slurm``).

The real run is tests/cluster/run_local_slurm.sh: it installs slurm-wlm and munge when absent,
starts munged/slurmctld/slurmd from a scratch folder, runs the tiny sweep through
``snakemake --profile workflow/profiles/slurm``, checks that SLURM ran every job, compares the
results with a local run and stops the daemons. Run it with ``pytest --runslurm tests/cluster`` or
``MTRL_RUN_SLURM=1 pytest tests/cluster``.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
SCRIPT = Path(__file__).with_name("run_local_slurm.sh")


@pytest.fixture(scope="module")
def profile() -> dict:
    return yaml.safe_load(PROFILE.read_text())


def workflow_rule_names() -> set[str]:
    """Rule names of the workflow, its rule drafts (*.smk.draft) and the mini stand-in workflow."""
    files = [REPO / "workflow" / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk*")),
             Path(__file__).with_name("mini") / "Snakefile"]
    names: set[str] = set()
    for f in files:
        if f.is_file():
            names |= set(re.findall(r"^\s*rule\s+(\w+)\s*:", f.read_text(), flags=re.M))
    return names


def test_profile_uses_the_slurm_plugin_with_bounded_retried_jobs(profile):
    assert profile["executor"] == "slurm"
    assert 1 <= int(profile["jobs"]) <= 1000
    assert int(profile["retries"]) == 1
    res = profile["default-resources"]
    for key in ("runtime", "mem_mb", "cpus_per_task"):
        assert key in res, f"default-resources lacks {key}"


def test_profile_slurm_extra_has_no_option_the_plugin_refuses(profile):
    validation = pytest.importorskip("snakemake_executor_plugin_slurm.validation")
    forbidden = validation.get_forbidden_slurm_options()
    extras = [profile.get("default-resources", {}).get("slurm_extra", "")]
    for rule_res in (profile.get("set-resources") or {}).values():
        extras.append(rule_res.get("slurm_extra", ""))
    for extra in filter(None, extras):
        for pattern, name in forbidden.items():
            assert not re.search(pattern, str(extra)), f"slurm_extra sets {name}: {extra!r}"


def test_profile_groups_name_rules_of_the_workflow(profile):
    if not (REPO / "workflow" / "Snakefile").is_file():
        pytest.skip("no Snakefile yet")
    names = workflow_rule_names()
    groups = profile.get("groups") or {}
    assert groups, "the profile groups no rule: many short jobs would flood the scheduler"
    unknown = sorted(set(groups) - names)
    assert not unknown, f"profile groups name rules the workflow lacks: {unknown}"
    for group in set(groups.values()):
        assert int(profile["group-components"][group]) >= 2
    assert "fqi_run" in groups, "the per-run FQI rule is not grouped"


@pytest.mark.slurm
@pytest.mark.timeout(2400)
def test_tiny_sweep_on_a_local_slurm_matches_a_local_run():
    limit = int(os.environ.get("MTRL_SLURM_TIME_LIMIT", "1800"))
    env = dict(os.environ, MTRL_SLURM_TIME_LIMIT=str(limit))
    proc = subprocess.run(
        ["bash", str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True, timeout=limit + 120
    )
    output = proc.stdout + proc.stderr
    if proc.returncode == 77:
        pytest.skip("local SLURM cannot run here: " + output.strip().splitlines()[-1])
    assert proc.returncode == 0, f"run_local_slurm.sh exited {proc.returncode}:\n{output[-6000:]}"
    assert "all checks passed" in output
