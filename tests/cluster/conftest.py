"""The local-SLURM test runs only on request: ``pytest --runslurm`` or ``MTRL_RUN_SLURM=1``.

It installs Debian's slurm-wlm and munge when absent (root and apt needed) and starts their daemons,
so it is never part of the default suite.
"""

import os

import pytest


def pytest_addoption(parser):
    # The root tests/conftest.py declares --runslurm as well (pytest reads options only from the
    # conftests it meets at start-up); whichever comes second is skipped here.
    try:
        parser.addoption("--runslurm", action="store_true", default=False,
                         help="run the local-SLURM test (installs and starts slurm-wlm and munge)")
    except ValueError:
        pass


def slurm_requested(config) -> bool:
    try:
        flag = bool(config.getoption("--runslurm"))
    except ValueError:
        flag = False
    return flag or os.environ.get("MTRL_RUN_SLURM") == "1"


def pytest_collection_modifyitems(config, items):
    if slurm_requested(config):
        return
    skip = pytest.mark.skip(
        reason="local SLURM: installs and starts slurm-wlm/munge; pass --runslurm or set MTRL_RUN_SLURM=1"
    )
    for item in items:
        if "slurm" in item.keywords:
            item.add_marker(skip)
