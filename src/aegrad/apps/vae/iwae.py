"""The importance-weighted bound on log p(x) (Burda et al. 2016), in nats: how a VAE is scored.

With z_1..z_k drawn from q(z|x),

    L_k(x) = E[ log (1/k) sum_i p(x, z_i) / q(z_i|x) ]  <=  log p(x),

L_1 is the ELBO, L_k grows with k (Burda et al. 2016, Theorem 1) and reaches
log p(x) as k -> infinity; -L_5000 is the usual estimate of the test NLL. Here one
pass draws K = max(ks) samples per test point and every smaller k averages the
K/k disjoint groups of k samples, so all bounds come from the same draws with the
least variance. The model is anything with ``posterior(x) -> (mu, logvar)``,
``decode_raw(z)`` and ``log_px(x, raw)`` (aegrad's VAEs; the benchmark wraps pythae's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import torch
from torch import Tensor

from aegrad.errors import UserError
from aegrad.models.variational.model import LOG_2PI

DEFAULT_KS = (1, 10, 100, 1000)
_CHUNK_ELEMENTS = 2**24  # decoder outputs per forward pass (64 MB in float32)


class LatentVariableModel(Protocol):
    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]: ...
    def decode_raw(self, z: Tensor) -> Tensor: ...
    def log_px(self, x: Tensor, raw: Tensor) -> Tensor: ...


@torch.no_grad()
def log_weights(model: LatentVariableModel, x: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """log p(x, z_i) - log q(z_i|x) for k draws z_i ~ q(z|x) per sample: float64 (N, k)."""
    per_sample = max(1, math.prod(x.shape[1:]))
    rows = max(1, _CHUNK_ELEMENTS // per_sample)  # decoded (sample, draw) pairs per pass
    out = []
    for xb in x.split(max(1, rows // k) if k <= rows else 1):
        mu, logvar = model.posterior(xb)
        std = (0.5 * logvar).exp()
        parts = []
        for draws in _split(k, max(1, rows // len(xb))):
            eps = torch.randn((draws, *mu.shape), dtype=mu.dtype, device=mu.device, generator=generator)
            z = mu + std * eps  # (draws, n, L)
            log_pz = (-0.5 * z.square() - 0.5 * LOG_2PI).sum(-1)
            log_qz = (-0.5 * eps.square() - 0.5 * logvar - 0.5 * LOG_2PI).sum(-1)
            raw = model.decode_raw(z.flatten(0, 1))
            xs = xb.unsqueeze(0).expand(draws, *xb.shape).flatten(0, 1)
            log_px = model.log_px(xs, raw).view(draws, len(xb))
            parts.append((log_px + log_pz - log_qz).double().T)  # (n, draws)
        out.append(torch.cat(parts, dim=1))
    return torch.cat(out, dim=0)


def _split(total: int, size: int) -> list[int]:
    return [min(size, total - i) for i in range(0, total, size)]


def bounds_from_log_weights(lw: Tensor, ks: Sequence[int]) -> dict[int, float]:
    """Mean L_k over samples for each k dividing lw's K columns (the K/k groups of k averaged)."""
    n, big_k = lw.shape
    out = {}
    for k in ks:
        if k < 1 or big_k % k:
            raise UserError(f"k={k} must divide the number of draws {big_k}")
        groups = lw.view(n, big_k // k, k)
        out[k] = float((torch.logsumexp(groups, dim=2) - math.log(k)).mean())
    return out


def iwae_bounds(
    model: LatentVariableModel, x: Tensor, ks: Sequence[int] = DEFAULT_KS, seed: int = 0
) -> dict[int, float]:
    """L_k on `x` (mean over samples, nats) for each k in `ks`; every k must divide max(ks).

    The test NLL estimate is ``-bounds[max(ks)]``. Seeded: the same model, data and seed give the same numbers.
    """
    ks = sorted(set(int(k) for k in ks))
    if not ks or ks[0] < 1:
        raise UserError(f"k values must be positive integers, got {list(ks)}")
    big_k = ks[-1]
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        gen = torch.Generator(device=x.device).manual_seed(seed)
        lw = log_weights(model, x, big_k, gen)
    finally:
        if was_training:
            model.train()
    return bounds_from_log_weights(lw, ks)
