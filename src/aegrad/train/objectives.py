"""Objectives: what a model family is trained to minimise, as named terms.

An objective takes the batch's target and the model's named outputs
(``model(x) -> {"x_hat": ..., "z": ..., ...}``) and returns named scalar terms
with a ``"loss"`` entry, the one the loop optimises; every other entry is only
logged (per step and per epoch in metrics.jsonl, and drawn in the loss plot).
This is how CompressAI's loss modules return ``{"loss", "bpp_loss", "mse_loss"}``.
The loop never names a particular loss: a new model family brings its objective,
registered here by name, and declares it as its model class's ``objective``.

    @register_objective("mse")
    def _mse(cfg: Config) -> Objective: ...

``train.objective: auto`` takes the model family's declaration; a name overrides it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from aegrad.config import Config
from aegrad.errors import UserError
from aegrad.registry import Registry
from aegrad.train.penalties import latent_l1

Terms = dict[str, Tensor]  # "loss" first: optimised; the rest logged


class Objective:
    """Base class: ``objective(target, outputs) -> terms``; ``terms["loss"]`` is minimised.

    Subclasses set ``name`` and implement ``__call__``. ``begin_step`` is called
    before every optimizer step with the number of steps done so far, for
    objectives that change over training (KL warm-up); the default does nothing.
    """

    name = "objective"

    def __call__(self, target: Tensor, outputs: dict[str, Tensor]) -> Terms:
        raise NotImplementedError

    def begin_step(self, step: int) -> None:
        """The optimizer is about to take step `step + 1` (`step` steps are done)."""


ObjectiveBuilder = Callable[[Config], Objective]
OBJECTIVES: Registry[ObjectiveBuilder] = Registry("objective")
register_objective = OBJECTIVES.register


def list_objectives() -> list[str]:
    """The registered objectives (with "auto", equal to config's ``train.objective`` choices)."""
    return OBJECTIVES.names()


def create_objective(cfg: Config, model: torch.nn.Module) -> Objective:
    """The objective `cfg` asks for (``auto``: `model`'s family's), with the latent L1 penalty added if set."""
    name = cfg.train.objective
    if name == "auto":
        name = getattr(model, "objective", "mse")
    objective = OBJECTIVES.get(name)(cfg)
    if cfg.train.latent_l1:
        objective = LatentL1(objective, cfg.train.latent_l1)
    return objective


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


class LatentL1(Objective):
    """Another objective plus ``coef * mean_n ||z_n||_1`` (a sparse autoencoder's activity penalty)."""

    def __init__(self, inner: Objective, coef: float) -> None:
        self.inner, self.coef = inner, coef
        self.name = inner.name

    def __call__(self, target: Tensor, outputs: dict[str, Tensor]) -> Terms:
        terms = self.inner(target, outputs)
        penalty = latent_l1(outputs["z"].float(), self.coef)
        return {"loss": terms["loss"] + penalty, **{k: v for k, v in terms.items() if k != "loss"}, "latent_l1": penalty}

    def begin_step(self, step: int) -> None:
        self.inner.begin_step(step)


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
