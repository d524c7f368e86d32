"""Training in several processes (one per GPU, or CPU processes) with PyTorch's own engine.

``torchrun --nproc_per_node=N -m auxpix train ...`` starts N processes and sets RANK,
WORLD_SIZE, LOCAL_RANK and the rendezvous in their environment; :func:`start` then joins
the process group (NCCL on CUDA, gloo on CPU). Every process builds the same model, takes
its slice of the same global batch and DistributedDataParallel averages the gradients, so
the optimizer steps, and the results, do not depend on the number of processes. In one
plain process every function here is a no-op, so the training code reads the same.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from .device import resolve_device
from .errors import ConfigError


def start(device: str | torch.device = "auto") -> torch.device:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); returns this process's
    device (with CUDA, the GPU of its LOCAL_RANK)."""
    device = resolve_device(device)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    """Whether this process writes the run's files (rank 0; the only one without torchrun)."""
    return rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def local_slice(batch: torch.Tensor) -> torch.Tensor:
    """This process's equal share of a global batch (consecutive images)."""
    size = world_size()
    if len(batch) % size:
        raise ConfigError(
            f"a batch of {len(batch)} images cannot be split evenly over {size} processes: "
            "choose a batch size that the number of processes divides"
        )
    share = len(batch) // size
    return batch[rank() * share : (rank() + 1) * share]


def shard(images: torch.Tensor) -> torch.Tensor:
    """This process's part of a set of images to evaluate (every world_size-th image)."""
    return images[rank() :: world_size()]


def total(value: float, device: torch.device) -> float:
    """``value`` summed over the processes."""
    if not dist.is_initialized():
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.item()


def any_process(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` holds in some process: one decision for all (e.g. that a time budget is spent)."""
    return total(float(flag), device) > 0


def rng_snapshot(device: torch.device) -> dict[str, torch.Tensor]:
    """The global RNG states that dropout draws from, of every process (on every process):
    rank 0's as ``torch_cpu``/``torch_cuda``, rank r's with the suffix ``.rank<r>``."""
    own = {"torch_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        own["torch_cuda"] = torch.cuda.get_rng_state(device)
    every = [own]
    if dist.is_initialized():
        every = [None] * world_size()
        dist.all_gather_object(every, own)
    return {
        name + (f".rank{r}" if r else ""): state
        for r, states in enumerate(every)
        for name, state in states.items()
    }


def restore_rng(
    snapshot: dict[str, torch.Tensor], device: torch.device, seed: int, step: int
) -> None:
    """Set this process's RNG states from a :func:`rng_snapshot`. A process that the snapshot
    lacks (a run resumed with more processes) starts a fresh stream seeded by (seed, rank, step)."""
    suffix = f".rank{rank()}" if rank() else ""
    if "torch_cpu" + suffix not in snapshot:
        torch.manual_seed(hash((seed, rank(), step)) % 2**63)
        return
    torch.set_rng_state(snapshot["torch_cpu" + suffix])
    if device.type == "cuda" and "torch_cuda" + suffix in snapshot:
        torch.cuda.set_rng_state(snapshot["torch_cuda" + suffix], device)
