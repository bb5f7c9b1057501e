"""Hidden blocks: layer -> optional norm -> activation -> optional dropout, with an optional identity skip.

A block is an ``nn.Sequential`` whose parts are named ``layer``, ``norm``,
``act``, ``drop`` and ``scale`` (absent parts are not registered, so they cost nothing),
in forward order: ``named_modules()`` lists them as they run and forward hooks
on ``block.act`` see the hidden activations.

A residual block computes y = x + f(x) (He et al. 2016, "Deep Residual
Learning"), which gives the gradient an identity path around f. It needs f's
output shape to equal its input's, so it exists only for dense blocks whose
width does not change; strided conv blocks halve the side and never have one.
Its branch f comes in two orders (docs/depth.md):

    post (default)  f(x) = drop(act(norm(W x + b)))      parts: layer, norm, act, drop
    pre             f(x) = drop(W act(norm(x)) + b)      parts: norm, act, layer, drop

pre is the pre-activation block of He et al. 2016 ("Identity Mappings in Deep
Residual Networks", identity skip and after-addition maps): the norm sits inside the branch,
the identity path carries x untouched, and the branch ends in its linear layer,
so a zero ``W, b`` (``branch_init``) makes the block exactly the identity. An
optional last part ``scale`` (``BranchScale``) multiplies the branch:
y = x + a * f(x) (ReZero, LayerScale).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn as nn
from torch import Tensor

from aegrad.models.activations import create_activation
from aegrad.models.norms import get_norm

ResidualStyle = Literal["post", "pre"]


class BranchScale(nn.Module):
    """y = alpha * f: a learned scale on a residual branch, x + alpha * f(x); `alpha` has `shape`, starts at `init`.

    ReZero (Bachlechner et al. 2020, "ReZero is All You Need"): one scalar alpha = 0 at
    initialisation, so every block is the identity and the deep net starts as its shallow skeleton.
    LayerScale (Touvron et al. 2021, "Going deeper with Image Transformers"): diag(gamma), one
    scale per feature, starting small (1e-4 here; the paper uses 0.1 to 1e-6 as depth grows).
    """

    def __init__(self, shape: tuple[int, ...], init: float) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.full(shape, float(init)))

    def forward(self, y: Tensor) -> Tensor:
        return self.alpha * y


# model.branch_scale -> (the scale's shape for a branch of `width` features, its initial value); "none": no scale.
_BRANCH_SCALES: dict[str, Callable[[int, float], tuple[tuple[int, ...], float]]] = {
    "rezero": lambda width, layerscale_init: ((), 0.0),
    "layerscale": lambda width, layerscale_init: ((width,), layerscale_init),
}


def branch_scale(name: str, width: int, layerscale_init: float = 1e-4) -> BranchScale | None:
    """The ``model.branch_scale`` module for a residual branch of `width` features (None for "none")."""
    if name == "none":
        return None
    shape, init = _BRANCH_SCALES[name](width, layerscale_init)
    return BranchScale(shape, init)


class Block(nn.Sequential):
    """``layer -> norm -> act -> drop -> scale`` (each but ``layer`` optional); y = x + f(x) when `residual`.

    `pre` runs ``norm -> act -> layer -> drop -> scale`` (the pre-activation order, residual blocks only).
    """

    def __init__(
        self,
        layer: nn.Module,
        norm: nn.Module | None = None,
        act: nn.Module | None = None,
        drop: nn.Module | None = None,
        residual: bool = False,
        *,
        pre: bool = False,
        scale: nn.Module | None = None,
    ) -> None:
        if pre:
            parts = OrderedDict(norm=norm, act=act, layer=layer, drop=drop, scale=scale)
        else:
            parts = OrderedDict(layer=layer, norm=norm, act=act, drop=drop, scale=scale)
        super().__init__(OrderedDict((k, m) for k, m in parts.items() if m is not None))
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        y = x
        for module in self:
            y = module(y)
        return x + y if self.residual else y


def _parts(
    out_features: int,
    activation: str | None,
    negative_slope: float,
    norm: str,
    dropout: float,
    image: bool,
) -> tuple[nn.Module | None, nn.Module | None, nn.Module | None]:
    norm_module = get_norm(norm).build(out_features, image)
    act = create_activation(activation, out_features, negative_slope) if activation is not None else None
    drop = nn.Dropout(dropout) if dropout > 0 else None
    return norm_module, act, drop


class DenseBlock(Block):
    """``Linear -> norm (BatchNorm1d | LayerNorm) -> act -> dropout``, optionally residual.

    `residual` requires ``in_features == out_features`` (the identity skip needs equal
    shapes). With batch norm after it the linear has no bias: the norm would cancel it.
    `style` "pre" and `scale` (a ``BranchScale``) need `residual`: see the module docstring.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str | None,
        *,
        negative_slope: float = 0.01,
        norm: str = "none",
        dropout: float = 0.0,
        residual: bool = False,
        style: ResidualStyle = "post",
        scale: nn.Module | None = None,
    ) -> None:
        if residual and in_features != out_features:
            raise ValueError(f"a residual dense block needs equal widths, got {in_features} -> {out_features}")
        pre = style == "pre"
        if (pre or scale is not None) and not residual:
            raise ValueError("style='pre' and a branch scale belong to residual blocks (residual=True)")
        bias = pre or not get_norm(norm).cancels_bias  # pre: the norm comes before the linear, not after it
        layer = nn.Linear(in_features, out_features, bias=bias)
        parts = _parts(out_features, activation, negative_slope, norm, dropout, False)
        super().__init__(layer, *parts, residual, pre=pre, scale=scale)


class ConvBlock(Block):
    """``Conv2d (stride 2, padding k//2) -> norm (BatchNorm2d | GroupNorm(1, C)) -> act -> dropout``.

    Never residual: the stride-2 conv halves the side, so input and output shapes differ.
    An H-side input gives floor((H + 2*(k//2) - k) / 2) + 1 (``conv_out_size``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        activation: str | None,
        *,
        negative_slope: float = 0.01,
        norm: str = "none",
        dropout: float = 0.0,
    ) -> None:
        bias = not get_norm(norm).cancels_bias
        layer = nn.Conv2d(in_channels, out_channels, kernel_size, stride=2, padding=kernel_size // 2, bias=bias)
        super().__init__(layer, *_parts(out_channels, activation, negative_slope, norm, dropout, True))


class ConvTransposeBlock(Block):
    """``ConvTranspose2d (stride 2) -> norm -> act -> dropout``: undoes one ``ConvBlock``.

    `output_padding` (0 or 1, ``deconv_output_padding``) makes the output exactly the
    size the matching ``ConvBlock`` took in. Never residual (the side doubles).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        output_padding: int | tuple[int, int],
        activation: str | None,
        *,
        negative_slope: float = 0.01,
        norm: str = "none",
        dropout: float = 0.0,
    ) -> None:
        bias = not get_norm(norm).cancels_bias
        layer = nn.ConvTranspose2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=2,
            padding=kernel_size // 2,
            output_padding=output_padding,
            bias=bias,
        )
        super().__init__(layer, *_parts(out_channels, activation, negative_slope, norm, dropout, True))


def conv_out_size(size: int, kernel_size: int) -> int:
    """Side after a ``ConvBlock``: floor((size + 2*(k//2) - k) / 2) + 1 (ceil(size/2) for odd k)."""
    return (size + 2 * (kernel_size // 2) - kernel_size) // 2 + 1


def deconv_output_padding(size: int, kernel_size: int) -> int:
    """The output_padding (always 0 or 1) that maps ``conv_out_size(size)`` back to exactly `size`.

    A transposed conv gives (n - 1)*2 - 2p + k + output_padding from n; with
    n = floor((size + 2p - k)/2) + 1 that is size or size - 1 before padding.
    """
    n = conv_out_size(size, kernel_size)
    pad = size - ((n - 1) * 2 - 2 * (kernel_size // 2) + kernel_size)
    assert pad in (0, 1), (size, kernel_size, pad)
    return pad
