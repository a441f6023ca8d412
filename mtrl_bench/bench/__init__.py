"""Benchmarks that print figures: each speed is reported against a baseline measured in the same run."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch


def sync(device: torch.device) -> None:
    """Wait for the GPU's queued work (nothing on a CPU), so that a clock read after it sees the work done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sgemm_gflops(device: torch.device | str = "cpu", size: int | None = None, repeats: int = 3, calls: int = 1,
                 clock: Callable[[], float] = time.perf_counter) -> float:
    """GFLOP/s of a large float32 matrix product, the yardstick of every benchmark: on one CPU thread (default
    2048^2) or on the GPU (8192^2) when ``device`` is CUDA; the best of ``repeats`` rounds of ``calls`` products
    timed by ``clock`` (after one warm-up product)."""
    device = torch.device(device)
    size = size or (8192 if device.type == "cuda" else 2048)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(0)
        a = torch.rand(size, size, generator=gen).to(device)
        b = torch.rand(size, size, generator=gen).to(device)
        torch.mm(a, b)
        best = math.inf
        for _ in range(repeats):
            sync(device)
            start = clock()
            for _ in range(calls):
                torch.mm(a, b)
            sync(device)
            best = min(best, (clock() - start) / calls)
    finally:
        torch.set_num_threads(threads)
    return 2.0 * size ** 3 / best / 1e9
