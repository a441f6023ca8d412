"""The one command-line shape of every analysis module.

::

    python -m analysis.<module> [SUBCOMMAND] --runs FILE... --outdir DIR [--n-boot N --seed S --ci C] [options]

``--runs`` takes results files of ``mtrl-bench run`` and/or all-runs tables of :mod:`analysis.aggregate`
(read by :func:`analysis.aggregate.load_any`); every output is named inside ``--outdir``. The bootstrap
options are shared: ``--n-boot`` resamples (0 = no intervals), ``--seed`` of the resampling generator,
``--ci`` the confidence level in (0, 1). :mod:`analysis.aggregate` alone writes a single file
(``--runs FILE... --out FILE``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence

from mtrl_bench.errors import ConfigError


def _checked(convert: Callable[[str], float], ok: Callable[[float], bool], expected: str) -> Callable[[str], float]:
    """An argparse type: ``convert(text)``, refused with "expected <expected>" unless ``ok`` holds."""
    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    return parse


_non_negative_int = _checked(int, lambda value: value >= 0, "an integer >= 0")
_level = _checked(float, lambda value: 0.0 < value < 1.0, "a confidence level in (0, 1), e.g. 0.95")


def add_bootstrap_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every analysis CLI shares: --n-boot, --seed, --ci."""
    parser.add_argument("--n-boot", type=_non_negative_int, default=2000,
                        help="bootstrap resamples, 0 for no intervals (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap generator (default 0)")
    parser.add_argument("--ci", type=_level, default=0.95, help="confidence level in (0, 1) (default 0.95)")


def add_io_arguments(parser: argparse.ArgumentParser) -> None:
    """--runs (results files and/or all-runs tables) and --outdir."""
    parser.add_argument("--runs", nargs="+", required=True, metavar="FILE",
                        help="results files of `mtrl-bench run` and/or all-runs tables of analysis.aggregate")
    parser.add_argument("--outdir", required=True, metavar="DIR", help="output folder, e.g. results/figures")


def add_published_argument(parser: argparse.ArgumentParser) -> None:
    """--no-published: leave out the authors' published curves or comparison; --no-shipped: leave out our
    shipped paper-protocol curves (figures only; analysis/reference/ours/)."""
    parser.add_argument("--no-published", dest="published", action="store_false",
                        help="leave out the authors' published results (analysis.reference)")
    parser.add_argument("--no-shipped", dest="shipped", action="store_false",
                        help="leave out our shipped paper-protocol curves (analysis/reference/ours/), if any")


def analysis_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with --runs, --outdir, --n-boot, --seed and --ci; add module options to it."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_io_arguments(parser)
    add_bootstrap_arguments(parser)
    return parser


def add_subcommand(commands: argparse._SubParsersAction, name: str, help: str) -> argparse.ArgumentParser:
    """A sub-command with --runs, --outdir, --n-boot, --seed and --ci."""
    parser = commands.add_parser(name, help=help, description=help)
    add_io_arguments(parser)
    add_bootstrap_arguments(parser)
    return parser


def run(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Call a module's ``main``; bad input (:class:`ConfigError`, unreadable or unwritable files) is printed
    as one ``error: ...`` line and gives exit status 2, as ``mtrl-bench`` does."""
    try:
        return main(argv)
    except (ConfigError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def print_paths(paths: Iterable[object], prefix: str = "") -> int:
    """Print each written file on its own line (after ``prefix``); 0, the command's exit status."""
    for path in paths:
        print(f"{prefix}{path}")
    return 0
