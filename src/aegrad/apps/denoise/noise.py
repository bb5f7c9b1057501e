"""Corruptions to evaluate denoisers with: the training loop's own noises (``train.penalties``).

A denoiser is tested on exactly the noise ``train.noise`` trains it with: gaussian,
masking and salt-and-pepper.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aegrad.errors import UserError
from aegrad.data.noise import corrupt, list_noises


def list_eval_noises() -> list[str]:
    """Every corruption `add_noise` knows: the training noises but ``none``."""
    return sorted(set(list_noises()) - {"none"})


def trainable(kind: str) -> bool:
    """Whether ``train.noise`` can train a denoiser for this corruption."""
    return kind in list_noises()


def add_noise(x: Tensor, kind: str, level: float, generator: torch.Generator) -> Tensor:
    """`x` corrupted by `kind` at `level` (a new tensor)."""
    if kind not in list_eval_noises():
        raise UserError(f"unknown noise {kind!r}; valid: {', '.join(list_eval_noises())}")
    return corrupt(x, kind, level, generator)


def noise_std(kind: str, level: float) -> float | None:
    """The noise's standard deviation when it is known exactly (gaussian), else None (filters estimate it)."""
    return level if kind == "gaussian" else None
