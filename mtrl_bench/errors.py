"""The one exception type users see (a message that says what to fix), and the one warning line."""

import sys
from collections.abc import Iterable


class ConfigError(ValueError):
    """Bad user input (unknown task, non-positive width, empty seed list, unwritable output...).

    The CLI prints it as a one-line ``error: ...`` and exits with status 2.
    """


def warn(message: str) -> None:
    """Print ``message`` as one ``mtrl-bench: warning: ...`` line on stderr (a rebuilt cache, a fallback, an
    option that has no effect here)."""
    print(f"mtrl-bench: warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def distinct(values: Iterable, what: str) -> list:
    """``values`` as a list; a :class:`ConfigError` when it is empty or repeats an entry (``what``: the
    singular noun of one entry, e.g. ``seed``)."""
    values = list(values)
    if not values:
        raise ConfigError(f"give at least one {what}")
    if len(set(values)) != len(values):
        raise ConfigError(f"{what}s repeat in {values}: give each {what} once")
    return values


def no_repeats(name: str, values: Iterable) -> tuple:
    """``values`` as a tuple; a :class:`ConfigError` naming the config field ``name`` when one repeats."""
    values = tuple(values)
    if len(set(values)) != len(values):
        raise ConfigError(f"{name} has repeated values: {list(values)}")
    return values
