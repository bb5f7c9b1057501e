"""Pure gradient and activation statistics: tensors in, tensors out, no state, no schedule.

`GradientMonitor` (monitor.py) is a thin stateful wrapper over these functions; they are
also usable on their own (`layer_grad_stats(model)` after any backward) and are tested
against plain autograd.

Underflow. The weight gradients of a deep sigmoid net reach 1e-25 and below (×0.14 per
layer, Glorot & Bengio 2010). A float32 two-norm squares its elements, and squares below
~1e-38 underflow, so ``torch._foreach_norm`` on float32 returns exactly 0 for such a tensor
(checked: a 256×256 tensor of N(0,1)·1e-25 gives 0.0); symmetric overflow turns finite
gradients above ~1e19 into ``inf``. ``tensor_norms(..., precise=True)`` accumulates in
float64 (``_foreach_norm(dtype=float64)``), which is exact over that range but costs
~4× the float32 pass on CPU; the monitor therefore uses it only for layers whose gradients
are near either edge (see `needs_precise`).
"""

from __future__ import annotations

import math
from typing import NamedTuple, get_args

import torch
from torch import Tensor, nn

from aegrad.models.activations import UNBOUNDED_UNITS, Unit, activation_unit

# Parameterised layers whose weight gradients are tracked, found by type in named_modules order.
PARAM_LAYER_TYPES: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)

# The order of the values `activation_stats` returns (and of the monitor's device buffers).
ACTIVATION_FIELDS: tuple[str, ...] = ("mean", "std", "dead", "saturated")

# A unit value is saturated when it lies within 1% of a bound of its activation: sigmoid
# y < 0.01 or y > 0.99, tanh |y| > 0.99. There the derivative has fallen to under 4% (sigmoid)
# or 2% (tanh) of its maximum — the regime Glorot & Bengio (2010, §3) show stalling training.
SATURATION_MARGIN = 0.01

# Gradient RMS outside [PRECISE_BELOW_RMS, ...] or norms above PRECISE_ABOVE_NORM switch a layer
# to the float64 norm. float32 squares underflow below |g| ≈ 1e-19 and overflow above ≈ 1e19;
# both limits leave 8–9 orders of magnitude of margin for the gradient to move within a window.
PRECISE_BELOW_RMS = 1e-10
PRECISE_ABOVE_NORM = 1e15


class RecurrentWeight(NamedTuple):
    """One weight matrix of a torch recurrent layer, standing in for a layer: it has ``.weight`` as a Linear has."""

    weight: Tensor


def param_layers(model: nn.Module) -> list[tuple[str, nn.Module | RecurrentWeight]]:
    """(name, layer) of every Linear/Conv* layer with a weight, in named_modules (≈ forward) order.

    A torch ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` holds no ``.weight`` but one matrix per layer
    and direction (``weight_ih_l0``, ``weight_hh_l0``, ``weight_ih_l0_reverse``, ...): each is
    its own entry, named ``<module>.<parameter>`` (``rnn.weight_hh_l0``).
    """
    out: list[tuple[str, nn.Module | RecurrentWeight]] = []
    for name, m in model.named_modules():
        if isinstance(m, PARAM_LAYER_TYPES) and isinstance(getattr(m, "weight", None), Tensor):
            out.append((name, m))
        elif isinstance(m, nn.RNNBase):
            out.extend((f"{name}.{p}" if name else p, RecurrentWeight(w))
                       for p, w in m.named_parameters(recurse=False) if p.startswith("weight_"))
    return out


def activation_family(module: nn.Module) -> str | None:
    """The statistics family of an activation module ("relu", "leaky", "sigmoid", "tanh"), or None.

    The families are declared once, with the activation registry (models/activations.py `Unit`).
    """
    return activation_unit(module)


def activation_modules(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """(name, module, family) of every recognised activation module, in named_modules order."""
    out = []
    for name, m in model.named_modules():
        family = activation_family(m)
        if family is not None:
            out.append((name, m, family))
    return out


def tensor_norms(tensors: list[Tensor], precise: bool = False) -> Tensor:
    """Two-norms of `tensors` as one float64 vector on their device, with no host sync.

    precise=False is one float32 ``_foreach_norm`` pass (exact unless |g| < ~1e-19 or > ~1e19);
    precise=True accumulates in float64 and cannot underflow or overflow for float32 inputs.
    """
    if not tensors:
        return torch.zeros(0, dtype=torch.float64)
    if precise:
        norms = torch._foreach_norm(tensors, 2, dtype=torch.float64)
    else:
        norms = torch._foreach_norm(tensors, 2)
    return torch.stack(norms).to(torch.float64)


def needs_precise(norm_min: float, norm_max: float, numel: int) -> bool:
    """Whether a layer whose window norms spanned [norm_min, norm_max] needs the float64 norm."""
    if not (math.isfinite(norm_min) and math.isfinite(norm_max)):
        return True
    return norm_min / math.sqrt(numel) < PRECISE_BELOW_RMS or norm_max > PRECISE_ABOVE_NORM


def layer_grad_stats(model: nn.Module) -> dict[str, dict[str, float]]:
    """Per parameterised layer, in forward order: grad_norm, grad_rms, weight_norm and numel of its weight.

    grad_rms = ‖g‖/√numel, comparable across layers of different size. A layer whose weight has
    no gradient reports 0. Norms accumulate in float64 (no underflow); this syncs once.
    """
    layers = param_layers(model)
    weights = [m.weight.detach() for _, m in layers]
    grads = [w.grad.detach() if w.grad is not None else torch.zeros_like(w) for w in (m.weight for _, m in layers)]
    g = tensor_norms(grads, precise=True).tolist()
    w = tensor_norms(weights, precise=True).tolist()
    out = {}
    for (name, _), gn, wn, t in zip(layers, g, w, weights):
        out[name] = {"grad_norm": gn, "grad_rms": gn / math.sqrt(t.numel()), "weight_norm": wn, "numel": t.numel()}
    return out


def update_ratios(before: list[Tensor], after: list[Tensor]) -> Tensor:
    """‖after − before‖ / ‖before‖ per tensor, float64 on device: the relative size of one update.

    The common health heuristic puts this near 1e-3 per step (Karpathy, CS231n notes,
    "ratio of weights:updates").
    """
    diffs = torch._foreach_sub(after, before)
    return tensor_norms(diffs, precise=True) / tensor_norms(before, precise=True)


def _unit_max(y: Tensor) -> Tensor:
    """Per unit, the largest value over the batch: a feature for (B, F), a channel for (B, C, ...)."""
    if y.ndim <= 1:
        return y.reshape(-1)
    if y.ndim == 2:
        return y.amax(dim=0)
    dims = [0, *range(2, y.ndim)]
    return y.amax(dim=dims)


def activation_stats(y: Tensor, family: str) -> dict[str, Tensor]:
    """Statistics of one activation output, as 0-d float32 tensors on its device (no host sync).

    mean, std   over every element of the batch.
    dead        relu/leaky families: fraction of units whose output is ≤ 0 for every sample of
                the batch (a unit is a feature of a (B, F) output, a channel of a (B, C, ...) one;
                ≥3-d outputs follow PyTorch's channels-first convention). NaN for other families.
    saturated   sigmoid/tanh: fraction of unit values within SATURATION_MARGIN of a bound,
                averaged over the batch (i.e. over all elements). NaN for other families.
    """
    y = y.detach().float()
    nan = torch.full((), float("nan"), device=y.device)
    dead = saturated = nan
    if family in UNBOUNDED_UNITS:
        dead = (_unit_max(y) <= 0).float().mean()
    elif family == "sigmoid":
        saturated = ((y < SATURATION_MARGIN) | (y > 1.0 - SATURATION_MARGIN)).float().mean()
    elif family == "tanh":
        saturated = (y.abs() > 1.0 - SATURATION_MARGIN).float().mean()
    else:
        raise ValueError(f"unknown activation family {family!r}; valid: {', '.join(get_args(Unit))}")
    std = y.std() if y.numel() > 1 else torch.zeros((), device=y.device)
    return {"mean": y.mean(), "std": std, "dead": dead, "saturated": saturated}
