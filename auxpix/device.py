"""Where tensors live: choosing the device, and waiting for it before reading a clock."""

from __future__ import annotations

import platform
from contextlib import contextmanager

import torch

from .errors import ConfigError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` is CUDA when available, else the CPU; asking for CUDA without it is a clear error."""
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"unknown device {name!r}: use auto, cpu or cuda") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA is not available on this machine: use --device cpu (or auto)")
    return device


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so a timer reads true time."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compute_label(device="auto") -> str:
    """Where a measurement ran, e.g. "cpu (2 threads, x86_64), torch 2.13.0"."""
    device = resolve_device(device)
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
    else:
        threads = torch.get_num_threads()
        where = f"cpu ({threads} thread{'s' if threads > 1 else ''}, {platform.machine()})"
    return f"{where}, torch {torch.__version__.split('+')[0]}"


@contextmanager
def cpu_threads(threads: int | None):
    """Run the block with ``threads`` CPU threads (None: as they are), restoring the count after."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
