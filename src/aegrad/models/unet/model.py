"""The U-Net autoencoder: conv stages whose features skip to the mirror decoder stage (no bottleneck).

A bottleneck caps what any autoencoder reconstructs, and so what a denoiser built
on one can reach on lightly corrupted images (measured: a conv autoencoder with a
128-unit code stays at ~21 dB on clean Fashion-MNIST, below non-local means at
sigma 0.1). Skip connections remove the cap (Ronneberger et al. 2015, "U-Net"):
each decoder stage also reads its mirror encoder stage's features, the source
document's "network structure and skip connections" remedy. With channels
[c1..ck] (n = k stages each side), sides s_0 = (H, W), s_i = ``conv_out_size``(s_{i-1}):

    encoder: f_1 = Conv_1(C->c1, stride 1)(x)                     at s_0
             f_i = Conv_2(c_{i-1}->c_i, stride 2)(f_{i-1})        at s_{i-1}, i = 2..k
    decoder: h_k = f_k
             h_i = Conv_1(2c_i->c_i)(cat(ConvT(c_{i+1}->c_i)(h_{i+1}), f_i)),  i = k-1..1
             r   = Conv_1(c1->C)(h_1)  [-> output act]

(Conv_1: stride 1, "same" padding; every hidden conv is a ``Block``: layer -> norm
-> act -> dropout.) ``model.predict_noise`` makes the output residual, x_hat = x - r:
the net predicts the noise, DnCNN's residual learning (Zhang et al. 2017, "Beyond a
Gaussian Denoiser"), whose identity path also carries the gradient (He et al. 2016).

The code is everything the decoder reads: ``encode(x)`` concatenates the flattened
features f_1..f_k (and x itself when predicting noise), so ``decode(encode(x))``
equals ``forward(x)["x_hat"]`` and the code is larger than the image: this family
denoises and reconstructs, it does not compress (``model.latent`` is not used).
Layer-wise pretraining does not apply (a decoder stage needs its skip input), nor
does ``model.variational``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch import Tensor

from aegrad.config import ModelConfig
from aegrad.errors import UserError
from aegrad.models.activations import create_activation
from aegrad.models.base import Autoencoder, register_model
from aegrad.models.blocks import (
    Block,
    ConvBlock,
    ConvTransposeBlock,
    conv_out_size,
    deconv_output_padding,
)
from aegrad.models.inits import init_layer
from aegrad.models.mlp.model import output_head
from aegrad.models.norms import get_norm


def same_conv_block(cfg: ModelConfig, c_in: int, c_out: int) -> Block:
    """``Conv2d(stride 1, "same" padding) -> norm -> act -> dropout``, initialised for `cfg.activation`."""
    spec = get_norm(cfg.norm)
    layer = nn.Conv2d(c_in, c_out, cfg.kernel_size, padding="same", bias=not spec.cancels_bias)
    block = Block(
        layer,
        spec.build(c_out, True),
        create_activation(cfg.activation, c_out, cfg.negative_slope),
        nn.Dropout(cfg.dropout) if cfg.dropout > 0 else None,
    )
    init_layer(layer, cfg, cfg.activation, hidden=True)
    return block


class UpStage(nn.Module):
    """One decoder stage: upsample the deeper features, concatenate the skip, merge: ``merge(cat(up(h), skip))``."""

    def __init__(self, up: nn.Module, merge: nn.Module) -> None:
        super().__init__()
        self.up = up  # registered before merge: named_modules() order is forward order
        self.merge = merge

    def forward(self, h: Tensor, skip: Tensor) -> Tensor:
        return self.merge(torch.cat([self.up(h), skip], dim=1))


class UNetAutoencoder(Autoencoder):
    """Encoder stages, decoder stages reading their mirror's features, an optional residual output
    (module docstring)."""

    def __init__(
        self,
        encoder_blocks: list[nn.Module],
        decoder_blocks: list[nn.Module],
        sample_shape: tuple[int, ...],
        feature_shapes: list[tuple[int, ...]],
        predict_noise: bool,
    ) -> None:
        super().__init__(encoder_blocks, decoder_blocks, sample_shape)
        self.predict_noise = predict_noise
        # The code's parts, in order: x itself (residual output only), then f_1..f_k, each (C, H, W).
        self.code_shapes = ([tuple(sample_shape)] if predict_noise else []) + [tuple(s) for s in feature_shapes]

    def features(self, x: Tensor) -> list[Tensor]:
        """The code's parts: [x (when predicting noise), f_1, ..., f_k]."""
        parts = [x] if self.predict_noise else []
        h = x
        for block in self.encoder_blocks:
            h = block(h)
            parts.append(h)
        return parts

    def reconstruct(self, parts: list[Tensor]) -> Tensor:
        """x_hat from the code's parts (``features``' list)."""
        feats = parts[1:] if self.predict_noise else parts
        h = feats[-1]
        for stage, skip in zip(self.decoder_blocks[:-1], reversed(feats[:-1])):
            h = stage(h, skip)
        out = self.decoder_blocks[-1](h)
        return parts[0] - out if self.predict_noise else out

    def encode(self, x: Tensor) -> Tensor:
        """Every part the decoder reads, flattened and concatenated: (N, sum of the parts' sizes)."""
        return torch.cat([p.flatten(1) for p in self.features(x)], dim=1)

    def decode(self, z: Tensor) -> Tensor:
        sizes = [math.prod(s) for s in self.code_shapes]
        if z.ndim != 2 or z.shape[1] != sum(sizes):
            raise UserError(f"a unet code has {sum(sizes)} values per sample (encode's output), "
                            f"got shape {tuple(z.shape)}")
        parts = [p.unflatten(1, s) for p, s in zip(z.split(sizes, dim=1), self.code_shapes)]
        return self.reconstruct(parts)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        parts = self.features(x)
        return {"x_hat": self.reconstruct(parts), "z": torch.cat([p.flatten(1) for p in parts], dim=1)}


@register_model("unet")
def unet(cfg: ModelConfig, sample_shape: tuple[int, ...]) -> UNetAutoencoder:
    if len(sample_shape) != 3:
        raise UserError(
            f"model.kind=unet needs image samples shaped (C, H, W), got sample shape {sample_shape}; "
            "use model.kind=mlp for this data"
        )
    if not cfg.channels or min(cfg.channels) < 1:
        raise UserError(f"model.channels must list at least one positive channel count for model.kind=unet, "
                        f"got {cfg.channels}")
    if cfg.variational:
        raise UserError("model.kind=unet cannot be variational: its skips bypass any sampled code; "
                        "use kind=conv or mlp")
    if cfg.predict_noise and cfg.output != "identity":
        raise UserError("model.predict_noise gives x_hat = x - predicted noise, which no output activation squashes; "
                        "set model.output=identity")
    k = cfg.kernel_size
    c_in, h, w = sample_shape
    chans = cfg.channels
    sides = [(h, w)]  # f_1 at s_0, f_i at s_{i-1}
    for _ in chans[1:]:
        sides.append((conv_out_size(sides[-1][0], k), conv_out_size(sides[-1][1], k)))
    common = dict(negative_slope=cfg.negative_slope, norm=cfg.norm, dropout=cfg.dropout)

    encoder: list[nn.Module] = [same_conv_block(cfg, c_in, chans[0])]
    for a, b in zip(chans[:-1], chans[1:]):  # stride-2 stages
        down = ConvBlock(a, b, k, cfg.activation, **common)
        init_layer(down.layer, cfg, cfg.activation, hidden=True)
        encoder.append(down)

    decoder: list[nn.Module] = []
    for i in range(len(chans) - 1, 0, -1):  # from f_{i+1} (chans[i], sides[i]) up to f_i (chans[i-1], sides[i-1])
        ho, wo = sides[i - 1]
        pads = (deconv_output_padding(ho, k), deconv_output_padding(wo, k))
        up = ConvTransposeBlock(chans[i], chans[i - 1], k, pads, cfg.activation, **common)
        init_layer(up.layer, cfg, cfg.activation, hidden=True)
        decoder.append(UpStage(up, same_conv_block(cfg, 2 * chans[i - 1], chans[i - 1])))
    decoder.append(output_head(cfg, nn.Conv2d(chans[0], c_in, k, padding="same")))
    shapes = [(c, *s) for c, s in zip(chans, sides)]
    return UNetAutoencoder(encoder, decoder, sample_shape, shapes, cfg.predict_noise)
