"""The activation registry: each name builds an ``nn.Module`` and knows its init gain and family.

Blocks hold their activation as a module (attribute ``act``) so forward hooks can
see it. Each registered activation also says

- which ``torch.nn.init.calculate_gain`` nonlinearity matches it, so kaiming,
  xavier and orthogonal inits scale to it (He et al. 2015, "Delving Deep into
  Rectifiers", eq. 10: Var[w] = 2 / ((1 + a^2) fan_in) for a rectifier of
  negative slope a);
- its family, which the remedies read: ``"rectifier"`` units can die (output
  exactly 0 on every sample), ``"bounded"`` units can saturate at their bounds,
  ``"smooth"`` ones do neither in a way worth flagging;
- its unit kind, which the gradient monitor's statistics and detectors read (`Unit`).

These declarations are the one table of activation families: diagnose/stats.py,
diagnose/findings.py, diagnose/remedies.py and the dense step read them from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch.nn as nn

from aegrad.registry import Registry

Family = Literal["rectifier", "bounded", "smooth"]
# What the gradient monitor measures on an activation's units (diagnose/stats.py), and the
# "family" field of gradients.jsonl's activation entries:
#   relu    — zero output and zero gradient below 0: a unit that is never positive is dead.
#   leaky   — a nonzero response below 0: "dead" counts units never positive (inactive),
#             but their gradient is only scaled down, so they are not reported as dead.
#   sigmoid — bounded in (0, 1): units near a bound are saturated (σ' ≤ 0.0099 there).
#   tanh    — bounded in (-1, 1): units near ±1 are saturated (tanh' ≤ 0.0199 there).
Unit = Literal["relu", "leaky", "sigmoid", "tanh"]
UNBOUNDED_UNITS: tuple[Unit, ...] = ("relu", "leaky")  # their dead (never positive) fraction is measured
DYING_UNITS: tuple[Unit, ...] = ("relu",)  # a dead unit has zero gradient too: it never recovers
SATURATING_UNITS: tuple[Unit, ...] = ("sigmoid", "tanh")  # their share near a bound is measured
Builder = Callable[[int, float], nn.Module]  # (num_features, negative_slope) -> module


@dataclass(frozen=True)
class ActivationSpec:
    name: str
    build: Builder  # (num_features, negative_slope) -> a fresh module
    module: type[nn.Module]  # the class `build` returns; how a module found in a model is recognised
    nonlinearity: str  # calculate_gain's name: relu, leaky_relu, tanh, sigmoid, selu or linear
    family: Family
    unit: Unit  # what the monitor measures on its units
    bounds: tuple[float, float] | None = None  # output range of a bounded activation


ACTIVATIONS: Registry[ActivationSpec] = Registry("activation")


def register_activation(
    name: str,
    *,
    module: type[nn.Module],
    nonlinearity: str,
    family: Family,
    unit: Unit,
    bounds: tuple[float, float] | None = None,
) -> Callable[[Builder], Builder]:
    """Register a builder ``(num_features, negative_slope) -> nn.Module`` under `name`."""

    def deco(build: Builder) -> Builder:
        ACTIVATIONS.register(name)(ActivationSpec(name, build, module, nonlinearity, family, unit, bounds))
        return build

    return deco


# Modules are never in-place: a hook holding the pre-activation tensor must not see it overwritten.


@register_activation(
    "sigmoid", module=nn.Sigmoid, nonlinearity="sigmoid", family="bounded", unit="sigmoid", bounds=(0.0, 1.0)
)
def _sigmoid(num_features: int, negative_slope: float) -> nn.Module:
    return nn.Sigmoid()


@register_activation(
    "tanh", module=nn.Tanh, nonlinearity="tanh", family="bounded", unit="tanh", bounds=(-1.0, 1.0)
)
def _tanh(num_features: int, negative_slope: float) -> nn.Module:
    return nn.Tanh()


@register_activation("relu", module=nn.ReLU, nonlinearity="relu", family="rectifier", unit="relu")
def _relu(num_features: int, negative_slope: float) -> nn.Module:
    return nn.ReLU()


@register_activation("leaky_relu", module=nn.LeakyReLU, nonlinearity="leaky_relu", family="rectifier", unit="leaky")
def _leaky_relu(num_features: int, negative_slope: float) -> nn.Module:
    return nn.LeakyReLU(negative_slope)


@register_activation("prelu", module=nn.PReLU, nonlinearity="leaky_relu", family="rectifier", unit="leaky")
def _prelu(num_features: int, negative_slope: float) -> nn.Module:
    # One learned slope per unit (dense) or per channel (conv), starting at model.negative_slope
    # (He et al. 2015 start at 0.25; the config's default 0.01 starts PReLU as a leaky ReLU).
    # The slopes are 1-D parameters: penalties that skip biases and norm parameters by ndim skip
    # them too, as the paper advises (no weight decay on the slopes).
    return nn.PReLU(num_parameters=num_features, init=negative_slope)


@register_activation("elu", module=nn.ELU, nonlinearity="linear", family="smooth", unit="leaky")
def _elu(num_features: int, negative_slope: float) -> nn.Module:
    return nn.ELU()


@register_activation("selu", module=nn.SELU, nonlinearity="selu", family="smooth", unit="leaky")
def _selu(num_features: int, negative_slope: float) -> nn.Module:
    return nn.SELU()


@register_activation("gelu", module=nn.GELU, nonlinearity="linear", family="smooth", unit="leaky")
def _gelu(num_features: int, negative_slope: float) -> nn.Module:
    return nn.GELU()


@register_activation("silu", module=nn.SiLU, nonlinearity="linear", family="smooth", unit="leaky")
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


# Activation modules aegrad builds none of but the monitor recognises in anyone's model.
RECOGNISED_MODULES: dict[type[nn.Module], Unit] = {nn.ReLU6: "relu", nn.CELU: "leaky", nn.Mish: "leaky"}


def activation_names(family: Family | None = None, unit: Unit | None = None) -> tuple[str, ...]:
    """Registered activation names of a family and/or unit kind: ``activation_names(family="bounded")``."""
    specs = (ACTIVATIONS.get(n) for n in ACTIVATIONS.names())
    return tuple(s.name for s in specs if (family is None or s.family == family) and (unit is None or s.unit == unit))


def activation_name(module: nn.Module) -> str | None:
    """The registered name of an activation module (nn.LeakyReLU -> "leaky_relu"), else None."""
    for name in ACTIVATIONS.names():
        if isinstance(module, ACTIVATIONS.get(name).module):
            return name
    return None


def activation_unit(module: nn.Module) -> Unit | None:
    """The unit kind of any activation module (registered or in RECOGNISED_MODULES, subclasses too), else None."""
    units = {ACTIVATIONS.get(n).module: ACTIVATIONS.get(n).unit for n in ACTIVATIONS.names()} | RECOGNISED_MODULES
    for cls in type(module).__mro__:
        if cls in units:
            return units[cls]
    return None


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
