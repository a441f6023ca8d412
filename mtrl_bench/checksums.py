"""Checksums of the files the suite writes and reads back (warnings: :func:`mtrl_bench.errors.warn`).

Every cached artefact (compiled kernel, dataset, Q* table, checkpoint) and every results file carries a
SHA-256 written with it; a reader recomputes it and rebuilds, or refuses with one line naming the file,
when the two differ (docs/integrity.md lists what each kind does).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

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



def sidecar(path: str | os.PathLike) -> Path:
    """The checksum file of ``path``: ``<path>.sha256``, in ``sha256sum`` format."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def sidecar_text(path: str | os.PathLike) -> str:
    """The checksum file's content for the current bytes of ``path``: ``<sha256>  <name>``."""
    return f"{sha256_file(path)}  {Path(path).name}\n"


def matches_sidecar(path: str | os.PathLike) -> bool | None:
    """True when ``path`` matches its checksum file, False when not (or either is unreadable), None when
    there is no checksum file (a file of an older version, or one made by hand)."""
    check = sidecar(path)
    if not check.exists():
        return None
    try:
        return check.read_text().split()[:1] == [sha256_file(path)]
    except (OSError, UnicodeDecodeError):
        return False
