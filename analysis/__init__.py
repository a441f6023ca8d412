"""Analysis of mtrl-bench results: reads tidy results files, never trains.

- :mod:`analysis.aggregate`: one table of all runs (failed runs flagged), per-run values, the
  interquartile mean across seeds with stratified-bootstrap CIs. CLI ``python -m analysis.aggregate``.
- :mod:`analysis.fit`: error against the number of tasks T, fitted with a + b/sqrt(T) and rivals
  (constant, a + b/T, a + b*T^-alpha), bootstrap CIs and information criteria. Pure functions.
- :mod:`analysis.figures`: the FQI figures (PDF and PNG). CLI ``python -m analysis.figures``.
- :mod:`analysis.tables`: fit and final-error tables (CSV, Markdown, LaTeX).
  CLI ``python -m analysis.tables``.
"""
