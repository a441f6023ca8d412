"""Experiments: each module is one runner of the shape in :mod:`.runner`.

Every experiment module exports ``EXPERIMENT`` (its name), ``Config`` (a frozen dataclass whose
field names are the YAML keys and CLI flags, see :mod:`mtrl_bench.config`) and
``run(config, seeds, device, progress=None) -> RunResult``; ``mtrl-bench run <name>`` finds it by
name. :mod:`.fqi` (multi-task FQI on any task family), :mod:`.dqn` (multi-task DQN) and
:mod:`.testbed` (synthetic regression with a known excess risk) drive the learners of
:mod:`mtrl_bench.algos` (or their own, for the testbed) and record tidy rows.
"""
