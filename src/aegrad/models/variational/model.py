"""Variational autoencoders (Kingma & Welling 2014) built from the mlp and conv stages.

``model.variational: true`` keeps the family's encoder and decoder stages and
doubles the code layer: the encoder's last linear layer outputs 2L numbers, the
mean mu and log-variance log sigma^2 of a diagonal Gaussian q(z|x). A code is drawn
by reparameterisation, z = mu + sigma * eps with eps ~ N(0, I), so the gradient
reaches the encoder through the sample (Kingma & Welling 2014, §2.4); the prior
is p(z) = N(0, I), and the decoder gives the parameters of p(x|z): Bernoulli
logits, or a Gaussian mean with fixed std ``model.vae.sigma``.

The objective (the ELBO, objective.py) uses the pure functions here:
``gaussian_kl`` (per dimension, closed form) and ``log_likelihood``; the IWAE
bound (apps/vae/iwae.py, a use of a trained VAE) uses the same functions, so training and evaluation
score a model alike.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from aegrad.config import ModelConfig
from aegrad.errors import UserError
from aegrad.models.base import Autoencoder

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag e^logvar) || N(0, I)) per sample and dimension, (N, L), in nats.

    Closed form (Kingma & Welling 2014, appendix B): 0.5 (mu^2 + sigma^2 - 1 - log sigma^2).
    """
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I): a sample of q(z|x) through which gradients reach mu and logvar."""
    eps = torch.randn(mu.shape, dtype=mu.dtype, device=mu.device, generator=generator)
    return mu + (0.5 * logvar).exp() * eps


def log_likelihood(likelihood: str, x: Tensor, raw: Tensor, sigma: float) -> Tensor:
    """log p(x|z) per sample, summed over the sample's elements, from the decoder's raw output.

    bernoulli: `raw` are logits, log p = -BCE-with-logits(raw, x) (x in {0, 1});
    gaussian: `raw` is the mean, log p = -0.5 ((x - raw) / sigma)^2 - log sigma - 0.5 log 2 pi.
    """
    if likelihood == "bernoulli":
        per = -F.binary_cross_entropy_with_logits(raw, x, reduction="none")
    else:
        per = -0.5 * ((x - raw) / sigma).square() - math.log(sigma) - 0.5 * LOG_2PI
    return per.flatten(1).sum(1)


class Variational:
    """Mixin over an ``Autoencoder`` family class: the code layer holds (mu, logvar); see the module docstring.

    ``encode`` returns the posterior mean (what applications use as the code) and
    ``decode`` the likelihood's mean (pixel probabilities for bernoulli).
    In training mode a Bernoulli model binarises its input once per batch, so
    ``data.binarize: dynamic`` sees a new binary image every time (a binary input is left as is).
    """

    objective = "elbo"
    likelihood: str
    sigma: float
    squash: bool  # apply a sigmoid to the gaussian mean (model.output: sigmoid)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, logvar) of q(z|x), each (N, L)."""
        h = Autoencoder.encode(self, x)  # type: ignore[arg-type]
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar

    def encode(self, x: Tensor) -> Tensor:
        return self.posterior(x)[0]

    def decode_raw(self, z: Tensor) -> Tensor:
        """The decoder's raw output (N, *sample_shape): Bernoulli logits or the Gaussian mean."""
        raw = Autoencoder.decode(self, z)  # type: ignore[arg-type]
        return torch.sigmoid(raw) if self.likelihood == "gaussian" and self.squash else raw

    def mean(self, raw: Tensor) -> Tensor:
        """E[x|z] from the raw output: sigmoid(logits) for bernoulli, the mean itself for gaussian."""
        return torch.sigmoid(raw) if self.likelihood == "bernoulli" else raw

    def decode(self, z: Tensor) -> Tensor:
        return self.mean(self.decode_raw(z))

    def log_px(self, x: Tensor, raw: Tensor) -> Tensor:
        """log p(x|z) per sample for the decoder output `raw` of z."""
        return log_likelihood(self.likelihood, x, raw, self.sigma)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Named outputs: x_hat (decoded mean; from mu in eval mode), z (a sample), mu, logvar, raw, target.

        ``target`` is what the likelihood scores: the input, or in training mode its binary draw (bernoulli).
        """
        target = torch.bernoulli(x.clamp(0.0, 1.0)) if self.training and self.likelihood == "bernoulli" else x
        mu, logvar = self.posterior(target)
        z = reparameterize(mu, logvar)
        raw = self.decode_raw(z)
        x_hat = self.mean(raw) if self.training else self.decode(mu)
        return {"x_hat": x_hat, "z": z, "mu": mu, "logvar": logvar, "raw": raw, "target": target}


@functools.cache
def variational_class(base: type[Autoencoder]) -> type[Autoencoder]:
    """``Variational`` over the family class `base` (MLPAutoencoder -> VariationalMLPAutoencoder)."""
    return type(f"Variational{base.__name__}", (Variational, base), {"__doc__": Variational.__doc__})


Builder = Callable[[ModelConfig, tuple[int, ...]], Autoencoder]


def make_variational(builder: Builder, cfg: ModelConfig, sample_shape: tuple[int, ...]) -> Autoencoder:
    """The VAE of `builder`'s family: its encoder with a 2L code layer, its decoder (raw output) on L.

    ``model.vae.decoder_widths`` gives the MLP decoder its own hidden widths, one per encoder
    stage so stages still pair up (a narrower, weaker decoder is a remedy for posterior collapse). Each part is
    built, and initialised,
    by the family's own builder.
    """
    plain = {"variational": False, "output": "identity"}
    enc = builder(cfg.model_copy(update={**plain, "latent": 2 * cfg.latent}), sample_shape)
    widths = cfg.vae.decoder_widths
    if widths is not None and cfg.kind == "mlp" and len(widths) != len(cfg.hidden_widths()):
        raise UserError(
            f"model.vae.decoder_widths lists one width per hidden layer, like the encoder's {cfg.hidden_widths()}: "
            f"got {widths}"
        )
    dec_update = {"widths": list(widths), "depth": None} if widths and cfg.kind == "mlp" else {}
    dec = builder(cfg.model_copy(update={**plain, **dec_update}), sample_shape)
    model = variational_class(type(enc))(list(enc.encoder_blocks), list(dec.decoder_blocks), sample_shape)
    model.likelihood, model.sigma, model.squash = cfg.vae.likelihood, cfg.vae.sigma, cfg.output == "sigmoid"
    return model
