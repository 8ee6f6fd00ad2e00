"""Multi-GPU training through torch.distributed, in a few helpers that are no-ops in a single process.

Launch any script that calls :func:`kdcore.fit.fit` with ``torchrun --nproc_per_node=N script.py`` and call
:func:`init_from_env` at its start: it joins the process group (NCCL on CUDA, gloo on CPU) and returns this
process's device. ``fit`` then shards the training batches, wraps the objective in
``DistributedDataParallel`` and reduces the metrics, so every rank returns the same, global, history.
"""

from __future__ import annotations

import inspect
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def is_distributed() -> bool:
    """Whether this process is one of several in an initialized process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Rank 0, the process that writes files and shows progress."""
    return rank() == 0


def init_from_env(backend: str | None = None) -> torch.device:
    """Join the process group described by torchrun's environment and return this process's device.

    Without torchrun (no ``WORLD_SIZE`` in the environment) nothing is initialized and the device is
    ``cuda`` if available, else ``cpu``. The backend defaults to NCCL on CUDA and gloo on CPU.
    """
    cuda = torch.cuda.is_available()
    if "WORLD_SIZE" not in os.environ:
        return torch.device("cuda" if cuda else "cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if cuda else "gloo"))
    return device


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all ranks, in place (unchanged in a single process)."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def wrap(module: nn.Module) -> DistributedDataParallel:
    """``module`` in DDP: gradients averaged over ranks during backward, buffers left alone between forwards.

    Buffers are synced at construction and by :func:`broadcast_buffers` (once an epoch, in ``fit``) rather
    than before every forward; training-mode outputs do not depend on running statistics, and rank 0's
    evolve the same either way.
    """
    options = inspect.signature(DistributedDataParallel).parameters
    no_sync = "forward_sync_buffers" if "forward_sync_buffers" in options else "broadcast_buffers"  # newer torch
    return DistributedDataParallel(module, **{no_sync: False})


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def broadcast_buffers(module: nn.Module, src: int = 0) -> None:
    """Copy ``src``'s buffers (BatchNorm running statistics) to every rank.

    DDP synchronizes gradients, not buffers between forwards: after an epoch each rank's running statistics
    have seen only its own shard. Broadcasting rank 0's (what DDP itself does before every forward) makes
    the models identical, so evaluation and checkpoints agree on every rank.
    """
    if is_distributed():
        for buffer in module.buffers():
            dist.broadcast(buffer, src)
