# Multi-task FQI on the Car-On-Hill family (the paper's Sec. 5.1): exact Q* per variant, one run per
# task set x sweep point x seed batch, then the all-runs table, figures, tables and the AVI bound.
from mtrl_bench.experiments.planning import fqi_gamma, fqi_task_sets

if enabled("fqi"):
    FQI = config["fqi"]
    FQI_SETS = fqi_task_sets(FQI)
    FQI_POINTS = sweep_points(FQI)
    FQI_RUNS = run_files(f"{R}/runs/fqi", FQI_SETS, FQI_POINTS, seed_batches(FQI))
    FQI_MERGE = FQI.get("qstar_merge_resolution")
    FQI_BOUND = FQI.get("bound", {})
    FQI_GAMMA = fqi_gamma(FQI)
    check_jobs("fqi", grid(FQI_POINTS, [{"variants": variants} for variants in FQI_SETS.values()]))

    rule qstar:
        output:
            f"{R}/data/qstar/{{variant}}.csv",
        log:
            f"{R}/logs/qstar/{{variant}}.log",
        params:
            merge=f"--merge-resolution {FQI_MERGE[0]} {FQI_MERGE[1]}" if FQI_MERGE else "",
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        shell:
            "mtrl-bench qstar --variant {wildcards.variant} {params.merge} --out {output} > {log} 2>&1"

    rule fqi_run:
        input:
            lambda wc: [f"{R}/data/qstar/{v}.csv" for v in FQI_SETS[wc.task_set]],
        output:
            f"{R}/runs/fqi/{{task_set}}_{{point}}_s{{seeds}}.csv",
        log:
            f"{R}/logs/fqi/{{task_set}}_{{point}}_s{{seeds}}.log",
        wildcard_constraints:
            point=one_of(FQI_POINTS),
            task_set=r"T\d+_[a-z]+\d*",
            seeds=r"\d+-\d+",
        params:
            args=lambda wc: run_args("fqi", FQI, FQI_POINTS[wc.point], variants=FQI_SETS[wc.task_set],
                                     qstar_dir=f"{R}/data/qstar", data_dir=f"{R}/data/datasets"),
            seeds=lambda wc: seed_list(wc.seeds),
            device=DEVICE,
        threads: THREADS
        resources:
            **{**job_resources(FQI), "runtime": lambda wc: runtime_of_task_set(FQI, wc.task_set)},
        shell:
            "mtrl-bench run fqi {params.args} --seeds {params.seeds} --device {params.device} --threads {threads} "
            "--out {output} > {log} 2>&1"

    rule fqi_aggregate:
        input:
            FQI_RUNS,
        output:
            f"{TAB}/all_runs_fqi.csv",
        log:
            f"{R}/logs/analysis/fqi_aggregate.log",
        shell:
            "python -m analysis.aggregate --runs {input} --out {output} > {log} 2>&1"

    rule fqi_figures:
        input:
            rules.fqi_aggregate.output,
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
        params:
            boot=BOOT,
            figures=FIG,
        shell:
            "python -m analysis.fqi_figures --runs {input} --outdir {params.figures} {params.boot} > {log} 2>&1"

    rule fqi_tables:
        input:
            rules.fqi_aggregate.output,
        output:
            report(f"{TAB}/fit.csv", category="Multi-task FQI", caption="../report/fit_table.rst"),
            report(f"{TAB}/final_error.csv", category="Multi-task FQI", caption="../report/final_error_table.rst"),
            f"{TAB}/fit.md",
            f"{TAB}/fit.tex",
            f"{TAB}/final_error.md",
            f"{TAB}/final_error.tex",
            report(f"{TAB}/fqi_vs_published.csv", category="Multi-task FQI",
                   caption="../report/fqi_vs_published.rst"),
            f"{TAB}/fqi_vs_published.md",
            f"{TAB}/fqi_vs_published.tex",
        log:
            f"{R}/logs/analysis/fqi_tables.log",
        params:
            boot=BOOT,
            tables=TAB,
        shell:
            "python -m analysis.fqi_tables --runs {input} --outdir {params.tables} {params.boot} > {log} 2>&1"

    rule fqi_bound_table:
        input:
            FQI_RUNS,
        output:
            report(f"{TAB}/fqi_bound.csv", category="Theory", caption="../report/fqi_bound.rst"),
            f"{TAB}/fqi_bound.md",
            f"{TAB}/fqi_bound.tex",
        log:
            f"{R}/logs/analysis/fqi_bound_table.log",
        params:
            bound=f"--concentrability {FQI_BOUND.get('concentrability', 1.0)} --gamma {FQI_GAMMA} "
                  f"--rmax {FQI_BOUND.get('rmax', 1.0)}",
            boot=BOOT,
            tables=TAB,
        shell:
            "python -m analysis.theory_tables fqi-bound --runs {input} --outdir {params.tables} {params.boot} "
            "{params.bound} "
            "> {log} 2>&1"

    rule fqi_bound_figure:
        input:
            FQI_RUNS,
        output:
            report(f"{FIG}/fqi_avi_bound_vs_T.png", category="Theory", caption="../report/fqi_bound.rst"),
            f"{FIG}/fqi_avi_bound_vs_T.pdf",
        log:
            f"{R}/logs/analysis/fqi_bound_figure.log",
        params:
            bound=f"--concentrability {FQI_BOUND.get('concentrability', 1.0)} --gamma {FQI_GAMMA} "
                  f"--rmax {FQI_BOUND.get('rmax', 1.0)}",
            boot=BOOT,
            figures=FIG,
        shell:
            "python -m analysis.theory_figures fqi-bound --runs {input} --outdir {params.figures} {params.boot} "
            "{params.bound} "
            "> {log} 2>&1"

    add_targets("fqi", FQI_RUNS + rules.fqi_figures.output + rules.fqi_tables.output
                + rules.fqi_bound_table.output + rules.fqi_bound_figure.output)
