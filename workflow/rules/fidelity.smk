# Fidelity of MFQI at the paper's settings: one job per T of the paper's nested task sets
# (width 30, Adam 1e-3, the uncapped patience rule, epsilon-greedy data, every transition in the fit),
# all seeds batched, results rewritten after every iteration; then the table of ours beside the
# published means with CIs and Welch's test. Not part of the default target: `snakemake fidelity`.
from mtrl_bench.tasks.car_on_hill import dynamics as coh


if enabled("fidelity"):
    FID = config["fidelity"]
    FID_T = FID.get("n_tasks", [1, 2])
    FID_DIR = f"{R}/fidelity"
    FID_SEEDS = seed_list(seed_batches(FID)[0])  # all seeds in one job
    FID_DATASET_DIR = f"--dataset-dir {FID['dataset_dir']}" if FID.get("dataset_dir") else ""

    rule fidelity_run:
        input:
            # The exact Q* tables come from fqi.smk's qstar rule when FQI is on; else the job computes them.
            lambda wc: [f"{R}/data/qstar/{p.name}.csv" for p in coh.nested_task_set(int(wc.n))]
            if enabled("fqi") else [],
        output:
            f"{FID_DIR}/fqi_T{{n}}.csv",
        log:
            f"{R}/logs/fidelity/fqi_T{{n}}.log",
        wildcard_constraints:
            n=r"1|2|4|8",
        params:
            iterations=FID.get("iterations", 50),
            kernel=FID.get("fit_kernel", "fused"),
            seeds=FID_SEEDS,
            dataset_dir=FID_DATASET_DIR,
            device=DEVICE,
            fidelity_dir=FID_DIR,
            results=R,
        threads: THREADS
        resources:
            **job_resources(FID),
        shell:
            "python -m mtrl_bench.commands.fidelity fqi --n-tasks {wildcards.n} --seeds {params.seeds} "
            "--iterations {params.iterations} --fit-kernel {params.kernel} {params.dataset_dir} --no-table "
            "--outdir {params.fidelity_dir} --data-dir {params.results}/data/datasets --qstar-dir "
            "{params.results}/data/qstar --device {params.device} "
            "--threads {threads} > {log} 2>&1"

    rule fidelity_table:
        input:
            expand(f"{FID_DIR}/fqi_T{{n}}.csv", n=FID_T),
        output:
            report(f"{TAB}/fqi_fidelity.csv", category="Multi-task FQI", caption="../report/fqi_fidelity.rst"),
            f"{TAB}/fqi_fidelity.md",
            f"{TAB}/fqi_fidelity.tex",
        log:
            f"{R}/logs/analysis/fqi_fidelity.log",
        params:
            boot=BOOT,
            tables=TAB,
        shell:
            "python -m analysis.fqi_fidelity --runs {input} --outdir {params.tables} {params.boot} > {log} 2>&1"

    rule fidelity:
        input:
            rules.fidelity_table.output,
