"""Regularisers as pure functions: weight penalties, a sparse-code penalty, and input corruption.

- ``weight_penalty``: L1 and L2 on weights, as loss terms (their gradients flow
  through the optimizer, unlike decoupled weight decay in ``optim``).
- ``latent_l1``: an L1 activity penalty on the code z (a sparse autoencoder,
  Ranzato et al. 2007; Goodfellow et al. "Deep Learning" 14.2.1).
- ``corrupt``: input noise for a denoising autoencoder (Vincent et al. 2008),
  one registered function per ``train.noise`` kind.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from aegrad.errors import UserError
from aegrad.registry import Registry

_WEIGHT_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)  # _ConvNd covers Conv1-3d and ConvTranspose1-3d


def split_weights(module: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(weights, others) among the trainable parameters of `module`, each listed once.

    Weights are the dim >= 2 ``weight`` of Linear and (transposed) Conv layers;
    others are biases, normalisation scales and shifts, PReLU slopes and any
    other parameter. Penalties and weight decay apply to weights only.
    """
    weights: list[nn.Parameter] = []
    others: list[nn.Parameter] = []
    seen: set[int] = set()
    for mod in module.modules():
        for name, p in mod.named_parameters(recurse=False):
            if id(p) in seen or not p.requires_grad:
                continue
            seen.add(id(p))
            is_weight = isinstance(mod, _WEIGHT_LAYERS) and name == "weight" and p.dim() >= 2
            (weights if is_weight else others).append(p)
    return weights, others


def weight_penalty(model: nn.Module, l1: float, l2: float, *, include_all: bool = False) -> dict[str, Tensor]:
    """``{"l1": l1 * sum|w|, "l2": 0.5 * l2 * sum w^2}`` over the weights (all parameters if `include_all`).

    Their gradients are l1 * sign(w) and l2 * w. A zero coefficient gives a
    constant zero (no graph, no work), so the loop may call this every step.
    """
    weights, others = split_weights(model)
    params = weights + others if include_all else weights
    ref = next(iter(model.parameters()), None)
    zero = torch.zeros((), device=ref.device if ref is not None else None)
    out = {"l1": zero, "l2": zero}
    if l1 and params:
        out["l1"] = l1 * torch.stack([p.abs().sum() for p in params]).sum()
    if l2 and params:
        out["l2"] = 0.5 * l2 * torch.stack([p.square().sum() for p in params]).sum()
    return out


def latent_l1(z: Tensor, coef: float) -> Tensor:
    """coef * (1/N) * sum_n sum_j |z_nj|: the L1 norm of each code, averaged over the batch.

    The batch mean makes the coefficient independent of the batch size; the sum
    over code units makes the penalty each code's L1 norm, as in sparse coding
    (so it is not rescaled when the latent width changes).
    """
    if not coef:
        return torch.zeros((), device=z.device, dtype=z.dtype)
    return coef * z.abs().sum() / z.shape[0]


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
