"""The factorised entropy model (Ballé et al. 2017) and its integer CDF tables for the range coder.

Each latent channel c has its own learned cumulative distribution, the
non-parametric density of Ballé et al. 2018 ("Variational image compression
with a scale hyperprior", appendix 6.1):

    c(x) = sigmoid(f_K(... f_1(x))),  f_k(x) = g_k(H_k x + b_k),  g_k(x) = x + a_k * tanh(x)

with H_k = softplus(.) >= 0 and a_k = tanh(.) > -1, so every f_k is monotone and
c is a CDF. A quantised value y (an integer in inference, y + U(-1/2, 1/2) in
training) has probability p(y) = c(y + 1/2) - c(y - 1/2) (the density convolved
with a unit box, their eq. 4); its rate is -log2 p(y) bits.

For the coder the densities are turned once into integer tables: per channel a
support [lo, hi] outside which less than ``TAIL_MASS`` of the mass lies, and
counts >= 1 summing to ``2**PRECISION``, computed in float64 from the weights.
Encoder and decoder derive the same integers from the same weights (the model
hash in the container covers both), so decoding is deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

LIKELIHOOD_BOUND = 1e-9  # p(y) floor: the rate of an impossible value stays finite (CompressAI's bound)
PRECISION = 16  # integer tables sum to 2**PRECISION; constriction's range coder takes up to 24 bits
TAIL_MASS = 1e-9  # mass left outside a channel's support [lo, hi] (its values are clamped into it)
SEARCH = 4096  # supports are searched within [-SEARCH, SEARCH]: latents beyond are clamped


class FactorizedPrior(nn.Module):
    """Per-channel learned CDFs; ``forward(y) -> likelihoods`` of the quantised values ``y`` (N, C, H, W)."""

    def __init__(self, channels: int, filters: list[int], init_scale: float = 10.0) -> None:
        super().__init__()
        self.channels = channels
        dims = [1, *filters, 1]
        # Ballé's initialisation: the initial density is roughly uniform on [-init_scale, init_scale].
        scale = init_scale ** (1.0 / (len(dims) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for k in range(len(dims) - 1):
            init = math.log(math.expm1(1.0 / scale / dims[k + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[k + 1], dims[k]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[k + 1], 1) - 0.5))
            if k < len(dims) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[k + 1], 1)))

    def logits_cdf(self, x: Tensor) -> Tensor:
        """The CDF's logits at points ``x`` (C, 1, P) per channel; returns (C, 1, P)."""
        h = x
        for k, (m, b) in enumerate(zip(self.matrices, self.biases)):
            h = torch.matmul(F.softplus(m).to(x.dtype), h) + b.to(x.dtype)
            if k < len(self.factors):
                h = h + torch.tanh(self.factors[k]).to(x.dtype) * torch.tanh(h)
        return h

    def forward(self, y: Tensor) -> Tensor:
        """p(y) = c(y + 1/2) - c(y - 1/2), per element, floored at LIKELIHOOD_BOUND."""
        n, c, hgt, wid = y.shape
        v = y.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lower = self.logits_cdf(v - 0.5)
        upper = self.logits_cdf(v + 0.5)
        # Subtract in the tail where both sigmoids are far from saturation (CompressAI's sign trick).
        sign = -torch.sign(lower + upper).detach()
        lik = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        lik = lik.clamp_min(LIKELIHOOD_BOUND)
        return lik.reshape(c, n, hgt, wid).permute(1, 0, 2, 3)


@dataclass(frozen=True)
class Tables:
    """Integer coding tables: channel c codes values lo[c]..lo[c]+len(counts[c])-1 with counts[c] (sum 2**PRECISION)."""

    lo: np.ndarray  # (C,) int64: smallest codable value per channel
    counts: list[np.ndarray]  # per channel, int64 counts >= 1 summing to 2**PRECISION

    @property
    def hi(self) -> np.ndarray:
        return self.lo + np.array([len(c) for c in self.counts]) - 1

    def cdf(self, c: int) -> np.ndarray:
        """Channel c's integer CDF: 0, counts[0], ..., 2**PRECISION (strictly increasing)."""
        return np.concatenate([[0], np.cumsum(self.counts[c])])

    def to_bytes(self) -> bytes:
        """A canonical byte form (for the model hash)."""
        parts = [self.lo.astype("<i8").tobytes()] + [c.astype("<i8").tobytes() for c in self.counts]
        return b"".join(parts)


def quantize_pmf(pmf: np.ndarray, precision: int = PRECISION) -> np.ndarray:
    """Integer counts >= 1 summing to exactly 2**precision, proportional to `pmf` (float64).

    Each symbol gets 1 + floor(p * (total - n)); what rounding left over goes to the most
    probable symbol. Pure integer arithmetic after one float product: deterministic.
    """
    total = 1 << precision
    n = len(pmf)
    if n > total // 2:
        raise ValueError(f"{n} symbols do not fit a {precision}-bit table")
    p = np.clip(np.nan_to_num(np.asarray(pmf, dtype=np.float64)), 0.0, None)
    p = p / p.sum() if p.sum() > 0 else np.full(n, 1.0 / n)
    counts = 1 + np.floor(p * (total - n)).astype(np.int64)
    counts[int(np.argmax(p))] += total - int(counts.sum())
    return counts


@torch.no_grad()
def build_tables(prior: FactorizedPrior, tail_mass: float = TAIL_MASS, precision: int = PRECISION) -> Tables:
    """The integer tables of `prior`'s current weights, computed in float64 on the CPU."""
    c = prior.channels
    grid = torch.arange(-SEARCH, SEARCH + 1, dtype=torch.float64)
    params = {k: v.detach().cpu().double() for k, v in prior.state_dict().items()}
    twin = FactorizedPrior(c, [m.shape[1] for m in list(prior.matrices)[:-1]]).double()
    twin.load_state_dict(params)
    # CDF at every half-integer k + 1/2 (k in grid): upper[c, i] = c(grid[i] + 1/2).
    upper = torch.sigmoid(twin.logits_cdf((grid + 0.5).expand(c, 1, -1))).reshape(c, -1).numpy()
    lower = np.concatenate([np.zeros((c, 1)), upper[:, :-1]], axis=1)  # c(k - 1/2); 0 below the grid
    los, counts = [], []
    for ch in range(c):
        # Smallest k whose upper CDF exceeds tail/2, largest k whose lower CDF stays below 1 - tail/2.
        i_lo = int(np.argmax(upper[ch] > tail_mass / 2)) if (upper[ch] > tail_mass / 2).any() else 0
        above = lower[ch] < 1 - tail_mass / 2
        i_hi = int(len(grid) - 1 - np.argmax(above[::-1])) if above.any() else len(grid) - 1
        # at least two symbols: a coder's categorical needs two (an unused channel's one value still costs ~0 bits)
        i_hi = max(i_hi, i_lo + 1)
        if i_hi > len(grid) - 1:
            i_lo, i_hi = len(grid) - 2, len(grid) - 1
        i_hi = min(i_hi, i_lo + (1 << (precision - 1)) - 1)  # a table must fit the precision
        pmf = upper[ch, i_lo : i_hi + 1] - lower[ch, i_lo : i_hi + 1]
        pmf[0] = upper[ch, i_lo]  # the clamped tails fold into the end symbols
        pmf[-1] = 1.0 - lower[ch, i_hi]
        los.append(int(grid[i_lo]))
        counts.append(quantize_pmf(pmf, precision))
    return Tables(lo=np.array(los, dtype=np.int64), counts=counts)


def table_bits(tables: Tables, symbols: np.ndarray) -> np.ndarray:
    """Per channel, the ideal code length in bits of integer latents `symbols` (N, C, H, W) under `tables`."""
    out = np.zeros(len(tables.counts))
    for ch, counts in enumerate(tables.counts):
        idx = symbols[:, ch].reshape(-1) - tables.lo[ch]
        out[ch] = -np.log2(counts[idx] / float(1 << PRECISION)).sum()
    return out
