"""The ``codec`` model family: conv analysis/synthesis transforms, quantisation, a factorised prior.

Ballé, Laparra & Simoncelli 2017, "End-to-end optimized image compression":

    y = g_a(x)                 analysis: `stages` stride-2 convs with GDN between them
    y_hat = round(y)           inference; training uses y + U(-1/2, 1/2) (their eq. 6)
    x_hat = g_s(y_hat)         synthesis: the mirror, transposed convs with inverse GDN
    R = sum -log2 p(y_hat)     bits under the per-channel factorised prior (entropy.py)

trained on D + lambda*R (objective ``rate_distortion``, objective.py). Images of any
size are padded (edge replicate) to a multiple of 2**stages and the
reconstruction cropped back. In eval mode the quantised latent is also clamped
into the entropy tables' support, so the model's quantised reconstruction is
exactly what ``decode(encode(x))`` of the bitstream gives (see codec.py).

``model.codec.prior: position`` gives every (channel, latent position) its own density:
images of a fixed size and layout (centred Fashion-MNIST garments, whose borders are
always background) then pay almost nothing where nothing ever happens.
``model.codec.prior: hyper`` is the scale hyperprior of Ballé et al. 2018 (``HyperCodec``, hyper.py).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aegrad.models.codec.entropy import FactorizedPrior, Tables, build_tables
from aegrad.models.codec.hyper import (
    ScaleHyperprior,
    gaussian_likelihood,
    gaussian_tables,
)
from aegrad.config import ModelConfig
from aegrad.errors import UserError
from aegrad.models.base import Autoencoder, register_model


class GDN(nn.Module):
    """Generalised divisive normalisation (Ballé et al. 2016): y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2).

    ``inverse=True`` multiplies instead (IGDN, the synthesis side). beta and gamma are
    kept non-negative by a square-root reparametrisation with a floor, as in CompressAI.
    """

    def __init__(self, channels: int, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(0.1 * torch.eye(channels))

    def forward(self, x: Tensor) -> Tensor:
        beta = self.beta.clamp_min(1e-6)
        gamma = self.gamma.abs()
        c = x.shape[1]
        norm = torch.sqrt(F.conv2d(x * x, gamma.view(c, c, 1, 1), beta))
        return x * norm if self.inverse else x / norm


def _act(channels: int, gdn: bool, inverse: bool) -> nn.Module:
    return GDN(channels, inverse=inverse) if gdn else nn.LeakyReLU(0.01)


class Codec(Autoencoder):
    """Analysis stages (encoder_blocks), synthesis stages (decoder_blocks) and ``prior`` (the entropy model)."""

    objective = "rate_distortion"

    def __init__(self, encoder: list[nn.Module], decoder: list[nn.Module], prior: FactorizedPrior,
                 sample_shape: tuple[int, ...], stages: int, per_position: bool = False) -> None:
        super().__init__(encoder, decoder, sample_shape)
        self.prior = prior
        self.factor = 2**stages
        # per_position: the prior has one density per (channel, latent position), so images must
        # have the training size; otherwise one density per channel, shared across positions.
        self.per_position = per_position
        self._tables: tuple[int, Tables] | None = None  # (weights version, tables), rebuilt when weights change

    # -- transforms ------------------------------------------------------------------------
    def _pad(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        ph, pw = -h % self.factor, -w % self.factor
        return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x

    def encode(self, x: Tensor) -> Tensor:
        """The continuous latent y (N, M, ceil(H/2^s), ceil(W/2^s)) of images x (N, C, H, W)."""
        return super().encode(self._pad(x))

    def decode(self, z: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        """The synthesis of latents z, cropped to `size` (H, W) (default: the training sample's)."""
        h, w = size if size is not None else self.sample_shape[-2:]
        x_hat = super().decode(z)[..., :h, :w]
        return x_hat if self.training else x_hat.clamp(0.0, 1.0)

    # -- the prior's view of a latent ----------------------------------------------------------
    def to_prior(self, y: Tensor) -> Tensor:
        """Latents (N, M, h, w) as the prior models them: (N, K, h', w'), K densities (K = M*h*w per position)."""
        if not self.per_position:
            return y
        if tuple(y.shape[-2:]) != self.latent_side():
            raise UserError(
                f"this codec has a per-position prior for {self.sample_shape[-2]}x{self.sample_shape[-1]} images; "
                f"got an image whose latent is {tuple(y.shape[-2:])}, not {self.latent_side()}"
            )
        return y.reshape(y.shape[0], -1, 1, 1)

    def from_prior(self, v: Tensor, like: Tensor) -> Tensor:
        return v.reshape(like.shape)

    def latent_side(self) -> tuple[int, int]:
        h, w = self.sample_shape[-2:]
        return -(-h // self.factor), -(-w // self.factor)

    # -- quantisation ----------------------------------------------------------------------
    def tables(self) -> Tables:
        """Integer coding tables of the current prior weights (cached until a weight changes)."""
        version = sum(p._version for p in self.prior.parameters())
        if self._tables is None or self._tables[0] != version:
            self._tables = (version, build_tables(self.prior))
        return self._tables[1]

    def quantize(self, y: Tensor) -> Tensor:
        """Training: y + U(-1/2, 1/2). Eval: round, then clamp into each channel's coded support."""
        if self.training:
            return y + torch.empty_like(y).uniform_(-0.5, 0.5)
        t = self.tables()
        v = self.to_prior(y)
        lo = torch.as_tensor(t.lo, dtype=y.dtype, device=y.device).view(1, -1, 1, 1)
        hi = torch.as_tensor(t.hi, dtype=y.dtype, device=y.device).view(1, -1, 1, 1)
        return self.from_prior(torch.maximum(torch.minimum(torch.round(v), hi), lo), y)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        y = self.encode(x)
        y_hat = self.quantize(y)
        return {"x_hat": self.decode(y_hat, x.shape[-2:]), "z": y, "y_hat": y_hat,
                "likelihoods": self.prior(self.to_prior(y_hat))}

    # -- what the coder needs (eval mode): symbols and the table each is coded with ----------
    @staticmethod
    def channel_index(v: Tensor) -> Tensor:
        """Per element of v (N, K, h, w), its channel: the table it is coded with under a per-channel prior."""
        return torch.arange(v.shape[1], device=v.device).view(1, -1, 1, 1).expand(v.shape)

    def analyse(self, x: Tensor) -> dict[str, Tensor]:
        """Eval: ``y`` the integer latent as the prior sees it, ``y_index`` each element's table."""
        y = self.to_prior(self.quantize(self.encode(x)))
        return {"y": y, "y_index": self.channel_index(y)}

    def side_tables(self) -> Tables | None:
        """Tables of the side information (None: no side information)."""
        return None


class HyperCodec(Codec):
    """The codec with a scale hyperprior (hyper.py): ``prior`` models z, a Gaussian per element models y."""

    def __init__(self, encoder: list[nn.Module], decoder: list[nn.Module], prior: FactorizedPrior,
                 hyper: ScaleHyperprior, sample_shape: tuple[int, ...], stages: int) -> None:
        super().__init__(encoder, decoder, prior, sample_shape, stages)
        self.hyper = hyper

    def quantize_y(self, y: Tensor, z_hat: Tensor) -> Tensor:
        """Training: y + U(-1/2, 1/2). Eval: round, clamped into the table the coder uses for each element."""
        if self.training:
            return y + torch.empty_like(y).uniform_(-0.5, 0.5)
        return self.round_y(y, self.y_index(z_hat, y.shape[-2:]))

    @staticmethod
    def round_y(y: Tensor, index: Tensor) -> Tensor:
        """round(y), clamped into the support of each element's table `index`."""
        half = torch.as_tensor(-gaussian_tables().lo, dtype=y.dtype, device=y.device)[index]
        return torch.maximum(torch.minimum(torch.round(y), half), -half)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        y = self.encode(x)
        z_hat = self.quantize(self.hyper.analyse(y))
        scales = self.hyper.scales(z_hat, y.shape[-2:])
        y_hat = self.quantize_y(y, z_hat)
        lik = torch.cat([gaussian_likelihood(y_hat, scales).flatten(1), self.prior(z_hat).flatten(1)], dim=1)
        return {"x_hat": self.decode(y_hat, x.shape[-2:]), "z": y, "y_hat": y_hat, "z_hat": z_hat,
                "scales": scales, "likelihoods": lik}

    def analyse(self, x: Tensor) -> dict[str, Tensor]:
        """Eval: integer ``y`` with its scale-table ``y_index``, integer side information ``z`` with ``z_index``."""
        y = self.encode(x)
        z = self.quantize(self.hyper.analyse(y))
        index = self.y_index(z, y.shape[-2:])
        return {"y": self.round_y(y, index), "y_index": index, "z": z, "z_index": self.channel_index(z)}

    def y_index(self, z_hat: Tensor, size: tuple[int, int]) -> Tensor:
        """The scale table of every element of y, from the decoded side information alone (float64: hyper.py)."""
        return self.hyper.table_indexes(z_hat, size)

    def hyper_side(self, size: tuple[int, int]) -> tuple[int, int]:
        """z's (h, w) for a latent y of (h, w)."""
        f = self.hyper.factor
        return -(-size[0] // f), -(-size[1] // f)

    def side_tables(self) -> Tables | None:
        return self.tables()


@register_model("codec")
def codec(cfg: ModelConfig, sample_shape: tuple[int, ...]) -> Codec:
    if len(sample_shape) != 3:
        raise UserError(f"model.kind=codec needs image samples shaped (C, H, W), got sample shape {sample_shape}")
    cc = cfg.codec
    c_in, k, n, m = sample_shape[0], cc.kernel_size, cc.channels, cc.latent_channels
    if k % 2 == 0:
        raise UserError(f"model.codec.kernel_size must be odd (each stage halves the side exactly), got {k}")
    enc: list[nn.Module] = []
    dec: list[nn.Module] = []
    for i in range(cc.stages):
        a = c_in if i == 0 else n
        b = m if i == cc.stages - 1 else n
        layers: OrderedDict[str, nn.Module] = OrderedDict(layer=nn.Conv2d(a, b, k, stride=2, padding=k // 2))
        if i < cc.stages - 1:
            layers["act"] = _act(b, cc.gdn, inverse=False)
        enc.append(nn.Sequential(layers))
    for i in range(cc.stages):
        a = m if i == 0 else n
        b = c_in if i == cc.stages - 1 else n
        layers = OrderedDict(layer=nn.ConvTranspose2d(a, b, k, stride=2, padding=k // 2, output_padding=1))
        if i < cc.stages - 1:
            layers["act"] = _act(b, cc.gdn, inverse=True)
        dec.append(nn.Sequential(layers))
    if cc.prior == "hyper":
        hyper = ScaleHyperprior(m, cc.hyper_channels, cc.hyper_stages, k)
        return HyperCodec(enc, dec, FactorizedPrior(cc.hyper_channels, list(cc.prior_filters)), hyper, sample_shape,
                          cc.stages)
    per_position = cc.prior == "position"
    side = [-(-s // 2**cc.stages) for s in sample_shape[1:]]
    densities = m * side[0] * side[1] if per_position else m
    return Codec(enc, dec, FactorizedPrior(densities, list(cc.prior_filters)), sample_shape, cc.stages, per_position)
