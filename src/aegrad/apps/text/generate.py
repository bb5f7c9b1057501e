"""Generation from a text run: lines decoded from prior draws, and from a straight path between two lines' codes.

A variational run (model.variational: true) samples z ~ N(0, I), its prior. A plain
autoencoder has no prior: z is drawn from a Gaussian fitted to the training split's codes
(per-dimension mean and std), which ``sample_codes`` says in its ``prior`` field.
"""

from __future__ import annotations

import torch

from aegrad.apps.text.run import TextRun
from aegrad.errors import UserError


@torch.no_grad()
def sample_codes(tr: TextRun, n: int, seed: int = 0) -> tuple[torch.Tensor, str]:
    """(n codes, which prior drew them), seeded."""
    if n < 1:
        raise UserError(f"-n must be at least 1, got {n}")
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn(n, tr.model.latent, generator=gen)
    if tr.model.variational:
        return eps, "N(0, I) (the VAE's prior)"
    z = torch.cat([tr.model.encode(b) for b in tr.data.train_x.split(512)])
    return z.mean(0) + z.std(0) * eps, "N(mean, std) fitted to the training codes (the model is not variational)"


@torch.no_grad()
def sample_lines(tr: TextRun, n: int, seed: int = 0, temperature: float = 0.0) -> tuple[list[str], str]:
    """`n` lines decoded from prior codes (greedy, or sampled at `temperature`), and the prior's description."""
    if temperature < 0:
        raise UserError(f"--temperature must be >= 0, got {temperature}")
    z, prior = sample_codes(tr, n, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    return tr.vocab.decode(tr.model.generate(z, temperature, gen)), prior


@torch.no_grad()
def interpolate_lines(tr: TextRun, i: int, j: int, steps: int = 6) -> list[str]:
    """[line i, greedy decodes of z_i + t (z_j - z_i) for `steps` t evenly in [0, 1], line j] (test split)."""
    x = tr.data.test_x
    for k in (i, j):
        if not 0 <= k < len(x):
            raise UserError(f"--between indices must be test lines 0..{len(x) - 1}, got {k}")
    if steps < 2:
        raise UserError(f"--steps must be at least 2, got {steps}")
    z = tr.model.encode(x[[i, j]])
    t = torch.linspace(0.0, 1.0, steps)[:, None]
    path = tr.vocab.decode(tr.model.generate(z[:1] + t * (z[1:] - z[:1])))
    ends = tr.vocab.decode(x[[i, j]])
    return [ends[0], *path, ends[1]]
