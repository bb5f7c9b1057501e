"""The variational family and the ELBO against their formulas: KL closed form, reparameterised gradients,
likelihoods, warm-up, free bits, binarisation and the model's outputs."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from aegrad.models.variational.objective import ELBO, active_units, kl_weight, latent_kl
from aegrad.config import VAEConfig, load_config
from aegrad.data import load_dataset
from aegrad.data.binarize import binarize
from aegrad.errors import UserError
from aegrad.models import create_model, gaussian_kl, log_likelihood, reparameterize
from aegrad.objectives import create_objective, list_objectives


def _vae_cfg(**over):
    base = {"model.variational": True, "data.binarize": "dynamic", "model.latent": 4, "model.widths": [32]}
    return load_config(overrides={**base, **over})


def test_kl_matches_closed_form_and_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    ours = gaussian_kl(mu, logvar)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros(3), torch.ones(3)))
    torch.testing.assert_close(ours, ref)
    # and a Monte Carlo estimate E_q[log q - log p] with 200k draws
    m, lv = torch.tensor([0.7]), torch.tensor([-0.4])
    z = reparameterize(m.expand(200_000, 1), lv.expand(200_000, 1), torch.Generator().manual_seed(1))
    q, p = Normal(m, (0.5 * lv).exp()), Normal(0.0, 1.0)
    mc = (q.log_prob(z) - p.log_prob(z)).mean()
    assert float(mc) == pytest.approx(float(gaussian_kl(m, lv)), abs=5e-3)
    assert float(gaussian_kl(torch.zeros(1), torch.zeros(1))) == 0.0  # q = prior


def test_reparameterised_gradient_matches_monte_carlo_score_estimate():
    """d/dmu, d/dlogvar of E_q[f(z)] for f(z) = z^3: the pathwise gradient vs the score-function estimate
    and the exact value."""
    mu, logvar = torch.tensor([0.3], requires_grad=True), torch.tensor([-0.5], requires_grad=True)
    n = 400_000
    z = reparameterize(mu.expand(n), logvar.expand(n), torch.Generator().manual_seed(2))
    (z**3).mean().backward()
    var = math.exp(-0.5)
    # E[z^3] = mu^3 + 3 mu var: d/dmu = 3 mu^2 + 3 var, d/dlogvar = 3 mu var
    assert float(mu.grad) == pytest.approx(3 * 0.09 + 3 * var, rel=1e-2)
    assert float(logvar.grad) == pytest.approx(3 * 0.3 * var, rel=3e-2)
    # score function (REINFORCE) estimate on independent draws agrees within its larger noise
    with torch.no_grad():
        zs = 0.3 + math.sqrt(var) * torch.randn(n, generator=torch.Generator().manual_seed(3))
        score_mu = ((zs**3) * (zs - 0.3) / var).mean()
    assert float(score_mu) == pytest.approx(float(mu.grad), rel=5e-2)


def test_log_likelihoods_match_torch_distributions():
    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.full((4, 1, 3, 3), 0.4), generator=g)
    logits = torch.randn(4, 1, 3, 3, generator=g)
    ref = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(log_likelihood("bernoulli", x, logits, 0.1), ref)
    xg, mean = torch.rand(4, 6, generator=g), torch.rand(4, 6, generator=g)
    torch.testing.assert_close(log_likelihood("gaussian", xg, mean, 0.3), Normal(mean, 0.3).log_prob(xg).sum(1))


def test_model_outputs_shapes_and_ranges_for_mlp_and_conv():
    torch.manual_seed(0)
    for kind in ("mlp", "conv"):
        cfg = _vae_cfg(**{"model.kind": kind, "model.channels": [4, 8]})
        model = create_model(cfg.model, (1, 8, 8))
        assert model.objective == "elbo" and type(model).__name__.startswith("Variational")
        x = torch.rand(6, 1, 8, 8)
        out = model(x)
        assert out["mu"].shape == out["logvar"].shape == out["z"].shape == (6, 4)
        assert out["x_hat"].shape == out["raw"].shape == x.shape
        assert set(out["target"].unique().tolist()) <= {0.0, 1.0}  # dynamic binarisation in training mode
        model.eval()
        with torch.no_grad():
            ev = model(x)
        assert torch.equal(ev["target"], x)
        torch.testing.assert_close(ev["x_hat"], model.decode(model.encode(x)))  # eval decodes the mean
        assert 0.0 <= float(ev["x_hat"].min()) and float(ev["x_hat"].max()) <= 1.0


def test_binary_inputs_are_left_as_they_are():
    torch.manual_seed(0)
    model = create_model(_vae_cfg().model, (1, 8, 8))
    x = torch.bernoulli(torch.full((5, 1, 8, 8), 0.5))
    assert torch.equal(model(x)["target"], x)


def test_elbo_terms_beta_warmup_and_free_bits():
    torch.manual_seed(0)
    cfg = _vae_cfg()
    model = create_model(cfg.model, (1, 8, 8)).eval()
    x = torch.bernoulli(torch.full((16, 1, 8, 8), 0.3))
    out = model(x)
    recon = -log_likelihood("bernoulli", x, out["raw"], 0.1).mean()
    kl_dims = gaussian_kl(out["mu"], out["logvar"]).mean(0)
    t = ELBO(VAEConfig())(x, out)
    assert list(t) == ["loss", "elbo", "recon", "kl", "active_units"]
    torch.testing.assert_close(t["loss"], recon + kl_dims.sum())
    torch.testing.assert_close(t["elbo"], -(recon + kl_dims.sum()))
    t4 = ELBO(VAEConfig(beta=4.0))(x, out)
    torch.testing.assert_close(t4["loss"], recon + 4 * kl_dims.sum())
    torch.testing.assert_close(t4["elbo"], t["elbo"])  # the logged ELBO keeps beta = 1
    fb = ELBO(VAEConfig(free_bits=10.0))(x, out)
    torch.testing.assert_close(fb["loss"], recon + 10.0 * 4)  # every dimension below the floor
    warm = ELBO(VAEConfig(beta=2.0, kl_warmup_steps=100))
    assert warm.weight == 0.0
    warm.begin_step(25)
    torch.testing.assert_close(warm(x, out)["loss"], recon + 0.5 * kl_dims.sum())
    assert [kl_weight(2.0, 100, s) for s in (0, 50, 100, 500)] == [0.0, 1.0, 2.0, 2.0]


def test_active_units_and_latent_kl():
    mu = torch.cat([torch.randn(500, 2, generator=torch.Generator().manual_seed(0)), torch.full((500, 3), 0.2)], 1)
    assert float(active_units(mu)) == 2.0
    torch.manual_seed(0)
    model = create_model(_vae_cfg().model, (1, 8, 8))
    x = torch.rand(10, 1, 8, 8)
    kl = latent_kl(model, x, batch=3)
    mu, logvar = model.eval().posterior(x)
    torch.testing.assert_close(kl, gaussian_kl(mu, logvar).mean(0))


def test_config_and_objective_choices():
    assert "elbo" in list_objectives()
    cfg = _vae_cfg()
    model = create_model(cfg.model, (1, 8, 8))
    assert isinstance(create_objective(cfg, model), ELBO)  # auto: the family's own
    with pytest.raises(UserError, match="data.binarize"):
        create_objective(_vae_cfg(**{"data.binarize": "none"}), model)
    assert isinstance(
        create_objective(_vae_cfg(**{"data.binarize": "none", "model.vae.likelihood": "gaussian"}), model), ELBO)
    with pytest.raises(UserError, match="model.variational=true"):
        create_objective(load_config(overrides={"train.objective": "elbo"}), model)
    with pytest.raises(UserError, match="train.noise"):
        create_objective(_vae_cfg(**{"train.noise": "gaussian"}), model)


def test_decoder_widths_build_a_weaker_decoder():
    cfg = _vae_cfg(**{"model.widths": [64, 32], "model.vae.decoder_widths": [16, 8]})
    model = create_model(cfg.model, (1, 8, 8))
    assert [m.out_features for m in model.decoder_blocks.modules() if isinstance(m, torch.nn.Linear)] == [8, 16, 64]
    assert [m.out_features for m in model.encoder_blocks.modules() if isinstance(m, torch.nn.Linear)] == [64, 32, 8]
    with pytest.raises(UserError, match="one width per hidden layer"):
        create_model(_vae_cfg(**{"model.widths": [64, 32], "model.vae.decoder_widths": [8]}).model, (1, 8, 8))


def test_binarisation_static_and_dynamic():
    x = torch.full((20000,), 0.3)
    b = binarize(x, torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) == {0.0, 1.0} and float(b.mean()) == pytest.approx(0.3, abs=0.02)
    grey = load_dataset(load_config().data, 0)
    dyn = load_dataset(_vae_cfg().data, 0)
    sta = load_dataset(_vae_cfg(**{"data.binarize": "static"}).data, 0)
    assert torch.equal(dyn.train_x, grey.train_x)  # the model draws per batch
    assert set(dyn.test_x.unique().tolist()) == {0.0, 1.0} and torch.equal(dyn.test_x, sta.test_x)
    assert set(sta.train_x.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(load_dataset(_vae_cfg().data, 0).test_x, dyn.test_x)  # seeded
    with pytest.raises(UserError, match="normalize=minmax"):
        load_dataset(_vae_cfg(**{"data.normalize": "zscore"}).data, 0)
