"""The normalisation registry: ``model.norm`` names a layer placed after each hidden linear/conv."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn as nn

from aegrad.registry import Registry

NormBuilder = Callable[[int, bool], "nn.Module | None"]  # (num_features, image) -> module or None


@dataclass(frozen=True)
class NormSpec:
    name: str
    build: NormBuilder
    # Batch norm subtracts each unit's batch mean, so a bias before it gets exactly zero gradient:
    # such layers are built without one (a frozen zero-gradient parameter would read as "vanishing").
    cancels_bias: bool


NORMS: Registry[NormSpec] = Registry("norm")


def register_norm(name: str, *, cancels_bias: bool = False) -> Callable[[NormBuilder], NormBuilder]:
    def deco(build: NormBuilder) -> NormBuilder:
        NORMS.register(name)(NormSpec(name, build, cancels_bias))
        return build

    return deco


@register_norm("none")
def _none(num_features: int, image: bool) -> nn.Module | None:
    return None


@register_norm("batch", cancels_bias=True)
def _batch(num_features: int, image: bool) -> nn.Module | None:
    """Ioffe & Szegedy 2015: per-unit (dense) or per-channel (conv) batch statistics."""
    return nn.BatchNorm2d(num_features) if image else nn.BatchNorm1d(num_features)


@register_norm("layer")
def _layer(num_features: int, image: bool) -> nn.Module | None:
    """Ba et al. 2016: per-sample statistics; for feature maps GroupNorm(1, C) over (C, H, W)."""
    return nn.GroupNorm(1, num_features) if image else nn.LayerNorm(num_features)


def list_norms() -> list[str]:
    """The registered norm names (equal to ModelConfig.norm's choices)."""
    return NORMS.names()


def get_norm(name: str) -> NormSpec:
    return NORMS.get(name)
