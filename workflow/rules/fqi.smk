# Multi-task FQI on Car-On-Hill: exact Q* per variant, then one job per task set x width x seed batch.
import random

from mtrl_bench.tasks.car_on_hill import dynamics as coh

FQI = config["fqi"]


def fqi_task_sets():
    """{set_id: [variant names]}: the paper's nested sets and, optionally, random subsets per T."""
    sets = {}
    opts = FQI.get("task_sets", {})
    for n in FQI["n_tasks"]:
        if opts.get("nested", True):
            sets[f"T{n}_nested"] = [p.name for p in coh.nested_task_set(n)]
        rng = random.Random(opts.get("random_seed", 0) * 1000 + n)
        for draw in range(opts.get("random_draws", 0)):
            sets[f"T{n}_random{draw}"] = [coh.VARIANTS[i].name for i in sorted(rng.sample(range(16), n))]
    return sets


FQI_SETS = fqi_task_sets()
FQI_RUNS = expand(f"{R}/runs/fqi/{{task_set}}_w{{width}}_s{{seeds}}.csv", task_set=sorted(FQI_SETS),
                  width=FQI["widths"], seeds=seed_batches(FQI))
FQI_VARIANTS = sorted({v for names in FQI_SETS.values() for v in names})
MERGE = FQI.get("qstar_merge_resolution")


rule qstar:
    output:
        f"{R}/data/qstar/{{variant}}.csv",
    log:
        f"{R}/logs/qstar/{{variant}}.log",
    params:
        merge=f"--merge-resolution {MERGE[0]} {MERGE[1]}" if MERGE else "",
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
        f"{R}/runs/fqi/{{task_set}}_w{{width}}_s{{seeds}}.csv",
    log:
        f"{R}/logs/fqi/{{task_set}}_w{{width}}_s{{seeds}}.log",
    wildcard_constraints:
        task_set=r"T\d+_\w+",
        width=r"\d+",
        seeds=r"\d+-\d+",
    params:
        variants=lambda wc: " ".join(FQI_SETS[wc.task_set]),
        seeds=lambda wc: seed_list(wc.seeds),
        cap="" if FQI["max_fit_steps"] is None else f"--max-fit-steps {FQI['max_fit_steps']}",
        dataset=(f"--dataset-grid {FQI['dataset']['grid_size']} --p-plus {FQI['dataset']['p_plus']} "
                 f"--dataset-seed {FQI['dataset']['seed']}"),
    threads: THREADS
    resources:
        **job_resources(FQI),
    shell:
        "mtrl-bench run fqi --variants {params.variants} --width {wildcards.width} "
        "--input-width {FQI[input_width]} --seeds {params.seeds} --iterations {FQI[iterations]} "
        "{params.cap} --patience {FQI[patience]} --tolerance {FQI[tolerance]} "
        "--learning-rate {FQI[learning_rate]} --holdout-fraction {FQI[holdout_fraction]} {params.dataset} "
        "--data-dir {R}/data/datasets --qstar-dir {R}/data/qstar --device {DEVICE} --threads {threads} "
        "--out {output} > {log} 2>&1"
