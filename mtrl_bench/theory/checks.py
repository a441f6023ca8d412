"""Argument checks shared by the bounds and estimators: each returns the value or raises ConfigError."""

from __future__ import annotations

import math

from mtrl_bench.errors import ConfigError


def non_negative(name: str, value: float) -> float:
    """``value`` as a float; refuses NaN, infinities and negatives."""
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name} must be finite and non-negative, got {value}")
    return value


def whole_number(description: str, value: float, minimum: int) -> int:
    """``value`` as an int; refuses fractions and values below ``minimum``."""
    if int(value) != value or value < minimum:
        raise ConfigError(f"{description} must be an integer >= {minimum}, got {value}")
    return int(value)
