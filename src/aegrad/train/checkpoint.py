"""Checkpoints: weights through safetensors, training state through torch.save.

Both are written atomically (temp file + rename), and the state is loaded with
``weights_only=True`` so a checkpoint can never run code.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from aegrad.config import ModelConfig
from aegrad.errors import UserError
from aegrad.models import save_model
from aegrad.run import STATE, WEIGHTS, atomic_write_bytes


def save_weights(run_dir: Path, model: torch.nn.Module, cfg: ModelConfig, sample_shape, normalizer) -> None:
    """model.safetensors: weights + the fitted normaliser (prefixed `normalizer.`), written atomically."""
    extra = {f"normalizer.{k}": v for k, v in normalizer.state_dict().items()}
    tmp = run_dir / f".{WEIGHTS}.tmp"
    save_model(model, tmp, cfg, sample_shape, extra)
    tmp.replace(run_dir / WEIGHTS)


def save_state(run_dir: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(run_dir / STATE, buf.getvalue())


def load_state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / STATE
    if not path.exists():
        raise UserError(f"cannot resume {run_dir}: no {STATE} (the run never finished an epoch)")
    return torch.load(path, map_location="cpu", weights_only=True)
