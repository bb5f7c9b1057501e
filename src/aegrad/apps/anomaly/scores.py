"""Anomaly scores as pure functions of an autoencoder's outputs, one registered function per kind.

Each returns one number per sample, larger = more anomalous (the detector
negates it into scikit-learn's "larger = more normal" ``score_samples``):

- ``reconstruction``: mean squared reconstruction error over the features,
  ||x - D(E(x))||^2 / D (Japkowicz et al. 1995; Sakurada & Yairi 2014).
- ``latent``: Mahalanobis distance of the code E(x) from the training codes,
  sqrt((z - mu)^T S^-1 (z - mu)) with mu, S their mean and covariance (a
  Gaussian density on the latent space, as in Zong et al. 2018's DAGMM).
- ``combined``: the sum of the two, each divided by its median on the
  training rows so neither dominates by its units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from aegrad.registry import Registry


@dataclass
class LatentGaussian:
    """Mean and precision of the training codes (the covariance ridged by 1e-6 of its trace, so it inverts)."""

    mean: Tensor
    precision: Tensor

    @classmethod
    def fit(cls, z: Tensor) -> LatentGaussian:
        zc = z - z.mean(0)
        cov = zc.T @ zc / max(len(z) - 1, 1)
        ridge = 1e-6 * float(cov.trace()) / len(cov) + 1e-12
        return cls(z.mean(0), torch.linalg.inv(cov + ridge * torch.eye(len(cov), dtype=z.dtype)))

    def distance(self, z: Tensor) -> Tensor:
        d = z - self.mean
        return ((d @ self.precision) * d).sum(1).clamp_min(0).sqrt()


@dataclass
class Outputs:
    """What a score may read: the inputs, their reconstructions and codes, and the training codes' Gaussian."""

    x: Tensor
    x_hat: Tensor
    z: Tensor
    latent: LatentGaussian
    scale: dict[str, float]  # each base score's median on the training rows (for ``combined``)


ScoreFn = Callable[[Outputs], Tensor]
SCORES: Registry[ScoreFn] = Registry("anomaly score")
register_score = SCORES.register


def list_scores() -> list[str]:
    return SCORES.names()


@register_score("reconstruction")
def reconstruction_error(out: Outputs) -> Tensor:
    return (out.x - out.x_hat).square().flatten(1).mean(1)


@register_score("latent")
def latent_distance(out: Outputs) -> Tensor:
    return out.latent.distance(out.z)


@register_score("combined")
def combined(out: Outputs) -> Tensor:
    return reconstruction_error(out) / out.scale["reconstruction"] + latent_distance(out) / out.scale["latent"]
