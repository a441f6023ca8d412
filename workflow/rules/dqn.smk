# Multi-task DQN against single-task DQN on the five discrete-action tasks (the paper's Sec. 5.2):
# MDQN on all tasks and one DQN per task, over shared widths and seed batches, then the figure and table.
DQN = config["dqn"]
# One job kind per algorithm: "mdqn" trains all tasks together, "dqn_<task>" one task alone.
DQN_TASK_SETS = {"mdqn": list(DQN["tasks"]), **{f"dqn_{task}": [task] for task in DQN["tasks"]}}
DQN_RUNS = expand(f"{R}/runs/dqn/{{algo}}_w{{width}}_s{{seeds}}.csv", algo=sorted(DQN_TASK_SETS),
                  width=DQN["widths"], seeds=seed_batches(DQN))


rule dqn_run:
    output:
        f"{R}/runs/dqn/{{algo}}_w{{width}}_s{{seeds}}.csv",
    log:
        f"{R}/logs/dqn/{{algo}}_w{{width}}_s{{seeds}}.log",
    wildcard_constraints:
        algo=r"mdqn|dqn_\w+",
        width=r"\d+",
        seeds=r"\d+-\d+",
    params:
        tasks=lambda wc: " ".join(DQN_TASK_SETS[wc.algo]),
        seeds=lambda wc: seed_list(wc.seeds),
        double="--double" if DQN.get("double", False) else "",
    threads: THREADS
    resources:
        **job_resources(DQN),
    shell:
        "mtrl-bench run dqn --tasks {params.tasks} --width {wildcards.width} --input-width {DQN[input_width]} "
        "--seeds {params.seeds} --epochs {DQN[epochs]} --steps-per-epoch {DQN[steps_per_epoch]} "
        "--test-steps {DQN[test_steps]} --replay-capacity {DQN[replay_capacity]} "
        "--learning-starts {DQN[learning_starts]} --batch-size {DQN[batch_size]} "
        "--learning-rate {DQN[learning_rate]} --target-update {DQN[target_update]} "
        "--epsilon-decay-steps {DQN[epsilon_decay_steps]} {params.double} "
        "--device {DEVICE} --threads {threads} --out {output} > {log} 2>&1"


rule aggregate_dqn:
    input:
        DQN_RUNS,
    output:
        f"{TAB}/all_runs_dqn.csv",
    log:
        f"{R}/logs/analysis/aggregate_dqn.log",
    shell:
        "python -m analysis.aggregate --out {output} {input} > {log} 2>&1"


rule dqn_figures:
    input:
        rules.aggregate_dqn.output,
    output:
        report(f"{FIG}/dqn_return_discounted_per_epoch.png", category="Multi-task DQN",
               caption="../report/dqn_returns.rst"),
        f"{FIG}/dqn_return_discounted_per_epoch.pdf",
    log:
        f"{R}/logs/analysis/dqn_figures.log",
    shell:
        "python -m analysis.dqn_figures --outdir {FIG} --metric return_discounted {BOOT} {input} > {log} 2>&1"


rule dqn_tables:
    input:
        rules.aggregate_dqn.output,
    output:
        report(f"{TAB}/dqn_summary.csv", category="Multi-task DQN", caption="../report/dqn_summary.rst"),
        f"{TAB}/dqn_summary.md",
        f"{TAB}/dqn_summary.tex",
    log:
        f"{R}/logs/analysis/dqn_tables.log",
    params:
        final_epochs=DQN.get("final_epochs", 10),
    shell:
        "python -m analysis.dqn_tables --outdir {TAB} --final-epochs {params.final_epochs} {BOOT} {input} "
        "> {log} 2>&1"


DQN_ANALYSIS_OUTPUTS = [f"{FIG}/dqn_return_discounted_per_epoch.{ext}" for ext in ("pdf", "png")] + [
    f"{TAB}/dqn_summary.{ext}" for ext in ("csv", "md", "tex")]
