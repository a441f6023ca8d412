# Ablations (beyond the paper): where sharing stops helping. Four studies, each its own
# config section (switched off when absent or `enabled: false`), one job per sweep point and seed
# batch, then the study's tables and figures (python -m analysis.ablation_tables / ablation_figures):
#   ablation_similarity      testbed: multi- vs single-task excess risk against dissimilarity
#   ablation_coh_similarity  Car-On-Hill: MFQI vs FQI final avi_diff against the task set's spread
#   ablation_depth           testbed: error vs T per shared/task-specific layer split, fixed size
#   ablation_imbalance       testbed: small task (rho n samples) and the others against rho
# `snakemake ablations` builds every enabled study.
ABLATION_STUDIES = {  # section -> (experiment, tables/figures sub-command, table stems, figure stems)
    "ablation_similarity": ("similarity", "similarity",
                            ["ablation_similarity_gain", "ablation_similarity_breaking", "ablation_similarity_bound"],
                            ["ablation_similarity_gain", "ablation_similarity_theory"]),
    "ablation_coh_similarity": ("coh_similarity", "coh-similarity",
                                ["ablation_coh_similarity_gain", "ablation_coh_similarity_breaking"],
                                ["ablation_coh_similarity_gain"]),
    "ablation_depth": ("depth", "depth", ["ablation_depth", "ablation_depth_fit"], ["ablation_depth_vs_T"]),
    "ablation_imbalance": ("imbalance", "imbalance", ["ablation_imbalance"], ["ablation_imbalance"]),
}
ABLATION_CAPTIONS = {"ablation_similarity_gain": "ablation_similarity.rst",
                     "ablation_similarity_theory": "ablation_similarity_theory.rst",
                     "ablation_coh_similarity_gain": "ablation_coh_similarity.rst",
                     "ablation_depth_vs_T": "ablation_depth.rst", "ablation_imbalance": "ablation_imbalance.rst"}
ABLATION = {}  # section -> {"points": ..., "runs": [...], "fixed": {...}}
ABLATION_OUTPUTS = []


def ablation_fixed(experiment):
    """Fields every job of a study gets from the workflow (cache folders of the Car-On-Hill study)."""
    if experiment == "coh_similarity":
        return {"data_dir": f"{R}/data/datasets", "qstar_dir": f"{R}/data/qstar_ablation"}
    return {}


for _section, (_experiment, _command, _tables, _figures) in ABLATION_STUDIES.items():
    if not enabled(_section):
        continue
    # A study without a `sweep` has one job per seed batch, named "default".
    _points = {label or "default": point for label, point in sweep_points(config[_section]).items()}
    check_jobs(_experiment, grid(_points, [ablation_fixed(_experiment)]), section=config[_section])
    ABLATION[_section] = {
        "experiment": _experiment, "command": _command, "points": _points,
        "runs": expand(f"{R}/runs/{_section}/{{point}}_s{{seeds}}.csv", point=sorted(_points),
                       seeds=seed_batches(config[_section])),
        "tables": [f"{TAB}/{stem}.{ext}" for stem in _tables for ext in ("csv", "md", "tex")],
        "figures": [f"{FIG}/{stem}.{ext}" for stem in _figures for ext in ("png", "pdf")],
    }


def ablation_point(section, point):
    """Sweep point (dict) of one of a study's jobs."""
    return ABLATION[section]["points"][point]


if ABLATION:
    rule ablation_run:
        output:
            f"{R}/runs/{{section}}/{{point}}_s{{seeds}}.csv",
        log:
            f"{R}/logs/{{section}}/{{point}}_s{{seeds}}.log",
        wildcard_constraints:
            section=one_of(ABLATION),
            point=one_of({p for study in ABLATION.values() for p in study["points"]}),
            seeds=r"\d+-\d+",
        params:
            experiment=lambda wc: ABLATION[wc.section]["experiment"],
            args=lambda wc: run_args(ABLATION[wc.section]["experiment"], config[wc.section],
                                     ablation_point(wc.section, wc.point),
                                     **ablation_fixed(ABLATION[wc.section]["experiment"])),
            seeds=lambda wc: seed_list(wc.seeds),
            device=DEVICE,
        threads: THREADS
        resources:  # the section's `resources` (mem_mb, runtime in minutes), a GPU when the device is cuda
            mem_mb=lambda wc: config[wc.section].get("resources", {}).get("mem_mb", 2000),
            runtime=lambda wc: config[wc.section].get("resources", {}).get("runtime", 30),
            **({"gpu": 1} if ON_GPU else {}),
        shell:
            "mtrl-bench run {params.experiment} {params.args} --seeds {params.seeds} --device {params.device} "
            "--threads {threads} --out {output} > {log} 2>&1"

    for _section, _study in ABLATION.items():
        rule:
            name:
                f"{_section}_tables"
            input:
                _study["runs"],
            output:
                [report(path, category="Ablations", caption="../report/ablation_tables.rst")
                 if path.endswith(".csv") else path for path in _study["tables"]],
            log:
                f"{R}/logs/analysis/{_section}_tables.log",
            params:
                command=_study["command"],
                boot=BOOT,
                tables=TAB,
            shell:
                "python -m analysis.ablation_tables {params.command} --runs {input} --outdir {params.tables} "
                "{params.boot} > {log} 2>&1"

        rule:
            name:
                f"{_section}_figures"
            input:
                _study["runs"],
            output:
                [report(path, category="Ablations",
                        caption="../report/" + ABLATION_CAPTIONS[os.path.basename(path)[:-4]])
                 if path.endswith(".png") else path for path in _study["figures"]],
            log:
                f"{R}/logs/analysis/{_section}_figures.log",
            params:
                command=_study["command"],
                boot=BOOT,
                figures=FIG,
            shell:
                "python -m analysis.ablation_figures {params.command} --runs {input} --outdir {params.figures} "
                "{params.boot} "
                "> {log} 2>&1"

        ABLATION_OUTPUTS += _study["runs"] + _study["tables"] + _study["figures"]
        add_targets(_section, _study["runs"] + _study["tables"] + _study["figures"])

rule ablations:
    input:
        ABLATION_OUTPUTS,
