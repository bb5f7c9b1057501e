"""Objectives: what a model family is trained to minimise, as named terms.

An objective takes the batch's target and the model's named outputs
(``model(x) -> {"x_hat": ..., "z": ..., ...}``) and returns named scalar terms
with a ``"loss"`` entry, the one the loop optimises; every other entry is only
logged (per step and per epoch in metrics.jsonl, and drawn in the loss plot).
This is how CompressAI's loss modules return ``{"loss", "bpp_loss", "mse_loss"}``.
The loop never names a particular loss: a new model family brings its objective,
registered by name (``register_objective``) in its own folder, and declares it as its model class's ``objective``.

    @register_objective("mse")
    def _mse(cfg: Config) -> Objective: ...

``train.objective: auto`` takes the model family's declaration; a name overrides it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from aegrad.config import Config
from aegrad.registry import Registry

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


def latent_l1(z: Tensor, coef: float) -> Tensor:
    """coef * (1/N) * sum_n sum_j |z_nj|: the L1 norm of each code, averaged over the batch.

    The batch mean makes the coefficient independent of the batch size; the sum
    over code units makes the penalty each code's L1 norm, as in sparse coding
    (so it is not rescaled when the latent width changes).
    """
    if not coef:
        return torch.zeros((), device=z.device, dtype=z.dtype)
    return coef * z.abs().sum() / z.shape[0]


class LatentL1(Objective):
    """Another objective plus ``coef * mean_n ||z_n||_1`` (a sparse autoencoder's activity penalty)."""

    def __init__(self, inner: Objective, coef: float) -> None:
        self.inner, self.coef = inner, coef
        self.name = inner.name

    def __call__(self, target: Tensor, outputs: dict[str, Tensor]) -> Terms:
        terms = self.inner(target, outputs)
        penalty = latent_l1(outputs["z"].float(), self.coef)
        return {"loss": terms["loss"] + penalty, **{k: v for k, v in terms.items() if k != "loss"},
                "latent_l1": penalty}

    def begin_step(self, step: int) -> None:
        self.inner.begin_step(step)
