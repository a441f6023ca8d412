# mtrl-bench workflow: config -> sweep -> runs -> tidy tables -> fits and bounds -> figures and tables.
# `snakemake --cores all` runs the default sweep (workflow/config/default.yaml);
# `--configfile workflow/config/paper.yaml` selects the paper's settings. See README.md.
from snakemake.utils import min_version

min_version("8.0")


configfile: "workflow/config/default.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/fqi.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/dqn.smk"


rule all:
    input:
        FQI_RUNS,
        ANALYSIS_OUTPUTS,
        THEORY_OUTPUTS,
        DQN_RUNS,
        DQN_ANALYSIS_OUTPUTS,
    default_target: True
