"""The activation registry: each name builds an ``nn.Module`` and knows its init gain and family.

Blocks hold their activation as a module (attribute ``act``) so forward hooks can
see it. Each registered activation also says

- which ``torch.nn.init.calculate_gain`` nonlinearity matches it, so kaiming,
  xavier and orthogonal inits scale to it (He et al. 2015, "Delving Deep into
  Rectifiers", eq. 10: Var[w] = 2 / ((1 + a^2) fan_in) for a rectifier of
  negative slope a);
- its family, which the diagnostics read: ``"rectifier"`` units can die (output
  exactly 0 on every sample), ``"bounded"`` units can saturate at their bounds,
  ``"smooth"`` ones do neither in a way worth flagging.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch.nn as nn

from aegrad.registry import Registry

Family = Literal["rectifier", "bounded", "smooth"]
Builder = Callable[[int, float], nn.Module]  # (num_features, negative_slope) -> module


@dataclass(frozen=True)
class ActivationSpec:
    name: str
    build: Builder  # (num_features, negative_slope) -> a fresh module
    module: type[nn.Module]  # the class `build` returns; how a module found in a model is recognised
    nonlinearity: str  # calculate_gain's name: relu, leaky_relu, tanh, sigmoid, selu or linear
    family: Family
    bounds: tuple[float, float] | None = None  # output range of a bounded activation


ACTIVATIONS: Registry[ActivationSpec] = Registry("activation")


def register_activation(
    name: str,
    *,
    module: type[nn.Module],
    nonlinearity: str,
    family: Family,
    bounds: tuple[float, float] | None = None,
) -> Callable[[Builder], Builder]:
    """Register a builder ``(num_features, negative_slope) -> nn.Module`` under `name`."""

    def deco(build: Builder) -> Builder:
        ACTIVATIONS.register(name)(ActivationSpec(name, build, module, nonlinearity, family, bounds))
        return build

    return deco


# Modules are never in-place: a hook holding the pre-activation tensor must not see it overwritten.


@register_activation("sigmoid", module=nn.Sigmoid, nonlinearity="sigmoid", family="bounded", bounds=(0.0, 1.0))
def _sigmoid(num_features: int, negative_slope: float) -> nn.Module:
    return nn.Sigmoid()


@register_activation("tanh", module=nn.Tanh, nonlinearity="tanh", family="bounded", bounds=(-1.0, 1.0))
def _tanh(num_features: int, negative_slope: float) -> nn.Module:
    return nn.Tanh()


@register_activation("relu", module=nn.ReLU, nonlinearity="relu", family="rectifier")
def _relu(num_features: int, negative_slope: float) -> nn.Module:
    return nn.ReLU()


@register_activation("leaky_relu", module=nn.LeakyReLU, nonlinearity="leaky_relu", family="rectifier")
def _leaky_relu(num_features: int, negative_slope: float) -> nn.Module:
    return nn.LeakyReLU(negative_slope)


@register_activation("prelu", module=nn.PReLU, nonlinearity="leaky_relu", family="rectifier")
def _prelu(num_features: int, negative_slope: float) -> nn.Module:
    # One learned slope per unit (dense) or per channel (conv), starting at model.negative_slope
    # (He et al. 2015 start at 0.25; the config's default 0.01 starts PReLU as a leaky ReLU).
    # The slopes are 1-D parameters: penalties that skip biases and norm parameters by ndim skip
    # them too, as the paper advises (no weight decay on the slopes).
    return nn.PReLU(num_parameters=num_features, init=negative_slope)


@register_activation("elu", module=nn.ELU, nonlinearity="linear", family="smooth")
def _elu(num_features: int, negative_slope: float) -> nn.Module:
    return nn.ELU()


@register_activation("selu", module=nn.SELU, nonlinearity="selu", family="smooth")
def _selu(num_features: int, negative_slope: float) -> nn.Module:
    return nn.SELU()


@register_activation("gelu", module=nn.GELU, nonlinearity="linear", family="smooth")
def _gelu(num_features: int, negative_slope: float) -> nn.Module:
    return nn.GELU()


@register_activation("silu", module=nn.SiLU, nonlinearity="linear", family="smooth")
def _silu(num_features: int, negative_slope: float) -> nn.Module:
    return nn.SiLU()


def list_activations() -> list[str]:
    """The registered activation names (equal to ``config.Activation``)."""
    return ACTIVATIONS.names()


def get_activation(name: str) -> ActivationSpec:
    return ACTIVATIONS.get(name)


def create_activation(name: str, num_features: int, negative_slope: float = 0.01) -> nn.Module:
    """A fresh activation module; `num_features` sizes PReLU's per-unit slopes."""
    return ACTIVATIONS.get(name).build(num_features, negative_slope)


def gain_args(activation: str | None, negative_slope: float = 0.01) -> tuple[str, float | None]:
    """``(nonlinearity, param)`` for ``torch.nn.init``; ``None`` (no activation) is ``("linear", None)``."""
    if activation is None:
        return "linear", None
    nonlinearity = ACTIVATIONS.get(activation).nonlinearity
    return nonlinearity, (negative_slope if nonlinearity == "leaky_relu" else None)


def activation_gain(activation: str | None, negative_slope: float = 0.01) -> float:
    """``torch.nn.init.calculate_gain`` for the activation (relu: sqrt(2), tanh: 5/3, None: 1)."""
    return nn.init.calculate_gain(*gain_args(activation, negative_slope))


def activation_family(module: nn.Module) -> tuple[Family, tuple[float, float] | None] | None:
    """``(family, bounds)`` when `module` is a registered activation (any model's), else None.

    ``("rectifier", None)`` for relu/leaky_relu/prelu (dead-unit checks),
    ``("bounded", (lo, hi))`` for sigmoid/tanh (saturation checks), ``("smooth", None)`` otherwise.
    """
    for name in ACTIVATIONS.names():
        spec = ACTIVATIONS.get(name)
        if isinstance(module, spec.module):
            return spec.family, spec.bounds
    return None
