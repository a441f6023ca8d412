"""Analysis of mtrl-bench results: reads tidy results files, never trains.

Every command has one shape (:mod:`analysis.cli`)::

    python -m analysis.<module> [SUBCOMMAND] --runs FILE... --outdir DIR [--n-boot N --seed S --ci C] [options]

except :mod:`analysis.aggregate`, which writes one file (``--runs FILE... --out FILE``). The modules, the one
comparison pipeline (:mod:`analysis.multitask_tables` / ``multitask_figures``, a ``Study`` per experiment) and
the references drawn beside our runs: docs/analysis.md.
"""
