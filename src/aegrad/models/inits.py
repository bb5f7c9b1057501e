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


# 1 / phi'(0) for the bounded activations: the gain that makes a layer's Jacobian at zero pre-activations exactly the
# orthogonal matrix Q (W = g Q, J = phi'(0) W = Q). tanh'(0) = 1; sigmoid'(0) = 1/4, sigmoid(x) = 1/2 + tanh(x/2)/2.
CRITICAL_GAIN = {"tanh": 1.0, "sigmoid": 4.0}


@register_init("orthogonal_critical")
def _orthogonal_critical(layer: nn.Module, nonlinearity: str, param: float | None) -> None:
    """Orthogonal weights at the critical point (dynamical isometry), zero bias: W = g Q, Q (semi-)orthogonal.

    Saxe et al. 2014 ("Exact solutions to the nonlinear dynamics of learning in deep linear neural
    networks") show orthogonal weights keep every singular value of a deep linear net's input-output
    Jacobian at 1, so depth neither shrinks nor grows the gradient; Pennington, Schoenholz & Ganguli
    2017 ("Resurrecting the sigmoid in deep learning through dynamical isometry") extend it to
    sigmoidal nets at the critical point, sigma_b = 0 and sigma_w = 1 / phi'(0), where the net acts
    on small pre-activations as the linear one does (the edge of chaos, Schoenholz et al. 2017). So
    g = 1 before tanh (tanh'(0) = 1; torch's tanh gain 5/3 is past the critical point, in the chaotic
    phase), g = 4 before sigmoid (sigmoid'(0) = 1/4), 1 before no activation, and calculate_gain's
    otherwise (sqrt 2 before relu, its critical point; ReLU nets have no isometric regime, Pennington
    et al. 2017, so there this is the plain ``orthogonal``). The point is critical for activations
    centred at zero: the logistic sigmoid's mean 1/2 adds g Q 1/2 to every next pre-activation and moves
    the net off it (measured: a depth-16 sigmoid net with this init stays at 1.0x the trivial MSE), so the
    ``orthogonal_critical`` remedy proposes tanh, the centred sigmoid, with it (docs/depth.md).
    """
    gain = CRITICAL_GAIN.get(nonlinearity) or nn.init.calculate_gain(nonlinearity, param)
    nn.init.orthogonal_(layer.weight, gain=gain)
    _zero_bias(layer)


def list_inits() -> list[str]:
    """The registered init names (equal to ``config.Init``)."""
    return INITS.names()


def _zero_branch(layer: nn.Module, blocks: int) -> None:
    """SkipInit / Fixup's zero init (De & Smith 2020; Zhang et al. 2019, "Fixup Initialization", rule 1): the
    branch's last layer starts at W = 0, b = 0, so the residual block x + f(x) is exactly the identity."""
    nn.init.zeros_(layer.weight)
    _zero_bias(layer)


def _depth_branch(layer: nn.Module, blocks: int) -> None:
    """Fixup-style depth scaling: W times L^-1/2, so L blocks add up to O(1) variance, not O(L).

    Fixup (Zhang et al. 2019, rule 2) scales the layers of a branch of m >= 2 layers by L^(-1/(2m-2)); a branch
    here has one layer, and L^-1/2 is the scale GPT-2 puts on its residual projections (Radford et al. 2019)."""
    layer.weight.mul_(blocks ** -0.5)


# model.branch_init -> what it does to a residual branch's last layer after its init ("default": nothing).
BRANCH_INITS: dict[str, Callable[[nn.Module, int], None]] = {
    "default": lambda layer, blocks: None,
    "zero": _zero_branch,
    "depth": _depth_branch,
}


@torch.no_grad()
def init_branch(layer: nn.Module, branch_init: str, blocks: int) -> None:
    """Re-initialise the last layer of a residual branch per ``model.branch_init``, after ``init_layer``.

    `blocks` is L, the residual blocks of the stack the branch belongs to (the encoder's or the decoder's).
    """
    BRANCH_INITS[branch_init](layer, blocks)


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
