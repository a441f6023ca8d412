"""The ``mtrl-bench`` command line: one way in for every experiment.

Sub-commands live in small modules under :mod:`mtrl_bench.commands`; each has a
``register(groups)`` that adds its parsers to the groups ``run``, ``bench``, ``bound`` or the
top level, and sets ``func`` to the function that executes the parsed arguments.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mtrl_bench import __version__
from mtrl_bench.errors import ConfigError

# One module per experiment or tool; each adds its own sub-commands.
COMMAND_MODULES = [
    "mtrl_bench.commands.qstar",
    "mtrl_bench.commands.run",
    "mtrl_bench.commands.bench",
    "mtrl_bench.commands.bound",
    "mtrl_bench.commands.fidelity",
    "mtrl_bench.commands.peer",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mtrl-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"mtrl-bench {__version__}")
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups = {"top": top}
    for name, help_text in [("run", "run an experiment and write a tidy results file"),
                            ("bench", "print speed figures (ratios against baselines measured in the same run)"),
                            ("bound", "evaluate the paper's bounds from command-line numbers")]:
        group = top.add_parser(name, help=help_text)
        groups[name] = group.add_subparsers(dest="experiment", required=True, metavar="NAME")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except ConfigError as err:
        print(f"mtrl-bench: error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
