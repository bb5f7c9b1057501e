"""The weight-initialisation registry and ``init_layer``, which every model builder calls per layer.

Each registered init sets a layer's weight (and bias) given the nonlinearity that
follows the layer, in ``torch.nn.init.calculate_gain``'s naming. ``init_layer``
then applies the two config knobs that build failures on purpose:
``model.bias_init`` (a constant on every hidden bias, e.g. -5 for dead ReLUs) and
``model.init_gain`` (a factor on every weight, e.g. 3 for an exploding net).

Fans follow PyTorch's convention (``ConvTranspose2d`` reads fan_in from its
weight's dim 1, the output channels).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from aegrad.config import ModelConfig
from aegrad.models.activations import gain_args
from aegrad.registry import Registry

InitFn = Callable[[nn.Module, str, "float | None"], None]  # (layer, nonlinearity, param) -> None, in place

INITS: Registry[InitFn] = Registry("init")
register_init = INITS.register


def _zero_bias(layer: nn.Module) -> None:
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)


@register_init("default")
def _default(layer: nn.Module, nonlinearity: str, param: float | None) -> None:
    """PyTorch's own ``reset_parameters``: U(+-1/sqrt(fan_in)) weights and biases, whatever follows."""
    layer.reset_parameters()


@register_init("xavier_uniform")
def _xavier_uniform(layer: nn.Module, nonlinearity: str, param: float | None) -> None:
    """Glorot & Bengio 2010: U(+-gain*sqrt(6/(fan_in+fan_out))), gain matched to what follows (sqrt 2 before relu)."""
    nn.init.xavier_uniform_(layer.weight, gain=nn.init.calculate_gain(nonlinearity, param))
    _zero_bias(layer)


@register_init("glorot_uniform")
def _glorot_uniform(layer: nn.Module, nonlinearity: str, param: float | None) -> None:
    """Keras' Dense default (``glorot_uniform``, zero bias): U(+-sqrt(6/(fan_in+fan_out))), gain 1 whatever follows."""
    nn.init.xavier_uniform_(layer.weight, gain=1.0)
    _zero_bias(layer)


@register_init("xavier_normal")
def _xavier_normal(layer: nn.Module, nonlinearity: str, param: float | None) -> None:
    """Glorot & Bengio 2010: N(0, gain^2 * 2/(fan_in+fan_out))."""
    nn.init.xavier_normal_(layer.weight, gain=nn.init.calculate_gain(nonlinearity, param))
    _zero_bias(layer)


@register_init("kaiming_uniform")
def _kaiming_uniform(layer: nn.Module, nonlinearity: str, param: float | None) -> None:
    """He et al. 2015: U(+-gain*sqrt(3/fan_in)), i.e. std gain/sqrt(fan_in)."""
    nn.init.kaiming_uniform_(layer.weight, a=param or 0.0, nonlinearity=nonlinearity)
    _zero_bias(layer)


@register_init("kaiming_normal")
def _kaiming_normal(layer: nn.Module, nonlinearity: str, param: float | None) -> None:
    """He et al. 2015: N(0, gain^2/fan_in)."""
    nn.init.kaiming_normal_(layer.weight, a=param or 0.0, nonlinearity=nonlinearity)
    _zero_bias(layer)


@register_init("orthogonal")
def _orthogonal(layer: nn.Module, nonlinearity: str, param: float | None) -> None:
    """Saxe et al. 2014: a (semi-)orthogonal matrix over the flattened weight, times gain."""
    nn.init.orthogonal_(layer.weight, gain=nn.init.calculate_gain(nonlinearity, param))
    _zero_bias(layer)


@register_init("lecun")
def _lecun(layer: nn.Module, nonlinearity: str, param: float | None) -> None:
    """LeCun et al. 1998: N(0, 1/fan_in) whatever follows (SELU's self-normalising init)."""
    nn.init.kaiming_normal_(layer.weight, nonlinearity="linear")
    _zero_bias(layer)


def list_inits() -> list[str]:
    """The registered init names (equal to ``config.Init``)."""
    return INITS.names()


@torch.no_grad()
def init_layer(layer: nn.Module, cfg: ModelConfig, activation: str | None, *, hidden: bool) -> None:
    """Initialise one linear/conv layer for the activation that follows it.

    `activation` is a registered activation name, or None for no activation (the
    code layer, an identity output). `hidden` marks layers followed by the hidden
    activation: only their biases take ``cfg.bias_init``.
    """
    nonlinearity, param = gain_args(activation, cfg.negative_slope)
    INITS.get(cfg.init)(layer, nonlinearity, param)
    if hidden and cfg.bias_init is not None and layer.bias is not None:
        nn.init.constant_(layer.bias, cfg.bias_init)
    if cfg.init_gain != 1.0:
        layer.weight.mul_(cfg.init_gain)
