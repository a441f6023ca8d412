"""Parse the workflow under many configs in one process, through the Snakemake API (used by test_workflow.py).

    python tests/workflow_parse.py WORKDIR < runs.json

stdin: a JSON list of runs, each a list of config files (relative to WORKDIR) read in order. Prints one
JSON line: per run, "" when the workflow parsed and its job graph was built, else the error with its
traceback (the message names the bad key). One process instead of one Snakemake start per config.
"""

import json
import os
import sys
import traceback
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.enums import Quietness
from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings


def parse(workdir: Path, configfiles: list[str]) -> str:
    """"" when the workflow in ``workdir`` parses and builds its DAG under ``configfiles``, else the error."""
    cwd = os.getcwd()
    try:
        with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
            workflow = api.workflow(resource_settings=ResourceSettings(cores=1),
                                    config_settings=ConfigSettings(configfiles=[workdir / c for c in configfiles]),
                                    snakefile=workdir / "workflow" / "Snakefile", workdir=workdir)
            workflow.dag(DAGSettings())
        return ""
    except Exception as err:  # noqa: BLE001 - every error is the answer
        return "".join(traceback.format_exception(err)) or repr(err)
    finally:
        os.chdir(cwd)


if __name__ == "__main__":
    root = Path(sys.argv[1]).resolve()
    print(json.dumps([parse(root, run) for run in json.loads(sys.stdin.read())]))
