"""Input corruption for a denoising autoencoder (Vincent et al. 2008): one registered function per
``train.noise`` kind."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from aegrad.errors import UserError
from aegrad.registry import Registry


NoiseFn = Callable[[Tensor, float, "torch.Generator | None"], Tensor]
NOISES: Registry[NoiseFn] = Registry("noise")
register_noise = NOISES.register


def list_noises() -> list[str]:
    """The registered input-corruption kinds (equal to config's ``train.noise`` choices)."""
    return NOISES.names()


def corrupt(x: Tensor, kind: str, level: float, generator: torch.Generator | None = None) -> Tensor:
    """`x` corrupted by the `kind` noise at `level` (a new tensor; `x` is untouched).

    Draws come from `generator` on its own device (so a CPU generator gives the
    same noise on any device) and are then moved to `x`'s device.
    """
    return NOISES.get(kind)(x, level, generator)


def _draw(fn: Callable[..., Tensor], x: Tensor, generator: torch.Generator | None) -> Tensor:
    device = generator.device if generator is not None else x.device
    return fn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


@register_noise("none")
def _none(x: Tensor, level: float, generator: torch.Generator | None) -> Tensor:
    """The clean input."""
    return x


@register_noise("gaussian")
def _gaussian(x: Tensor, level: float, generator: torch.Generator | None) -> Tensor:
    """Additive isotropic Gaussian noise: x + level * N(0, 1)."""
    if level == 0:
        return x
    return x + level * _draw(torch.randn, x, generator)


@register_noise("masking")
def _masking(x: Tensor, level: float, generator: torch.Generator | None) -> Tensor:
    """Masking noise (Vincent et al. 2008): each input zeroed independently with probability `level`.

    Survivors are not rescaled: the denoiser learns to fill in the zeros, not to undo a gain.
    """
    if not 0.0 <= level <= 1.0:
        raise UserError(f"train.noise_level must lie in [0, 1] for masking noise (a fraction), got {level}")
    if level == 0:
        return x
    keep = _draw(torch.rand, x, generator) >= level
    return x * keep


@register_noise("salt_pepper")
def _salt_pepper(x: Tensor, level: float, generator: torch.Generator | None) -> Tensor:
    """Impulse noise: each input set to 0 or 1 (equally likely) with probability `level` — the bounds of
    images scaled to [0, 1] (``data.normalize: minmax``)."""
    if not 0.0 <= level <= 1.0:
        raise UserError(f"train.noise_level must lie in [0, 1] for salt_pepper noise (a fraction), got {level}")
    if level == 0:
        return x
    hit = _draw(torch.rand, x, generator) < level
    salt = (_draw(torch.rand, x, generator) < 0.5).to(x.dtype)
    return torch.where(hit, salt, x)
