"""The one exception type users see (a message that says what to fix), and the one warning line."""

import sys


class ConfigError(ValueError):
    """Bad user input (unknown task, non-positive width, empty seed list, unwritable output...).

    The CLI prints it as a one-line ``error: ...`` and exits with status 2.
    """


def warn(message: str) -> None:
    """Print ``message`` as one ``mtrl-bench: warning: ...`` line on stderr (a rebuilt cache, a fallback, an
    option that has no effect here)."""
    print(f"mtrl-bench: warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
