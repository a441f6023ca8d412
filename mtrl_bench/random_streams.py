"""Random streams: per-seed streams (seed s draws the same numbers whether it runs alone or in a batch),
and :func:`as_generator`, the one way a function taking ``rng`` (a seed or a generator) reads it."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np


class SeedUniforms:
    """Per-seed streams of uniforms in [0, 1): ``next()`` returns (S, width), row s from seed s's own
    generator (seeded by ``(seed, crc32(key))``), so a seed's numbers do not depend on the batch.

    Draws are buffered ``block`` rows at a time so that the per-seed Python call is amortised.
    """

    def __init__(self, seeds: Sequence[int], key: str, width: int, block: int = 1024):
        self.width, self.block = int(width), int(block)
        salt = zlib.crc32(key.encode())
        self.generators = [np.random.default_rng([int(seed), salt]) for seed in seeds]
        self._buffer = np.empty((len(self.generators), 0, self.width))
        self._cursor = 0

    def next(self) -> np.ndarray:
        if self._cursor >= self._buffer.shape[1]:
            self._buffer = np.stack([g.random((self.block, self.width)) for g in self.generators])
            self._cursor = 0
        row = self._buffer[:, self._cursor]
        self._cursor += 1
        return row


def as_generator(rng: int | Sequence[int] | np.random.Generator | None) -> np.random.Generator:
    """``rng`` itself when it is a numpy Generator (its stream goes on), else ``np.random.default_rng(rng)``."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
