# Multi-task DQN against single-task DQN on the five discrete-action tasks (the paper's Sec. 5.2):
# MDQN on all tasks and one DQN per task, over sweep points and seed batches, then figure and table.
from mtrl_bench.experiments.planning import dqn_jobs

if enabled("dqn"):
    DQN = config["dqn"]
    # One job kind per algorithm: "mdqn" trains all tasks together, "dqn_<task>" one task alone.
    DQN_TASK_SETS = dqn_jobs(DQN)
    DQN_POINTS = sweep_points(DQN)
    DQN_RUNS = run_files(f"{R}/runs/dqn", DQN_TASK_SETS, DQN_POINTS, seed_batches(DQN))
    check_jobs("dqn", grid(DQN_POINTS, [{"tasks": tasks} for tasks in DQN_TASK_SETS.values()]))

    rule dqn_run:
        output:
            f"{R}/runs/dqn/{{algo}}_{{point}}_s{{seeds}}.csv",
        log:
            f"{R}/logs/dqn/{{algo}}_{{point}}_s{{seeds}}.log",
        wildcard_constraints:
            point=one_of(DQN_POINTS),
            algo=r"mdqn|dqn_[a-z_]+?",
            seeds=r"\d+-\d+",
        params:
            args=lambda wc: run_args("dqn", DQN, DQN_POINTS[wc.point], tasks=DQN_TASK_SETS[wc.algo]),
            seeds=lambda wc: seed_list(wc.seeds),
            device=DEVICE,
        threads: THREADS
        resources:
            **job_resources(DQN),
        shell:
            "mtrl-bench run dqn {params.args} --seeds {params.seeds} --device {params.device} --threads {threads} "
            "--out {output} > {log} 2>&1"

    rule dqn_aggregate:
        input:
            DQN_RUNS,
        output:
            f"{TAB}/all_runs_dqn.csv",
        log:
            f"{R}/logs/analysis/dqn_aggregate.log",
        shell:
            "python -m analysis.aggregate --runs {input} --out {output} > {log} 2>&1"

    rule dqn_figures:
        input:
            rules.dqn_aggregate.output,
        output:
            report(f"{FIG}/dqn_return_discounted_per_epoch.png", category="Multi-task DQN",
                   caption="../report/dqn_returns.rst"),
            f"{FIG}/dqn_return_discounted_per_epoch.pdf",
        log:
            f"{R}/logs/analysis/dqn_figures.log",
        params:
            boot=BOOT,
            figures=FIG,
        shell:
            "python -m analysis.dqn_figures --runs {input} --outdir {params.figures} --metric return_discounted "
            "{params.boot} "
            "> {log} 2>&1"

    rule dqn_tables:
        input:
            rules.dqn_aggregate.output,
        output:
            report(f"{TAB}/dqn_summary.csv", category="Multi-task DQN", caption="../report/dqn_summary.rst"),
            f"{TAB}/dqn_summary.md",
            f"{TAB}/dqn_summary.tex",
            report(f"{TAB}/dqn_vs_published.csv", category="Multi-task DQN",
                   caption="../report/dqn_vs_published.rst"),
            f"{TAB}/dqn_vs_published.md",
            f"{TAB}/dqn_vs_published.tex",
        log:
            f"{R}/logs/analysis/dqn_tables.log",
        params:
            final_epochs=DQN.get("final_epochs", 10),
            boot=BOOT,
            tables=TAB,
        shell:
            "python -m analysis.dqn_tables --runs {input} --outdir {params.tables} --final-epochs "
            "{params.final_epochs} "
            "{params.boot} > {log} 2>&1"

    add_targets("dqn", DQN_RUNS + rules.dqn_figures.output + rules.dqn_tables.output)
