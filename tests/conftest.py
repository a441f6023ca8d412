"""Shared test settings: single-threaded torch (faster for small nets on 2 cores)."""

import os

import pytest
import torch
from hypothesis import settings

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")
settings.register_profile("ci", deadline=None, max_examples=30, print_blob=True)
settings.load_profile("ci")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")
    # Declared here (the root conftest) because pytest reads options only from the root at start-up;
    # tests/cluster uses it.
    parser.addoption("--runslurm", action="store_true", default=False,
                     help="run the local-SLURM test (installs and starts slurm-wlm and munge)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("MTRL_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: pass --runslow or set MTRL_RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
