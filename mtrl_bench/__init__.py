"""mtrl-bench: theory validation and benchmarks for multi-task deep RL with shared representations."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mtrl-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
