"""Analysis of mtrl-bench results: reads tidy results files, never trains.

Every command has one shape (:mod:`analysis.cli`)::

    python -m analysis.<module> [SUBCOMMAND] --runs FILE... --outdir DIR [--n-boot N --seed S --ci C] [options]

except :mod:`analysis.aggregate`, which writes one file (``--runs FILE... --out FILE``).

Shared helpers
- :mod:`analysis.aggregate`: one table of all runs (failed runs flagged), per-run values, the
  interquartile mean across seeds with stratified-bootstrap CIs.
- :mod:`analysis.fit`: error against the number of tasks T, fitted with a + b/sqrt(T) and rivals, with
  bootstrap CIs and information criteria. Pure functions.
- :mod:`analysis.cli` (options), :mod:`analysis.plotting` (saving figures, the one reference-curve helper),
  :mod:`analysis.table_io` (CSV/Markdown/LaTeX tables, number formatting).
- :mod:`analysis.reference`: the authors' published per-evaluation summaries (mean, std, n) under our
  names, and ours shipped; :mod:`analysis.vs_published`: Welch's test and the ours-vs-published checkpoint table.

Per experiment
- :mod:`analysis.fqi_figures`, :mod:`analysis.fqi_tables`: multi-task FQI (figures beside the published
  curves; fit, final-error and published-comparison tables).
- :mod:`analysis.multitask_tables`, :mod:`analysis.multitask_figures`: the one comparison pipeline (a
  ``Study``: algorithms or settings x tasks x epochs -> IQM bands, AUC, final, differences to a baseline,
  ours vs a reference), applied by :mod:`analysis.dqn_tables` / ``dqn_figures`` (MDQN vs DQN),
  :mod:`analysis.ddpg_tables` / ``ddpg_figures`` (MDDPG vs DDPG) and :mod:`analysis.transfer_tables` /
  ``transfer_figures`` (unfreeze settings vs no transfer).
- :mod:`analysis.ship`: turns our per-seed results into the shipped paper-protocol summaries
  (``analysis/reference/ours/``) that the figures draw beside a run and the authors' curves.
- :mod:`analysis.theory_figures`, :mod:`analysis.theory_tables`: the AVI bound on the MFQI runs, the testbed.
"""
