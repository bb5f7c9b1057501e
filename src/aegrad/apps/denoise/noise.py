"""Corruptions to evaluate denoisers with: aegrad's training noises plus salt-and-pepper.

``gaussian`` and ``masking`` are the training loop's own (``train.penalties.corrupt``),
so a denoiser is tested on exactly the noise it was trained with. Salt-and-pepper
is evaluation-only here: ``train.noise`` does not list it yet.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from aegrad.errors import UserError
from aegrad.registry import Registry
from aegrad.train.penalties import corrupt, list_noises

NoiseFn = Callable[[Tensor, float, torch.Generator], Tensor]
EXTRA_NOISES: Registry[NoiseFn] = Registry("evaluation noise")


@EXTRA_NOISES.register("salt_pepper")
def salt_pepper(x: Tensor, level: float, generator: torch.Generator) -> Tensor:
    """Each value set to 0 or 1 (equally likely) with probability `level` (impulse noise on [0, 1] images)."""
    if not 0.0 <= level <= 1.0:
        raise UserError(f"salt_pepper level is the fraction of pixels hit: 0..1, got {level}")
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype)
    salt = torch.rand(x.shape, generator=generator, dtype=x.dtype) < 0.5
    return torch.where(u < level, salt.to(x.dtype), x)


def list_eval_noises() -> list[str]:
    """Every corruption `add_noise` knows: the training noises (but ``none``) and the evaluation-only ones."""
    return sorted({*list_noises(), *EXTRA_NOISES.names()} - {"none"})


def trainable(kind: str) -> bool:
    """Whether ``train.noise`` can train a denoiser for this corruption."""
    return kind in list_noises()


def add_noise(x: Tensor, kind: str, level: float, generator: torch.Generator) -> Tensor:
    """`x` corrupted by `kind` at `level` (a new tensor)."""
    if kind not in list_eval_noises():
        raise UserError(f"unknown noise {kind!r}; valid: {', '.join(list_eval_noises())}")
    if kind in EXTRA_NOISES:
        return EXTRA_NOISES.get(kind)(x, level, generator)
    return corrupt(x, kind, level, generator)


def noise_std(kind: str, level: float) -> float | None:
    """The noise's standard deviation when it is known exactly (gaussian), else None (filters estimate it)."""
    return level if kind == "gaussian" else None
