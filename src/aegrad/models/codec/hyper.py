"""The scale hyperprior (Ballé, Minnen, Singh, Hwang & Johnston 2018, "Variational image compression
with a scale hyperprior"), ``model.codec.prior: hyper``.

    y = g_a(x)                   the codec's analysis transform (model.py)
    z = h_a(|y|)                 hyper-analysis: side information, `hyper_stages` stride-2 convs
    z_hat = Q(z)                 coded with the factorised prior (entropy.py), per channel
    sigma = h_s(z_hat)           hyper-synthesis: one scale per element of y (their eq. 8-10)
    p(y_hat | z_hat) = prod_i (N(0, sigma_i^2) * U(-1/2, 1/2))(y_hat_i)

so the rate is R = -log2 p(y_hat | z_hat) - log2 p(z_hat). For the coder the Gaussian
conditional becomes one integer table per *quantised* scale: ``SCALE_LEVELS`` scales spaced
log-uniformly in [SCALE_MIN, SCALE_MAX] (the design CompressAI uses), each a zero-mean
table on [-half, half] with ``TAIL_MASS`` outside. An element is coded with the smallest
table scale >= its predicted sigma. The tables depend on no weight: encoder and decoder
derive the same integers anywhere. The decoder recomputes each element's table index from the
decoded z_hat (``ScaleHyperprior.table_indexes``); that path runs in float64 and compares h_s's
output with the boundaries mapped back through softplus, so a different thread count or batch
split between the two processes (float32 convs differ there by up to ~3e-6 relative on the
preset) cannot move a scale across a table boundary: a flip would need h within ~1e-15
relative of one of the 63 boundaries. (Format version 1 took the index of the float32 sigma,
which sat exactly on the first boundary wherever softplus underflowed: up to 22 % of y's
elements on the Fashion preset.)
"""

from __future__ import annotations

import math
from collections import OrderedDict
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aegrad.models.codec.entropy import (
    LIKELIHOOD_BOUND,
    PRECISION,
    TAIL_MASS,
    Tables,
    quantize_pmf,
)

SCALE_MIN = 0.11  # smallest coded scale (CompressAI's bound): a latent that is always 0 costs ~0 bits, never log(0)
SCALE_MAX = 256.0  # largest coded scale: latents of an 8-bit image's transform stay far below
SCALE_LEVELS = 64  # tables between them, log-spaced (adjacent scales 13 % apart: < 0.01 bit lost per element)


def scale_table() -> np.ndarray:
    """The coded scales, float64, increasing."""
    return np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))


def gaussian_likelihood(y_hat: Tensor, scales: Tensor) -> Tensor:
    """p(y_hat) = Phi((1/2 - |y|)/s) - Phi((-1/2 - |y|)/s): the zero-mean Gaussian convolved with a unit box.

    Written on |y| so both terms stay in the lower tail, where the difference keeps its precision.
    """
    s = scales.clamp_min(SCALE_MIN)
    v = y_hat.abs()
    lik = torch.special.ndtr((0.5 - v) / s) - torch.special.ndtr((-0.5 - v) / s)
    return lik.clamp_min(LIKELIHOOD_BOUND)


@lru_cache(maxsize=1)
def gaussian_tables(tail_mass: float = TAIL_MASS, precision: int = PRECISION) -> Tables:
    """One integer table per coded scale: values -half..half, tails folded into the end symbols."""
    z = float(torch.special.ndtri(torch.tensor(1.0 - tail_mass / 2, dtype=torch.float64)))
    los, counts = [], []
    for s in scale_table():
        half = max(1, math.ceil(s * z))
        v = torch.arange(-half, half + 1, dtype=torch.float64)
        upper = torch.special.ndtr((v + 0.5) / s)
        lower = torch.special.ndtr((v - 0.5) / s)
        pmf = (upper - lower).numpy()
        pmf[0], pmf[-1] = float(upper[0]), float(1.0 - lower[-1])
        los.append(-half)
        counts.append(quantize_pmf(pmf, precision))
    return Tables(lo=np.array(los, dtype=np.int64), counts=counts)


def scale_indexes(scales: Tensor) -> Tensor:
    """Per element, the index of the smallest coded scale >= sigma (the last for larger sigma), int64."""
    bounds = torch.as_tensor(scale_table()[:-1], dtype=scales.dtype, device=scales.device)
    return torch.bucketize(scales, bounds)


def _conv(a: int, b: int, k: int, stride: int) -> nn.Module:
    return nn.Conv2d(a, b, k, stride=stride, padding=k // 2)


def _deconv(a: int, b: int, k: int) -> nn.Module:
    return nn.ConvTranspose2d(a, b, k, stride=2, padding=k // 2, output_padding=1)


def hyper_transforms(latent: int, hidden: int, stages: int, kernel: int) -> tuple[nn.Sequential, nn.Sequential]:
    """(h_a, h_s): 3x3 stride-1 then `stages` stride-2 convs with leaky ReLU between; h_s mirrors them.

    Ballé et al. 2018 (fig. 4) use ReLU and 5x5 kernels; leaky ReLU keeps a scale unit that went
    negative trainable.
    """
    ha: OrderedDict[str, nn.Module] = OrderedDict(conv0=_conv(latent, hidden, 3, 1))
    hs: OrderedDict[str, nn.Module] = OrderedDict()
    for i in range(stages):
        ha[f"act{i}"] = nn.LeakyReLU(0.01)
        ha[f"conv{i + 1}"] = _conv(hidden, hidden, kernel, 2)
        hs[f"deconv{i}"] = _deconv(hidden, hidden, kernel)
        hs[f"act{i}"] = nn.LeakyReLU(0.01)
    hs[f"conv{stages}"] = _conv(hidden, latent, 3, 1)
    return nn.Sequential(ha), nn.Sequential(hs)


class ScaleHyperprior(nn.Module):
    """h_a and h_s (z's factorised prior is the codec's ``prior``; see model.HyperCodec)."""

    def __init__(self, latent: int, hidden: int, stages: int, kernel: int) -> None:
        super().__init__()
        self.h_a, self.h_s = hyper_transforms(latent, hidden, stages, kernel)
        self.factor = 2**stages

    def analyse(self, y: Tensor) -> Tensor:
        """z = h_a(|y|), y padded (edge replicate) to a multiple of 2**stages."""
        h, w = y.shape[-2:]
        ph, pw = -h % self.factor, -w % self.factor
        v = y.abs()
        return self.h_a(F.pad(v, (0, pw, 0, ph), mode="replicate") if ph or pw else v)

    def scales(self, z_hat: Tensor, size: tuple[int, int]) -> Tensor:
        """sigma = SCALE_MIN + softplus(h_s(z_hat)), cropped to y's (h, w): positive, smooth, never below the table."""
        return SCALE_MIN + F.softplus(self.h_s(z_hat)[..., : size[0], : size[1]])

    @torch.no_grad()
    def table_indexes(self, z_hat: Tensor, size: tuple[int, int]) -> Tensor:
        """The coder's table per element of y: ``scale_indexes(scales(z_hat, size))`` in exact arithmetic.

        h_s runs in float64 and h is compared with the boundaries mapped through softplus^-1
        (``_softplus_bounds``). Encoder and decoder both take the indexes from here (format
        version 2), independent of thread counts and batch splits in practice (module doc).
        """
        weights = {k: v.detach().double() for k, v in self.h_s.state_dict().items()}
        h = torch.func.functional_call(self.h_s, weights, (z_hat.double(),))[..., : size[0], : size[1]]
        return torch.bucketize(h.contiguous(), _softplus_bounds().to(h.device))


@lru_cache(maxsize=1)
def _softplus_bounds() -> Tensor:
    """The table boundaries on h_s's output h, float64: sigma = SCALE_MIN + softplus(h) <= table[k] iff h <= this[k].

    Compared on h, no softplus or sum is rounded: sigma > SCALE_MIN = table[0] always, so the
    first boundary is -inf and table 0 is never chosen, even where softplus(h) underflows.
    """
    t = torch.as_tensor(scale_table()[:-1], dtype=torch.float64) - SCALE_MIN
    t[0] = 0.0  # table[0] is SCALE_MIN (exp(log(x)) may be off by one ulp)
    return torch.where(t > 0, t + torch.log(-torch.expm1(-t)), torch.tensor(-math.inf, dtype=torch.float64))
