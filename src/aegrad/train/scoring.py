"""Scores on held-out data: the reconstruction MSE, the objective's terms, the trivial baseline, PSNR."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from aegrad.data import Dataset
from aegrad.objectives import Objective
from aegrad.train.callbacks import Callback

EVAL_BATCH = 2048  # evaluation batch: large, since no graph is kept


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: Tensor) -> float:
    """Mean squared reconstruction error over `x` (model space), in eval mode."""
    return evaluate_terms(model, x)["mse"]


@torch.no_grad()
def evaluate_terms(
    model: torch.nn.Module, x: Tensor, objective: Objective | None = None, callbacks: Sequence[Callback] = ()
) -> dict[str, float]:
    """``{"mse": ...}`` over `x` in eval mode, and with `objective` each of its terms (sample-weighted mean).

    The MSE is summed per element in float64 (the per-batch means of the objective's
    terms are weighted by batch size), so it does not depend on the batch split. Each
    batch's terms pass through the callbacks' ``on_eval_batch``, which may add measured ones.
    """
    was_training = model.training
    model.eval()
    sq = torch.zeros((), dtype=torch.float64, device=x.device)
    sums: dict[str, Tensor] = {}
    recon = True  # token models (model.kind=seq) output logits, no x_hat: their mse is nan, their terms say how they do
    for i in range(0, len(x), EVAL_BATCH):
        xb = x[i : i + EVAL_BATCH]
        out = model(xb)
        recon = "x_hat" in out
        if recon:
            sq += F.mse_loss(out["x_hat"].float(), xb, reduction="sum").double()
        if objective is not None:
            terms = dict(objective(xb, out))
            for cb in callbacks:
                cb.on_eval_batch(model, xb, terms)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v.double() * len(xb)
    model.train(was_training)
    n = max(1, len(x))
    mse = float(sq) / max(1, x.numel()) if recon else math.nan
    return {"mse": mse, **{k: float(v) / n for k, v in sums.items() if k != "mse"}}


def trivial_mse(data: Dataset) -> float:
    """Test MSE of predicting the per-feature training mean: the bar any model must beat."""
    if not data.train_x.is_floating_point():  # token ids (data.source=text): no mean to predict
        return math.nan
    mean = data.train_x.mean(dim=0, keepdim=True)
    return float(((data.test_x - mean) ** 2).mean())


def psnr(mse: float, data: Dataset) -> float | None:
    """Peak signal-to-noise ratio in dB for image data, peak = the training data's range."""
    if not data.is_image or not 0 < mse < math.inf:
        return None
    peak = float(data.train_x.max() - data.train_x.min())
    return 10.0 * math.log10(peak * peak / mse)
