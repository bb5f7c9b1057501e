"""The ELBO objective (``train.objective: elbo``, the variational family's own).

Per sample, in nats (Kingma & Welling 2014, eq. 3):

    ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z))

estimated with one reparameterised sample. What is minimised adds three knobs
against posterior collapse (the family's posterior-collapse detector proposes them as remedies):

    loss = recon + w_t * sum_j max(lambda, KL_j),   recon = -log p(x|z)

with w_t = beta * min(1, t / kl_warmup_steps) after t optimizer steps (KL warm-up,
Bowman et al. 2016; beta-VAE, Higgins et al. 2017) and KL_j the batch-mean KL of
latent dimension j floored at lambda = ``free_bits`` nats (Kingma et al. 2016, §C.8).
Logged beside it: ``elbo`` (always with beta = 1 and no floor, so it stays a
bound on log p(x)), ``recon``, ``kl`` and ``active_units`` — the latent dimensions
whose posterior mean varies across the batch, Cov_x(E_q[z_j]) > 0.01
(Burda et al. 2016, §5.2), what the posterior-collapse detector reads.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aegrad.config import Config, VAEConfig
from aegrad.errors import UserError
from aegrad.models.variational.model import gaussian_kl, log_likelihood
from aegrad.objectives import Objective, Terms, register_objective

ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016, §5.2: a unit is active when Cov_x(E_q[z_j]) exceeds this


def active_units(mu: Tensor, threshold: float = ACTIVE_THRESHOLD) -> Tensor:
    """How many latent dimensions have a posterior mean varying across the batch (N, L) by more than `threshold`."""
    return (mu.float().var(dim=0, correction=0) > threshold).sum().float()


def kl_weight(beta: float, warmup_steps: int, step: int) -> float:
    """The KL weight after `step` optimizer steps: a linear ramp from 0 to beta over `warmup_steps`."""
    return beta if warmup_steps <= 0 else beta * min(1.0, step / warmup_steps)


@torch.no_grad()
def latent_kl(model: torch.nn.Module, x: Tensor, batch: int = 2048) -> Tensor:
    """The mean KL(q(z|x) || p(z)) of each latent dimension over `x`, (L,) nats: what collapse evidence lists."""
    was_training = model.training
    model.eval()
    try:
        total = sum(gaussian_kl(*model.posterior(xb)).double().sum(0) for xb in x.split(batch))
    finally:
        model.train(was_training)
    return (total / max(1, len(x))).float()


class ELBO(Objective):
    """The negative ELBO with beta, KL warm-up and free bits (see the module docstring); terms in nats per sample."""

    name = "elbo"

    def __init__(self, vae: VAEConfig) -> None:
        self.vae = vae
        self.weight = kl_weight(vae.beta, vae.kl_warmup_steps, 0)

    def begin_step(self, step: int) -> None:
        self.weight = kl_weight(self.vae.beta, self.vae.kl_warmup_steps, step)

    def __call__(self, target: Tensor, outputs: dict[str, Tensor]) -> Terms:
        x = outputs.get("target", target)  # the binary draw the model scored, in training
        mu, logvar = outputs["mu"].float(), outputs["logvar"].float()
        recon = -log_likelihood(self.vae.likelihood, x, outputs["raw"].float(), self.vae.sigma).mean()
        kl_dims = gaussian_kl(mu, logvar).mean(dim=0)
        kl = kl_dims.sum()
        floored = kl_dims.clamp(min=self.vae.free_bits).sum() if self.vae.free_bits > 0 else kl
        return {
            "loss": recon + self.weight * floored,
            "elbo": -(recon + kl).detach(),
            "recon": recon.detach(),
            "kl": kl.detach(),
            "active_units": active_units(mu.detach()),
        }


@register_objective("elbo")
def _elbo(cfg: Config) -> Objective:
    m = cfg.model
    if not m.variational or m.kind not in ("mlp", "conv"):
        raise UserError(
            "train.objective=elbo trains a variational autoencoder: set model.variational=true "
            f"with model.kind=mlp or conv (got kind={m.kind}, variational={str(m.variational).lower()})"
        )
    if m.vae.likelihood == "bernoulli" and cfg.data.binarize == "none":
        raise UserError(
            "model.vae.likelihood=bernoulli models binary pixels: set data.binarize=dynamic (or static), "
            "or use model.vae.likelihood=gaussian"
        )
    if cfg.train.pretrain != "none":
        raise UserError("train.pretrain=layerwise pairs plain autoencoder stages; "
                        "a VAE's code stage is (mean, log-variance): set train.pretrain=none")
    if cfg.train.noise != "none":
        raise UserError("train.noise corrupts the input of a plain autoencoder; "
                        "a VAE samples its own noise: set train.noise=none")
    return ELBO(m.vae)
