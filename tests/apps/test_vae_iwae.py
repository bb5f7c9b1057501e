"""The IWAE bound against the exact log-likelihood of a linear Gaussian model, and its tightening with k."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import MultivariateNormal

from aegrad.apps.vae.iwae import bounds_from_log_weights, iwae_bounds
from aegrad.config import load_config
from aegrad.errors import UserError
from aegrad.models import create_model, log_likelihood


class LinearGaussian(nn.Module):
    """p(z) = N(0, I), p(x|z) = N(Wz + b, s^2 I): log p(x) = log N(x; b, W W^T + s^2 I) exactly.

    The encoder is a deliberately imperfect linear guess, so the ELBO is loose and k matters.
    """

    def __init__(self, d: int = 5, latent: int = 2, s: float = 0.5) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w, self.b, self.s = torch.randn(d, latent, generator=g), torch.randn(d, generator=g), s
        self.enc = torch.randn(latent, d, generator=g) * 0.1

    def posterior(self, x):
        return x @ self.enc.T, torch.full((len(x), self.w.shape[1]), -0.5)

    def decode_raw(self, z):
        return z @ self.w.T + self.b

    def log_px(self, x, raw):
        return log_likelihood("gaussian", x, raw, self.s)

    def exact(self, x):
        cov = self.w @ self.w.T + self.s**2 * torch.eye(len(self.b))
        return MultivariateNormal(self.b, cov).log_prob(x).mean()


def test_bounds_tighten_with_k_and_reach_the_exact_log_likelihood():
    model = LinearGaussian()
    x = torch.randn(64, 5, generator=torch.Generator().manual_seed(1)) * 2
    exact = float(model.exact(x))
    b = iwae_bounds(model, x, (1, 10, 100, 1000), seed=0)
    assert b[1] < b[10] < b[100] < b[1000] <= exact + 0.01
    assert exact - b[1] > 1.0  # a loose ELBO ...
    assert exact - b[1000] < 0.1 * (exact - b[1])  # ... that k = 1000 nearly closes
    assert iwae_bounds(model, x, (1, 10, 100, 1000), seed=0) == b  # seeded


def test_bounds_on_a_tiny_vae_tighten_and_k1_is_the_elbo():
    torch.manual_seed(0)
    cfg = load_config(overrides={"model.variational": True, "data.binarize": "dynamic", "model.latent": 3,
                                 "model.widths": [16]})
    model = create_model(cfg.model, (1, 4, 4)).eval()
    x = torch.bernoulli(torch.full((40, 1, 4, 4), 0.3), generator=torch.Generator().manual_seed(0))
    b = iwae_bounds(model, x, (1, 4, 20, 100), seed=1)
    assert b[1] < b[4] < b[20] < b[100]
    # k = 1 averages single-sample ELBO estimates: within noise of the analytic-KL ELBO
    mu, logvar = model.posterior(x)
    with torch.no_grad():
        from aegrad.models import gaussian_kl, reparameterize

        zs = torch.stack([reparameterize(mu, logvar) for _ in range(200)])
        rec = torch.stack([model.log_px(x, model.decode_raw(z)) for z in zs]).mean()
        elbo = float(rec - gaussian_kl(mu, logvar).sum(1).mean())
    assert b[1] == pytest.approx(elbo, abs=0.05 * abs(elbo))


def test_group_averaging_and_bad_k():
    lw = torch.log(torch.tensor([[1.0, 3.0, 2.0, 2.0]], dtype=torch.float64))
    b = bounds_from_log_weights(lw, (1, 2, 4))
    assert b[1] == pytest.approx((0 + math.log(3) + 2 * math.log(2)) / 4)
    assert b[2] == pytest.approx((math.log(2) + math.log(2)) / 2)
    assert b[4] == pytest.approx(math.log(2))
    with pytest.raises(UserError, match="divide"):
        bounds_from_log_weights(lw, (3,))
