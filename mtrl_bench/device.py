"""Choosing the torch device from a config value: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""

import os

import torch

from mtrl_bench.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """Return the device for ``name``; ``auto`` is CUDA when visible, else CPU.

    Asking for ``cuda`` where no GPU is visible is an error, never a silent fall-back to CPU.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {name!r} requested but torch sees no CUDA GPU "
                f"(torch {torch.__version__}); use --device cpu or auto, or run on a GPU node"
            )
        return torch.device(name)
    raise ConfigError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N")


def describe_device(device: torch.device) -> str:
    """Human-readable device string recorded in every result file, e.g. ``cuda:0 (NVIDIA H100)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def cpu_cores() -> int:
    """CPU cores this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
