# The theory in the workflow: the synthetic testbed (excess risk vs T against the evaluated
# Theorem 3 terms) and the AVI bound (Theorem 2) evaluated on the MFQI runs' measured approx_error.
TB = config["testbed"]
TH = config["theory"]
TESTBED_RUNS = expand(f"{R}/runs/testbed/{{input_map}}_w{{width}}.csv", input_map=TB["input_maps"],
                      width=TB["widths"])


# One job per (input map, width): all T values and seeds of a width train as one batch.
rule testbed_run:
    output:
        f"{R}/runs/testbed/{{input_map}}_w{{width}}.csv",
    log:
        f"{R}/logs/testbed/{{input_map}}_w{{width}}.log",
    wildcard_constraints:
        input_map="task|shared",
        width=r"\d+",
    params:
        n_tasks=" ".join(str(t) for t in TB["n_tasks"]),
        seeds=" ".join(str(s) for s in range(TB["seeds"]["first"], TB["seeds"]["first"] + TB["seeds"]["count"])),
    threads: THREADS
    resources:
        **job_resources(TB),
    shell:
        "mtrl-bench run testbed --input-map {wildcards.input_map} --width {wildcards.width} "
        "--n-tasks {params.n_tasks} --seeds {params.seeds} --n-samples {TB[n_samples]} "
        "--noise-std {TB[noise_std]} --epochs {TB[epochs]} --device {DEVICE} --threads {threads} "
        "--out {output} > {log} 2>&1"


rule testbed_fit_table:
    input:
        TESTBED_RUNS,
    output:
        report(f"{TAB}/testbed_fit.csv", category="Theory", caption="../report/testbed_fit.rst"),
        f"{TAB}/testbed_fit.md",
    log:
        f"{R}/logs/analysis/testbed_fit.log",
    shell:
        "python -m analysis.theory_tables testbed-fit --runs {input} --n-boot {A[n_boot]} "
        "--csv {output[0]} --markdown {output[1]} > {log} 2>&1"


rule testbed_figure:
    input:
        TESTBED_RUNS,
    output:
        report(f"{FIG}/testbed_excess_risk_vs_T.png", category="Theory", caption="../report/testbed.rst"),
        f"{FIG}/testbed_excess_risk_vs_T.pdf",
    log:
        f"{R}/logs/analysis/testbed_figure.log",
    shell:
        "python -m analysis.theory_figures testbed --runs {input} --n-boot {A[n_boot]} --outdir {FIG} > {log} 2>&1"


rule fqi_bound_table:
    input:
        FQI_RUNS,
    output:
        report(f"{TAB}/fqi_bound.csv", category="Theory", caption="../report/fqi_bound.rst"),
        f"{TAB}/fqi_bound.md",
    log:
        f"{R}/logs/analysis/fqi_bound_table.log",
    shell:
        "python -m analysis.theory_tables fqi-bound --runs {input} --concentrability {TH[concentrability]} "
        "--gamma {TH[gamma]} --rmax {TH[rmax]} --csv {output[0]} --markdown {output[1]} > {log} 2>&1"


rule fqi_bound_figure:
    input:
        FQI_RUNS,
    output:
        report(f"{FIG}/fqi_avi_bound_vs_T.png", category="Theory", caption="../report/fqi_bound.rst"),
        f"{FIG}/fqi_avi_bound_vs_T.pdf",
    log:
        f"{R}/logs/analysis/fqi_bound_figure.log",
    shell:
        "python -m analysis.theory_figures fqi-bound --runs {input} --concentrability {TH[concentrability]} "
        "--gamma {TH[gamma]} --rmax {TH[rmax]} --outdir {FIG} > {log} 2>&1"


THEORY_OUTPUTS = (rules.testbed_fit_table.output + rules.testbed_figure.output + rules.fqi_bound_table.output
                  + rules.fqi_bound_figure.output)
