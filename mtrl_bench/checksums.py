"""Checksums of the files the suite writes and reads back, and the one-line warning they print.

Every cached artefact (compiled kernel, dataset, Q* table, checkpoint) and every results file carries a
SHA-256 written with it; a reader recomputes it and rebuilds, or refuses with one line naming the file,
when the two differ (docs/integrity.md lists what each kind does).

Public API
----------
``sha256_bytes(data) -> str``       hex digest
``sha256_file(path) -> str``        hex digest of a file's bytes (read in blocks)
``sha256_arrays(arrays) -> str``    digest of named numpy arrays (names, dtypes, shapes and bytes)
``warn(message) -> None``           one ``mtrl-bench: warning: ...`` line on stderr
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping

import numpy as np


def sha256_bytes(data: bytes) -> str:
    """The hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """The hex SHA-256 of the file at ``path`` (OSError when it cannot be read)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_arrays(arrays: Mapping[str, np.ndarray]) -> str:
    """The hex SHA-256 of named arrays: each name, dtype, shape and C-order bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{value.dtype.str}:{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def warn(message: str) -> None:
    """Print ``message`` as one warning line on stderr (a rebuilt cache, a fallback, an unchecked file)."""
    print(f"mtrl-bench: warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
