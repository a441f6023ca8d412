# Transfer of the shared representation to an unseen task (the paper's transfer figures, and every
# leave-one-out split): per learner (dqn, ddpg) and held-out task, a multi-task source run on the other
# tasks of that learner's experiment saves its shared layers (one checkpoint per seed); single-task runs
# on the held-out task start from them, frozen for the first N epochs (mtrl-bench run transfer). The
# no-transfer curve is the learner experiment's own single-task run of the held-out task, reused, not
# rerun: the transfer jobs take that section's params, sweep points and seeds, so seed s of a transfer
# run loads source seed s and is compared with single-task seed s. A swept DDPG `group` gives each sweep
# point its own pool of tasks (held_out names tasks of any of them). Config section:
#   transfer:
#     final_epochs: 10                     # epochs averaged for the tables' "final" (clipped to those run)
#     dqn:                                 # (and/or ddpg:) uses the `dqn` section's params, sweep and seeds
#       held_out: [acrobot]                # or `all`: every leave-one-out split
#       frozen_epochs: [0, 10, all]        # 0 = trained from the start; all = frozen throughout
#       save_shared: best                  # which source epoch: best (normalised), best-sum (authors'), final
#       load_into: online_and_target       # or online (the authors' code)
#       resources: {mem_mb: 2000, runtime: 60}
if enabled("transfer"):
    TR = config["transfer"]
    TR_LEARNERS = {"dqn": "mdqn", "ddpg": "mddpg"}  # learner -> the source run's algorithm name


    def _transfer_tasks(learner, section, point):
        """The learner experiment's tasks at a sweep point (the leave-one-out pool), in its order; a swept
        DDPG `group` gives each point its own pool."""
        if learner == "dqn":
            return list(experiment_config(learner, section, point)[2].tasks)
        from mtrl_bench.experiments.ddpg import task_names

        pool = []
        for group, tasks in section["groups"].items():
            if tasks is None:
                continue
            names = task_names(experiment_config(learner, section, point, group=group, tasks=tasks)[2])
            TR_GROUP_OF.update({name: group for name in names})
            pool += names
        return pool


    TR_GROUP_OF = {}  # DDPG task -> its group in the ddpg section (the source trains the rest of that group)


    def _learner_fields(learner, held):
        """Per-run fields that come from the held-out task: a DDPG task's group."""
        return {"group": TR_GROUP_OF[held]} if learner == "ddpg" else {}


    def _transfer_case(learner, case):
        """(held-out task, sweep point) pairs, frozen-epoch labels -> N, and the learner section, checked once."""
        if not enabled(learner):
            raise ValueError(f"config error: transfer.{learner} needs the `{learner}` section (its params, sweep and "
                             f"seeds; its single-task runs are the no-transfer curves)")
        section = config[learner]
        points = sweep_points(section)
        pools = {label: _transfer_tasks(learner, section, point) for label, point in points.items()}
        wanted = case.get("held_out", "all")
        pairs = [(task, label) for label, pool in pools.items() for task in pool if wanted == "all" or task in wanted]
        everywhere = sorted({task for pool in pools.values() for task in pool})
        for task in ([] if wanted == "all" else wanted):
            if task not in everywhere:
                raise ValueError(f"config error: transfer.{learner}.held_out: {task!r} is not one of the {learner} "
                                 f"tasks {everywhere}")
        if min(len(pool) for pool in pools.values()) < 2 or any(
                sum(TR_GROUP_OF.get(t) == TR_GROUP_OF.get(held) for t in pools[label]) < 2 for held, label in pairs):
            raise ValueError(f"config error: transfer.{learner} needs at least two {learner} tasks")
        epochs = experiment_config(learner, section, {})[2].epochs
        frozen = {}
        for value in case.get("frozen_epochs", [0, "all"]):
            if value == "all":
                frozen["fall"] = epochs
            elif isinstance(value, int) and 0 <= value < epochs:
                frozen[f"f{value}"] = value
            else:
                raise ValueError(f"config error: transfer.{learner}.frozen_epochs: {value!r} must be an integer in "
                                 f"0..{epochs - 1} (the {learner} runs last {epochs} epochs) or `all`")
        return {"section": section, "pools": pools, "pairs": pairs, "held": sorted({t for t, _ in pairs}),
                "frozen": frozen, "points": points, "save": case.get("save_shared", "best"),
                "into": case.get("load_into", "online_and_target"), "resources": case.get("resources", {})}


    TR_CASES = {learner: _transfer_case(learner, TR[learner]) for learner in TR_LEARNERS
                if isinstance(TR.get(learner), dict) and TR[learner].get("enabled", True)}


    def transfer_baseline(learner, task, point, seeds):
        """The single-task run of the learner's own experiment, the no-transfer curve: dqn.smk's file names
        (<learner>_<task>_<point>_s<seeds>.csv); ddpg.smk must name its single-task runs the same way."""
        return f"{R}/runs/{learner}/{learner}_{task}_{point}_s{seeds}.csv"


    def transfer_params(learner, case, held, point, frozen, source_dir):
        """The mapping of one transfer run (transfer.Config's vocabulary): the learner's params without tasks."""
        inner = hyper.merge(case["section"].get("params", {}), case["points"][point])
        inner = {k: v for k, v in inner.items() if k not in ("tasks", "save_shared", "checkpoint_dir")}
        inner.update(_learner_fields(learner, held))
        return {"algorithm": learner, "target": held, "source_dir": source_dir, "frozen_epochs": case["frozen"][frozen],
                "load_into": case["into"], learner: inner}


    def transfer_args(learner, case, held, point, frozen, source_dir):
        mapping = transfer_params(learner, case, held, point, frozen, source_dir)
        cls, _, _ = experiment_config("transfer", {"params": mapping}, {})
        return hyper.to_cli_args(cls, mapping)


    def source_args(learner, case, held, point, checkpoint_dir):
        fields = _learner_fields(learner, held)
        sources = [task for task in case["pools"][point]
                   if task != held and TR_GROUP_OF.get(task) == fields.get("group")]
        return run_args(learner, case["section"], case["points"][point], tasks=sources, save_shared=case["save"],
                        checkpoint_dir=checkpoint_dir, **fields)


    for _learner, _case in TR_CASES.items():
        # Check every job's config now (a bad value fails the dry run, naming the key).
        for _held, _point in _case["pairs"]:
            source_args(_learner, _case, _held, _point, "checkpoints")
            for _frozen in _case["frozen"]:
                transfer_args(_learner, _case, _held, _point, _frozen, "checkpoints")

        _ck = f"{R}/checkpoints/{_learner}/{{held}}_{{point}}_s{{seeds}}"
        _constraints = {"held": one_of(_case["held"]), "point": one_of(_case["points"]), "seeds": r"\d+-\d+"}

        rule:
            name:
                f"transfer_source_{_learner}"
            output:
                runs=f"{R}/runs/transfer/{_learner}/source_{{held}}_{{point}}_s{{seeds}}.csv",
                checkpoints=directory(_ck),
            log:
                f"{R}/logs/transfer/{_learner}/source_{{held}}_{{point}}_s{{seeds}}.log",
            wildcard_constraints:
                **_constraints,
            params:
                learner=_learner,
                args=lambda wc, output, learner=_learner, case=_case: source_args(learner, case, wc.held, wc.point,
                                                                                  output.checkpoints),
                seeds=lambda wc: seed_list(wc.seeds),
            threads: THREADS
            resources:
                **job_resources(_case),
            shell:
                "mtrl-bench run {params.learner} {params.args} --seeds {params.seeds} --device {DEVICE} "
                "--threads {threads} --out {output.runs} > {log} 2>&1"

        rule:
            name:
                f"transfer_run_{_learner}"
            input:
                _ck,
            output:
                f"{R}/runs/transfer/{_learner}/{{held}}_{{point}}_{{frozen}}_s{{seeds}}.csv",
            log:
                f"{R}/logs/transfer/{_learner}/{{held}}_{{point}}_{{frozen}}_s{{seeds}}.log",
            wildcard_constraints:
                **_constraints,
                frozen=one_of(_case["frozen"]),
            params:
                args=lambda wc, input, learner=_learner, case=_case: transfer_args(learner, case, wc.held, wc.point,
                                                                                   wc.frozen, input[0]),
                seeds=lambda wc: seed_list(wc.seeds),
            threads: THREADS
            resources:
                **job_resources(_case),
            shell:
                "mtrl-bench run transfer {params.args} --seeds {params.seeds} --device {DEVICE} --threads {threads} "
                "--out {output} > {log} 2>&1"

        _batches = seed_batches(_case["section"])
        _runs = [f"{R}/runs/transfer/{_learner}/{held}_{point}_{frozen}_s{seeds}.csv" for held, point in _case["pairs"]
                 for frozen in sorted(_case["frozen"]) for seeds in _batches]
        _baselines = [transfer_baseline(_learner, held, point, seeds) for held, point in _case["pairs"]
                      for seeds in _batches]

        rule:
            name:
                f"transfer_aggregate_{_learner}"
            input:
                _runs + _baselines,
            output:
                f"{TAB}/all_runs_transfer_{_learner}.csv",
            log:
                f"{R}/logs/analysis/transfer_{_learner}_aggregate.log",
            shell:
                "python -m analysis.aggregate --runs {input} --out {output} > {log} 2>&1"

        rule:
            name:
                f"transfer_figures_{_learner}"
            input:
                f"{TAB}/all_runs_transfer_{_learner}.csv",
            output:
                f"{FIG}/transfer_{_learner}_return_discounted_per_epoch.png",
                f"{FIG}/transfer_{_learner}_return_discounted_per_epoch.pdf",
            log:
                f"{R}/logs/analysis/transfer_{_learner}_figures.log",
            params:
                learner=_learner,
            shell:
                "python -m analysis.transfer_figures --runs {input} --outdir {FIG} --learner {params.learner} "
                "--metric return_discounted {BOOT} > {log} 2>&1"

        rule:
            name:
                f"transfer_tables_{_learner}"
            input:
                f"{TAB}/all_runs_transfer_{_learner}.csv",
            output:
                f"{TAB}/transfer_{_learner}_summary.csv",
                f"{TAB}/transfer_{_learner}_summary.md",
                f"{TAB}/transfer_{_learner}_summary.tex",
                f"{TAB}/transfer_{_learner}_vs_published.csv",
                f"{TAB}/transfer_{_learner}_vs_published.md",
                f"{TAB}/transfer_{_learner}_vs_published.tex",
            log:
                f"{R}/logs/analysis/transfer_{_learner}_tables.log",
            params:
                learner=_learner,
                final_epochs=TR.get("final_epochs", 10),
            shell:
                "python -m analysis.transfer_tables --runs {input} --outdir {TAB} --learner {params.learner} "
                "--final-epochs {params.final_epochs} {BOOT} > {log} 2>&1"

        add_targets(f"transfer_{_learner}", _runs + [
            f"{FIG}/transfer_{_learner}_return_discounted_per_epoch.png",
            f"{FIG}/transfer_{_learner}_return_discounted_per_epoch.pdf",
            *[f"{TAB}/transfer_{_learner}_{stem}.{ext}" for stem in ("summary", "vs_published")
              for ext in ("csv", "md", "tex")]])
