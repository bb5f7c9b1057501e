"""Where a run trains and whether it fits there: the device, the CPU thread count, the memory check."""

from __future__ import annotations

from pathlib import Path

import torch

from aegrad.config import Config, TrainConfig
from aegrad.errors import UserError
from aegrad.models import create_model

# Below this many multiply-adds per training step (batch x parameters) one CPU thread is faster than
# several: the step is too small to split, and extra threads only spin. Measured on 2 cores: the seed's
# 100-32-100 net (4e5 per step) and digits-mlp (2e6) run faster on one thread; RT1 (1.4e8) on two.
SMALL_STEP_MACS = 10_000_000

# float32 weights, their gradients and an optimizer's two moments (Adam's): the bytes per parameter training holds
TRAIN_BYTES_PER_PARAM = 4 * 4


def resolve_device(name: str) -> torch.device:
    """``train.device`` as a device: "auto" is CUDA when there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device=cuda but no CUDA device is available; valid here: auto, cpu")
    return torch.device(name)


def set_threads(t: TrainConfig, model: torch.nn.Module, device: torch.device) -> None:
    """``train.threads``, or when unset one CPU thread for a step too small to split (the caller restores it)."""
    if t.threads:
        torch.set_num_threads(t.threads)
    elif device.type == "cpu" and t.batch_size * sum(p.numel() for p in model.parameters()) < SMALL_STEP_MACS:
        torch.set_num_threads(1)


def check_fits(cfg: Config, sample_shape: tuple[int, ...], device: torch.device) -> None:
    """Refuse a model whose training state cannot fit in the memory available now, before any of it is allocated.

    The model is built on the meta device (shapes only, no storage), so `model.widths=[1000000000]`
    is a one-line refusal instead of an allocation that fails, or that the kernel kills the process for.
    """
    with torch.device("meta"):
        meta = create_model(cfg.model, sample_shape)
    need = TRAIN_BYTES_PER_PARAM * sum(p.numel() for p in meta.parameters())
    free = free_bytes(device)
    if free is not None and need > free:
        raise UserError(
            f"the model's training state needs ~{need / 2**30:.1f} GiB (float32 weights, gradients and optimizer "
            f"moments) but {free / 2**30:.1f} GiB is free on {device.type}; make model.widths / model.width / "
            "model.channels smaller"
        )


def free_bytes(device: torch.device) -> int | None:
    """Memory free for a new allocation on `device` (MemAvailable on the CPU), or None when unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
