"""Weight penalties as pure functions: L1 and L2 on weights, as loss terms.

Their gradients flow through the optimizer, unlike decoupled weight decay in ``optim``.
The sparse-code penalty is an objective (``aegrad.objectives.latent_l1``); input
corruption is data (``aegrad.data.noise``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

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
