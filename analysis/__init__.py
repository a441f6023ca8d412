"""Analysis of mtrl-bench results: reads tidy results files, never trains.

Every command has one shape (:mod:`analysis.cli`)::

    python -m analysis.<module> [SUBCOMMAND] --runs FILE... --outdir DIR [--n-boot N --seed S --ci C] [options]

except :mod:`analysis.aggregate`, which writes one file (``--runs FILE... --out FILE``).

Shared helpers
- :mod:`analysis.aggregate`: one table of all runs (failed runs flagged), per-run values, the
  interquartile mean across seeds with stratified-bootstrap CIs.
- :mod:`analysis.fit`: error against the number of tasks T, fitted with a + b/sqrt(T) and rivals, with
  bootstrap CIs and information criteria. Pure functions.
- :mod:`analysis.cli` (options), :mod:`analysis.plotting` (saving figures, the published band),
  :mod:`analysis.table_io` (CSV/Markdown/LaTeX tables, number formatting).
- :mod:`analysis.reference`: the authors' published per-evaluation summaries (mean, std, n) under our
  names; :mod:`analysis.vs_published`: Welch's test and the ours-vs-published checkpoint table.

Per experiment
- :mod:`analysis.fqi_figures`, :mod:`analysis.fqi_tables`: multi-task FQI (figures beside the published
  curves; fit, final-error and published-comparison tables).
- :mod:`analysis.dqn_figures`, :mod:`analysis.dqn_tables`: MDQN vs DQN (figure beside the published
  curves; summary and published-comparison tables).
- :mod:`analysis.theory_figures`, :mod:`analysis.theory_tables`: the AVI bound on the MFQI runs, the testbed.
"""
