"""The plain autoencoder's objectives: mean squared error and binary cross-entropy of the reconstruction."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from aegrad.config import Config
from aegrad.errors import UserError
from aegrad.objectives.base import Objective, Terms, register_objective


class MSE(Objective):
    """Mean squared reconstruction error, ``mean((x_hat - x)^2)``: the plain autoencoder's objective."""

    name = "mse"

    def __call__(self, target: Tensor, outputs: dict[str, Tensor]) -> Terms:
        mse = F.mse_loss(outputs["x_hat"].float(), target)
        return {"loss": mse, "mse": mse}


class BCE(Objective):
    """Binary cross-entropy of the reconstruction, per element and averaged:
    ``-mean(x log x_hat + (1 - x) log(1 - x_hat))``, for targets in [0, 1] (binarised
    images: the Bernoulli likelihood, Bengio et al. 2007). The MSE is logged beside it.
    """

    name = "bce"

    def __call__(self, target: Tensor, outputs: dict[str, Tensor]) -> Terms:
        x_hat = outputs["x_hat"].float()
        bce = F.binary_cross_entropy(x_hat, target)
        return {"loss": bce, "bce": bce, "mse": F.mse_loss(x_hat.detach(), target)}


@register_objective("mse")
def _mse(cfg: Config) -> Objective:
    return MSE()


@register_objective("bce")
def _bce(cfg: Config) -> Objective:
    if cfg.model.output != "sigmoid" or cfg.data.normalize != "minmax":
        raise UserError(
            "train.objective=bce needs targets and reconstructions in [0, 1]: "
            "set model.output=sigmoid and data.normalize=minmax (or use train.objective=mse)"
        )
    return BCE()
