"""The convolutional autoencoder for image samples (C, H, W).

With channels [c1..ck], latent L (n = k + 1 stages):

    encoder: Conv(C->c1), ..., Conv(c_{k-1}->ck)  [stride 2, each halving the side],
             Flatten -> Linear(ck*h*w -> L)                                     (the code z)
    decoder: Dense(L -> ck*h*w, act) -> Unflatten, ConvT(ck->c_{k-1}), ..., ConvT(c1->C) [-> output act]

Every transposed conv's output_padding is chosen so its output is exactly the
size its mirror conv took in (28 -> 14 -> 7 -> 14 -> 28; 7 -> 4 -> 7), so the
reconstruction has the input's shape for any side, odd or even, and stage pairs
``decoder_blocks[n-1-i] o encoder_blocks[i]`` preserve shape (layer-wise pretraining).

No block has a residual skip: stride-2 convs change the shape, and so does the
dense stage around the code (unless L happened to equal ck*h*w).
"""

from __future__ import annotations

from collections import OrderedDict

import torch.nn as nn

from aegrad.config import ModelConfig
from aegrad.errors import UserError
from aegrad.models.base import Autoencoder, register_model
from aegrad.models.blocks import ConvBlock, ConvTransposeBlock, DenseBlock, conv_out_size, deconv_output_padding
from aegrad.models.inits import init_layer
from aegrad.models.mlp.model import output_head
from aegrad.models.variational.model import make_variational


class ConvAutoencoder(Autoencoder):
    """Strided conv stages and a dense code (see the module docstring for the layout)."""


@register_model("conv")
def conv(cfg: ModelConfig, sample_shape: tuple[int, ...]) -> ConvAutoencoder:
    if cfg.variational:  # the VAE of these stages (models/variational.py)
        return make_variational(conv, cfg, sample_shape)
    if len(sample_shape) != 3:
        raise UserError(
            f"model.kind=conv needs image samples shaped (C, H, W), got sample shape {sample_shape}; "
            "use model.kind=mlp for this data"
        )
    if not cfg.channels:
        raise UserError("model.channels must list at least one stage for model.kind=conv")
    k = cfg.kernel_size
    c_in, h, w = sample_shape
    chans = [c_in, *cfg.channels]
    sides = [(h, w)]
    for _ in cfg.channels:
        sides.append((conv_out_size(sides[-1][0], k), conv_out_size(sides[-1][1], k)))
    common = dict(negative_slope=cfg.negative_slope, norm=cfg.norm, dropout=cfg.dropout)

    encoder: list[nn.Module] = []
    for a, b in zip(chans[:-1], chans[1:]):
        block = ConvBlock(a, b, k, cfg.activation, **common)
        init_layer(block.layer, cfg, cfg.activation, hidden=True)
        encoder.append(block)
    last = (chans[-1], *sides[-1])
    flat = last[0] * last[1] * last[2]
    code = nn.Linear(flat, cfg.latent)
    init_layer(code, cfg, None, hidden=False)
    encoder.append(nn.Sequential(OrderedDict(flatten=nn.Flatten(), layer=code)))

    dense = DenseBlock(cfg.latent, flat, cfg.activation, residual=cfg.residual and cfg.latent == flat, **common)
    init_layer(dense.layer, cfg, cfg.activation, hidden=True)
    decoder: list[nn.Module] = [nn.Sequential(OrderedDict(dense=dense, unflatten=nn.Unflatten(1, last)))]
    for i in range(len(cfg.channels), 0, -1):  # undo encoder stage i-1: chans[i] -> chans[i-1], sides[i] -> sides[i-1]
        (ho, wo) = sides[i - 1]
        pads = (deconv_output_padding(ho, k), deconv_output_padding(wo, k))
        if i > 1:
            block = ConvTransposeBlock(chans[i], chans[i - 1], k, pads, cfg.activation, **common)
            init_layer(block.layer, cfg, cfg.activation, hidden=True)
            decoder.append(block)
        else:
            layer = nn.ConvTranspose2d(chans[1], chans[0], k, stride=2, padding=k // 2, output_padding=pads)
            decoder.append(output_head(cfg, layer))
    return ConvAutoencoder(encoder, decoder, sample_shape)
