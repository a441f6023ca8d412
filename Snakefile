# mtrl-bench workflow: config -> sweep -> runs -> tidy tables -> fits and bounds -> figures and tables.
# `snakemake --cores all` runs the default sweep (workflow/config/default.yaml);
# `--configfile workflow/config/paper.yaml` selects the paper's settings. See README.md.
from snakemake.utils import min_version

min_version("8.0")


configfile: "workflow/config/default.yaml"


include: "workflow/rules/common.smk"
# Experiment rule files use only common.smk and can be included in any order.
include: "workflow/rules/fqi.smk"
include: "workflow/rules/dqn.smk"
include: "workflow/rules/ddpg.smk"
include: "workflow/rules/transfer.smk"
include: "workflow/rules/testbed.smk"
include: "workflow/rules/ablations.smk"


rule all:
    input:
        final_targets(),
    default_target: True


# Not part of the default target: `snakemake fidelity` (MFQI at the paper's settings beside the published curve).
include: "workflow/rules/fidelity.smk"
