"""The codec family's objective: rate plus weighted distortion, ``rate_distortion``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from aegrad.config import Config
from aegrad.errors import UserError
from aegrad.objectives import Objective, Terms, register_objective


class RateDistortion(Objective):
    """L = lambda * 255^2 * MSE + R (Ballé et al. 2017 eq. 2; CompressAI's RateDistortionLoss scale).

    R is bits per pixel under the entropy model: sum(-log2 p(y_hat)) / (N * H * W).
    Logged: ``bpp`` and ``mse`` (targets in [0, 1], so 255^2 * MSE is the 8-bit MSE).
    """

    name = "rate_distortion"

    def __init__(self, lmbda: float) -> None:
        self.lmbda = lmbda

    def __call__(self, target: Tensor, outputs: dict[str, Tensor]) -> Terms:
        n, _, h, w = target.shape
        bpp = -torch.log2(outputs["likelihoods"].float()).sum() / (n * h * w)
        mse = F.mse_loss(outputs["x_hat"].float(), target)
        return {"loss": self.lmbda * 255.0**2 * mse + bpp, "bpp": bpp, "mse": mse}


@register_objective("rate_distortion")
def _rate_distortion(cfg: Config) -> Objective:
    if cfg.data.normalize != "minmax":
        raise UserError("train.objective=rate_distortion needs pixels in [0, 1]: set data.normalize=minmax")
    return RateDistortion(cfg.model.codec.lmbda)
