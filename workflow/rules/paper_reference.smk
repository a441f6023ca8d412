# The paper-protocol reference run and the figures drawn from its shipped results (neither is part of `all`):
#   snakemake --cores all paper_reference   MDQN vs DQN, the DQN transfer to Acrobot and the FQI T sweep at the
#                                           paper's protocol (workflow/config/paper_reference.yaml)
#   snakemake --cores all paper_figures     the paper-config figures from the shipped summaries, no training
# paper_reference runs this workflow's own rules a second time, as a Snakemake module whose config is
# default.yaml, paper.yaml and paper_reference.yaml read in that order (its rules are named paper_reference_*,
# its files live under its own results_dir). Config section (default.yaml):
#   paper_reference:
#     config: workflow/config/paper_reference.yaml   # the reference run's config, read over the two below
#     base: [workflow/config/default.yaml, workflow/config/paper.yaml]
#     shipped: analysis/reference/ours               # the shipped per-seed summaries paper_figures draws
import glob

import yaml


def layered_config(paths):
    """The config read from ``paths`` in order, each file deep-merged over the ones before (as Snakemake
    merges repeated --configfile)."""
    merged = {}
    for path in paths:
        with open(path) as handle:
            merged = hyper.merge(merged, yaml.safe_load(handle) or {})
    return merged


if enabled("paper_reference"):
    PAPER_REF = config["paper_reference"]
    PAPER_REF_CONFIG = layered_config([*PAPER_REF["base"], PAPER_REF["config"]])

    module paper_reference_workflow:
        snakefile:
            "../Snakefile"
        config:
            PAPER_REF_CONFIG

    use rule * from paper_reference_workflow as paper_reference_*

    rule paper_reference:
        input:
            rules.paper_reference_all.input,

    PAPER_SHIPPED = PAPER_REF["shipped"]
    PAPER_FIGURES = f"{R}/paper_figures"

    def shipped_summaries(wildcards):
        """The shipped summaries of the reference run; one clear line when there are none."""
        files = sorted(glob.glob(f"{PAPER_SHIPPED}/*.csv"))
        if not files:
            raise ValueError(f"paper_figures: no shipped paper-protocol summaries (*.csv) in {PAPER_SHIPPED}/: "
                             f"run `snakemake --cores all paper_reference` and ship its results there first")
        return files

    rule paper_figures:
        input:
            shipped_summaries,
        output:
            directory(PAPER_FIGURES),
        log:
            f"{R}/logs/analysis/paper_figures.log",
        params:
            shipped=PAPER_SHIPPED,
            boot=BOOT,
        shell:
            "python -m analysis.paper_figures --ours {params.shipped} --outdir {output} {params.boot} > {log} 2>&1"
