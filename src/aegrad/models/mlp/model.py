"""The dense autoencoder: flattened input -> hidden widths -> linear code -> mirrored widths -> output.

With widths [w1..wk], latent L and input dimension D (n = k + 1 stages):

    encoder: Dense(D->w1, act), ..., Dense(w_{k-1}->wk, act), Linear(wk->L)          (the code z)
    decoder: Dense(L->wk, act), ..., Dense(w2->w1, act), Linear(w1->D) [-> output act]

``decoder_blocks[n-1-i]`` maps ``encoder_blocks[i]``'s output back to its input.
The source document's program (widths [32], latent 100, relu, identity output on
100 inputs) is exactly Dense(32, relu) -> Dense(100) twice.

``model.residual`` puts an identity skip on every hidden block whose input and
output widths are equal: with ``depth`` x ``width`` that is every hidden->hidden
block; blocks that change width (D->w1, L->wk, and between unequal widths) and
the code and output layers never have one. ``model.residual_style``, ``branch_scale`` and
``branch_init`` shape those residual blocks (models/blocks.py, docs/depth.md); the blocks that
change width stay plain ``layer -> norm -> act``.
"""

from __future__ import annotations

import math

import torch.nn as nn
from torch import Tensor

from aegrad.config import ModelConfig
from aegrad.models.activations import create_activation
from aegrad.models.base import Autoencoder, register_model
from aegrad.models.blocks import Block, DenseBlock, branch_scale
from aegrad.models.inits import init_branch, init_layer
from aegrad.models.variational.model import make_variational


def _hidden(cfg: ModelConfig, n_in: int, n_out: int) -> DenseBlock:
    residual = cfg.residual and n_in == n_out
    block = DenseBlock(
        n_in,
        n_out,
        cfg.activation,
        negative_slope=cfg.negative_slope,
        norm=cfg.norm,
        dropout=cfg.dropout,
        residual=residual,
        style=cfg.residual_style if residual else "post",
        scale=branch_scale(cfg.branch_scale, n_out, cfg.layerscale_init) if residual else None,
    )
    init_layer(block.layer, cfg, cfg.activation, hidden=True)
    if residual:
        init_branch(block.layer, cfg.branch_init, cfg.residual_blocks())
    return block


def output_head(cfg: ModelConfig, layer: nn.Module) -> nn.Module:
    """The reconstruction layer: bare for ``output: identity``, else ``Block(layer, act=<output>)``."""
    activation = None if cfg.output == "identity" else cfg.output
    init_layer(layer, cfg, activation, hidden=False)
    if activation is None:
        return layer
    return Block(layer, act=create_activation(activation, 1, cfg.negative_slope))


class MLPAutoencoder(Autoencoder):
    """Dense stages on the flattened sample (see the module docstring for the layout)."""

    def to_blocks(self, x: Tensor) -> Tensor:
        return x.flatten(1)

    def from_blocks(self, y: Tensor) -> Tensor:
        return y.unflatten(1, self.sample_shape)


@register_model("mlp")
def mlp(cfg: ModelConfig, sample_shape: tuple[int, ...]) -> MLPAutoencoder:
    if cfg.variational:  # the VAE of these stages (models/variational.py)
        return make_variational(mlp, cfg, sample_shape)
    dims = [math.prod(sample_shape), *cfg.hidden_widths()]
    encoder: list[nn.Module] = [_hidden(cfg, a, b) for a, b in zip(dims[:-1], dims[1:])]
    code = nn.Linear(dims[-1], cfg.latent)
    init_layer(code, cfg, None, hidden=False)
    encoder.append(code)

    back = [cfg.latent, *reversed(dims[1:])]  # latent, wk, ..., w1
    decoder: list[nn.Module] = [_hidden(cfg, a, b) for a, b in zip(back[:-1], back[1:])]
    decoder.append(output_head(cfg, nn.Linear(dims[1], dims[0])))
    return MLPAutoencoder(encoder, decoder, sample_shape)
