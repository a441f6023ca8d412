# The synthetic testbed (beyond the paper): excess risk vs T against the evaluated Theorem 3 terms.
# One job per sweep point (input map x width) and seed batch: all task counts train as one batch.
if enabled("testbed"):
    TB = config["testbed"]
    TB_POINTS = sweep_points(TB)
    TESTBED_RUNS = expand(f"{R}/runs/testbed/{{point}}_s{{seeds}}.csv", point=sorted(TB_POINTS),
                          seeds=seed_batches(TB))
    check_jobs("testbed", grid(TB_POINTS))

    rule testbed_run:
        output:
            f"{R}/runs/testbed/{{point}}_s{{seeds}}.csv",
        log:
            f"{R}/logs/testbed/{{point}}_s{{seeds}}.log",
        wildcard_constraints:
            point=one_of(TB_POINTS),
            seeds=r"\d+-\d+",
        params:
            args=lambda wc: run_args("testbed", TB, TB_POINTS[wc.point]),
            seeds=lambda wc: seed_list(wc.seeds),
            device=DEVICE,
        threads: THREADS
        resources:
            **job_resources(TB),
        shell:
            "mtrl-bench run testbed {params.args} --seeds {params.seeds} --device {params.device} --threads {threads} "
            "--out {output} > {log} 2>&1"

    rule testbed_fit_table:
        input:
            TESTBED_RUNS,
        output:
            report(f"{TAB}/testbed_fit.csv", category="Theory", caption="../report/testbed_fit.rst"),
            f"{TAB}/testbed_fit.md",
            f"{TAB}/testbed_fit.tex",
        log:
            f"{R}/logs/analysis/testbed_fit.log",
        params:
            boot=BOOT,
            tables=TAB,
        shell:
            "python -m analysis.theory_tables testbed-fit --runs {input} --outdir {params.tables} {params.boot} > "
            "{log} 2>&1"

    rule testbed_figure:
        input:
            TESTBED_RUNS,
        output:
            report(f"{FIG}/testbed_excess_risk_vs_T.png", category="Theory", caption="../report/testbed.rst"),
            f"{FIG}/testbed_excess_risk_vs_T.pdf",
        log:
            f"{R}/logs/analysis/testbed_figure.log",
        params:
            boot=BOOT,
            figures=FIG,
        shell:
            "python -m analysis.theory_figures testbed --runs {input} --outdir {params.figures} {params.boot} > {log} "
            "2>&1"

    add_targets("testbed", TESTBED_RUNS + rules.testbed_fit_table.output + rules.testbed_figure.output)
