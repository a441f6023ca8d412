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
from mtrl_bench.experiments.planning import TRANSFER_LEARNERS, transfer_case

if enabled("transfer"):
    TR = config["transfer"]
    # learner -> its TransferCase (pools, held-out x point pairs, frozen-epoch labels), every job checked.
    TR_CASES = {learner: transfer_case(learner, TR[learner], config[learner] if enabled(learner) else None)
                for learner in TRANSFER_LEARNERS
                if isinstance(TR.get(learner), dict) and TR[learner].get("enabled", True)}

    for _learner, _case in TR_CASES.items():
        check_jobs(_learner, _case.source_jobs(), section=_case.section)
        check_jobs("transfer", _case.run_jobs(), section={})
        _ck = f"{R}/checkpoints/{_learner}/{{held}}_{{point}}_s{{seeds}}"
        _constraints = {"held": one_of(_case.held), "point": one_of(_case.points), "seeds": r"\d+-\d+"}

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
                args=lambda wc, output, case=_case: case.source_args(wc.held, wc.point, output.checkpoints),
                seeds=lambda wc: seed_list(wc.seeds),
                device=DEVICE,
            threads: THREADS
            resources:
                **job_resources({"resources": _case.resources}),
            shell:
                "mtrl-bench run {params.learner} {params.args} --seeds {params.seeds} --device {params.device} "
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
                frozen=one_of(_case.frozen),
            params:
                args=lambda wc, input, case=_case: case.run_args(wc.held, wc.point, wc.frozen, input[0]),
                seeds=lambda wc: seed_list(wc.seeds),
                device=DEVICE,
            threads: THREADS
            resources:
                **job_resources({"resources": _case.resources}),
            shell:
                "mtrl-bench run transfer {params.args} --seeds {params.seeds} --device {params.device} --threads "
                "{threads} "
                "--out {output} > {log} 2>&1"

        _batches = seed_batches(_case.section)
        _runs = _case.run_files(f"{R}/runs/transfer/{_learner}", _batches)
        _baselines = _case.baseline_files(f"{R}/runs/{_learner}", _batches)

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
                boot=BOOT,
                figures=FIG,
            shell:
                "python -m analysis.transfer_figures --runs {input} --outdir {params.figures} --learner "
                "{params.learner} "
                "--metric return_discounted {params.boot} > {log} 2>&1"

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
                boot=BOOT,
                tables=TAB,
            shell:
                "python -m analysis.transfer_tables --runs {input} --outdir {params.tables} --learner {params.learner} "
                "--final-epochs {params.final_epochs} {params.boot} > {log} 2>&1"

        add_targets(f"transfer_{_learner}", _runs + [
            f"{FIG}/transfer_{_learner}_return_discounted_per_epoch.png",
            f"{FIG}/transfer_{_learner}_return_discounted_per_epoch.pdf",
            *[f"{TAB}/transfer_{_learner}_{stem}.{ext}" for stem in ("summary", "vs_published")
              for ext in ("csv", "md", "tex")]])
