"""The one exception type users see: a message that says what to fix."""


class ConfigError(ValueError):
    """Bad user input (unknown task, non-positive width, empty seed list, unwritable output...).

    The CLI prints it as a one-line ``error: ...`` and exits with status 2.
    """
