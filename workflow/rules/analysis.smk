# From per-job result files to one table, fits, figures and tables (the analysis never trains).
A = config["analysis"]
BOOT = f"--n-boot {A['n_boot']} --seed {A['seed']} --ci {A['ci']}"
FIG = f"{R}/figures"
TAB = f"{R}/tables"
FQI_FIGURES = [f"{FIG}/fqi_{stem}.{ext}" for stem in ("avi_diff_per_iteration", "final_error_vs_T",
                                                         "J_per_iteration") for ext in ("pdf", "png")]
FQI_TABLES = [f"{TAB}/{stem}.{ext}" for stem in ("fit", "final_error") for ext in ("csv", "md", "tex")]


rule aggregate_fqi:
    input:
        FQI_RUNS,
    output:
        f"{TAB}/all_runs_fqi.csv",
    log:
        f"{R}/logs/analysis/aggregate_fqi.log",
    shell:
        "python -m analysis.aggregate --out {output} {input} > {log} 2>&1"


rule fqi_figures:
    input:
        rules.aggregate_fqi.output,
    output:
        report(f"{FIG}/fqi_avi_diff_per_iteration.png", category="Multi-task FQI",
               caption="../report/fqi_avi_diff.rst"),
        report(f"{FIG}/fqi_final_error_vs_T.png", category="Multi-task FQI",
               caption="../report/fqi_final_error.rst"),
        report(f"{FIG}/fqi_J_per_iteration.png", category="Multi-task FQI", caption="../report/fqi_J.rst"),
        f"{FIG}/fqi_avi_diff_per_iteration.pdf",
        f"{FIG}/fqi_final_error_vs_T.pdf",
        f"{FIG}/fqi_J_per_iteration.pdf",
    log:
        f"{R}/logs/analysis/fqi_figures.log",
    shell:
        "python -m analysis.figures --runs {input} --outdir {FIG} --experiment fqi {BOOT} > {log} 2>&1"


rule fqi_tables:
    input:
        rules.aggregate_fqi.output,
    output:
        report(f"{TAB}/fit.csv", category="Multi-task FQI", caption="../report/fit_table.rst"),
        report(f"{TAB}/final_error.csv", category="Multi-task FQI", caption="../report/final_error_table.rst"),
        f"{TAB}/fit.md",
        f"{TAB}/fit.tex",
        f"{TAB}/final_error.md",
        f"{TAB}/final_error.tex",
    log:
        f"{R}/logs/analysis/fqi_tables.log",
    shell:
        "python -m analysis.tables --runs {input} --outdir {TAB} --experiment fqi {BOOT} > {log} 2>&1"


ANALYSIS_OUTPUTS = FQI_FIGURES + FQI_TABLES
