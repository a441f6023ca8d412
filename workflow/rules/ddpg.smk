# Multi-task DDPG against single-task DDPG on continuous-control task groups (the paper's Sec. 5.3 and
# appendix): per group, MDDPG on the group's tasks and one DDPG per task, over sweep points (e.g. the
# shared width) and seed batches, then one figure and two tables over every group.
# The section's `groups` maps a task group (mtrl_bench.tasks.continuous.GROUPS) to the tasks to run,
# [] = all of them, null = not this group; `params` are the fields of mtrl_bench.experiments.ddpg.Config (group and tasks are
# set per job here).
from mtrl_bench.experiments.planning import ddpg_jobs

if enabled("ddpg"):
    DDPG = config["ddpg"]
    # Job kinds: "mddpg_<group>" trains the group's tasks together, "ddpg_<task>" one task alone
    # (task names are unique across groups). A group of one task has no MDDPG job.
    DDPG_JOBS = ddpg_jobs(DDPG)
    DDPG_POINTS = sweep_points(DDPG)
    DDPG_RUNS = run_files(f"{R}/runs/ddpg", DDPG_JOBS, DDPG_POINTS, seed_batches(DDPG))
    check_jobs("ddpg", grid(DDPG_POINTS, DDPG_JOBS.values()))
    # Environment worker processes run beside the learner: a job takes them as extra cores.
    DDPG_CORES = THREADS + experiment_config("ddpg", DDPG, {}, **next(iter(DDPG_JOBS.values())))[2].env_workers

    rule ddpg_run:
        output:
            f"{R}/runs/ddpg/{{algo}}_{{point}}_s{{seeds}}.csv",
        log:
            f"{R}/logs/ddpg/{{algo}}_{{point}}_s{{seeds}}.log",
        wildcard_constraints:
            point=one_of(DDPG_POINTS),
            algo=one_of(DDPG_JOBS),
            seeds=r"\d+-\d+",
        params:
            args=lambda wc: run_args("ddpg", DDPG, DDPG_POINTS[wc.point], **DDPG_JOBS[wc.algo]),
            seeds=lambda wc: seed_list(wc.seeds),
            device=DEVICE,
            threads_per_job=THREADS,
        threads: DDPG_CORES
        resources:
            **job_resources(DDPG),
        shell:
            "mtrl-bench run ddpg {params.args} --seeds {params.seeds} --device {params.device} --threads "
            "{params.threads_per_job} "
            "--out {output} > {log} 2>&1"

    rule ddpg_aggregate:
        input:
            DDPG_RUNS,
        output:
            f"{TAB}/all_runs_ddpg.csv",
        log:
            f"{R}/logs/analysis/ddpg_aggregate.log",
        shell:
            "python -m analysis.aggregate --runs {input} --out {output} > {log} 2>&1"

    rule ddpg_figures:
        input:
            rules.ddpg_aggregate.output,
        output:
            report(f"{FIG}/ddpg_return_discounted_per_epoch.png", category="Multi-task DDPG",
                   caption="../report/ddpg_returns.rst"),
            f"{FIG}/ddpg_return_discounted_per_epoch.pdf",
        log:
            f"{R}/logs/analysis/ddpg_figures.log",
        params:
            boot=BOOT,
            figures=FIG,
        shell:
            "python -m analysis.ddpg_figures --runs {input} --outdir {params.figures} --metric return_discounted "
            "{params.boot} "
            "> {log} 2>&1"

    rule ddpg_tables:
        input:
            rules.ddpg_aggregate.output,
        output:
            report(f"{TAB}/ddpg_summary.csv", category="Multi-task DDPG", caption="../report/ddpg_summary.rst"),
            f"{TAB}/ddpg_summary.md",
            f"{TAB}/ddpg_summary.tex",
            report(f"{TAB}/ddpg_vs_published.csv", category="Multi-task DDPG",
                   caption="../report/ddpg_vs_published.rst"),
            f"{TAB}/ddpg_vs_published.md",
            f"{TAB}/ddpg_vs_published.tex",
        log:
            f"{R}/logs/analysis/ddpg_tables.log",
        params:
            final_epochs=DDPG.get("final_epochs", 10),
            boot=BOOT,
            tables=TAB,
        shell:
            "python -m analysis.ddpg_tables --runs {input} --outdir {params.tables} --final-epochs "
            "{params.final_epochs} "
            "{params.boot} > {log} 2>&1"

    add_targets("ddpg", DDPG_RUNS + rules.ddpg_figures.output + rules.ddpg_tables.output)
