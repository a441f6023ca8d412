"""CLI sub-command modules; each exposes ``register(groups)`` (see :mod:`mtrl_bench.cli`)."""
