"""Distributed data parallel on PyTorch's own engine, detected from torchrun's environment.

One code path serves one process and `torchrun --nproc_per_node=N -m aegrad train ...`:
when WORLD_SIZE > 1 the process group is initialised (gloo on CPU, nccl on CUDA),
each epoch's permutation is sharded by rank, DDP averages gradients (with
`no_sync` on accumulation micro-batches), and only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import os

import torch
import torch.distributed as tdist
from torch.nn.parallel import DistributedDataParallel


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_distributed() -> bool:
    return world_size() > 1


def is_rank0() -> bool:
    return rank() == 0


def device_for_rank(device: torch.device) -> torch.device:
    """Initialise the process group (once) and pick this rank's device."""
    if not is_distributed():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not tdist.is_initialized():
        tdist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """DDP-wrap the model when distributed; the plain model otherwise."""
    if not is_distributed():
        return model
    return DistributedDataParallel(model)


def shard(perm: torch.Tensor) -> torch.Tensor:
    """This rank's share of an epoch's permutation (every rank draws the same permutation).

    The permutation is cut to a multiple of the world size so every rank takes the
    same number of steps (DDP needs matching collectives); rank r takes r, r+W, ...
    """
    if not is_distributed():
        return perm
    w = world_size()
    usable = len(perm) - len(perm) % w
    return perm[rank() : usable : w]


def no_sync(net: torch.nn.Module, last: bool):
    """Skip DDP's gradient all-reduce on all but the last micro-batch of an accumulation group."""
    if isinstance(net, DistributedDataParallel) and not last:
        return net.no_sync()
    return contextlib.nullcontext()


def all_mean(value: torch.Tensor) -> torch.Tensor:
    """Average a tensor over ranks (identity when not distributed)."""
    if not is_distributed():
        return value
    out = value.clone()
    tdist.all_reduce(out)
    return out / world_size()


def cleanup() -> None:
    if is_distributed() and tdist.is_initialized():
        tdist.destroy_process_group()
