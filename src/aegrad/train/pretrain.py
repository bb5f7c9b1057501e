"""Greedy layer-wise pretraining (Bengio et al. 2007; Hinton & Salakhutdinov 2006).

The historical remedy for deep autoencoders that would not train end to end:
stage i trains ``encoder_blocks[i]`` and its mirror ``decoder_blocks[n-1-i]``
as a shallow autoencoder on the codes h_i of the stages below it,

    h_0 = to_blocks(x),   h_{i+1} = encoder_blocks[i](h_i),
    min  E || decoder_blocks[n-1-i](encoder_blocks[i](h_i)) - h_i ||^2,

with the lower stages frozen, so every stage sees a gradient that has crossed
one block, not the whole depth. Fine-tuning of the stacked model follows in the
ordinary loop. The codes of the current stage are held on the device (N times
the stage's input width) and computed once per stage, in eval mode, from the
previous stage's codes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aegrad.config import TrainConfig
from aegrad.train.clipping import Clipper
from aegrad.train.optim import create_optimizer, param_groups

FEATURE_BATCH = 4096  # samples per forward pass when computing a stage's inputs (no graph is kept)


@torch.no_grad()
def _map(fn: Callable[[Tensor], Tensor], x: Tensor, device: torch.device) -> Tensor:
    """fn over `x` in batches, on `device`."""
    return torch.cat([fn(x[i : i + FEATURE_BATCH].to(device)) for i in range(0, len(x), FEATURE_BATCH)])


def _batches(perm: Tensor, batch_size: int) -> list[Tensor]:
    """Index batches of `perm`; a trailing batch of one sample joins the one before (BatchNorm needs two)."""
    parts = list(perm.split(batch_size))
    if len(parts) > 1 and len(parts[-1]) == 1:
        parts[-2:] = [torch.cat(parts[-2:])]
    return parts


def _train_stage(
    stage: int,
    encoder: nn.Module,
    decoder: nn.Module,
    h: Tensor,
    cfg: TrainConfig,
    generator: torch.Generator,
    log: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    pair = nn.ModuleList([encoder, decoder]).train()
    optimizer = create_optimizer(param_groups(pair, cfg), cfg)  # a fresh optimizer per stage
    clipper = Clipper.from_config(cfg)
    params = [p for p in pair.parameters() if p.requires_grad]
    losses = []
    for epoch in range(cfg.pretrain_epochs):
        perm = torch.randperm(len(h), generator=generator, device=generator.device).to(h.device)
        total = torch.zeros((), dtype=torch.float64, device=h.device)
        for idx in _batches(perm, cfg.batch_size):
            hb = h[idx]
            loss = F.mse_loss(decoder(encoder(hb)), hb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clipper(params)
            optimizer.step()
            total += loss.detach().double() * len(idx)
        losses.append(float(total) / len(h))  # one host sync per epoch
        log({"kind": "pretrain", "stage": stage, "epoch": epoch, "loss": losses[-1]})
    return {"stage": stage, "epochs": cfg.pretrain_epochs, "first_loss": losses[0], "last_loss": losses[-1]}


def pretrain_layerwise(
    model: nn.Module,
    train_x: Tensor,
    cfg: TrainConfig,
    *,
    generator: torch.Generator,
    device: torch.device | str,
    log: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Pretrain each encoder/decoder pair in turn, bottom up; the model must already be on `device`.

    `model` has ``encoder_blocks`` and ``decoder_blocks`` (``nn.ModuleList``s of
    equal length) and ``to_blocks(x)``, as ``aegrad.models.Autoencoder`` does.

    Each stage runs ``cfg.pretrain_epochs`` epochs of MSE on its input codes,
    with batches of ``cfg.batch_size`` shuffled by `generator`, a fresh
    ``cfg.optimizer`` at ``cfg.lr`` (no schedule) and the configured clipping.
    `log` receives ``{"kind": "pretrain", "stage", "epoch", "loss"}`` per epoch
    (0-based stage and epoch; loss is the epoch's mean training MSE). Returns one
    ``{"stage", "epochs", "first_loss", "last_loss"}`` per stage.
    """
    enc, dec = model.encoder_blocks, model.decoder_blocks
    if len(enc) != len(dec):
        raise ValueError(f"{len(enc)} encoder stages but {len(dec)} decoder stages")
    device = torch.device(device)
    n = len(enc)
    was_training = model.training
    model.eval()  # frozen lower stages run as at test time (BatchNorm running stats, no dropout)
    records = []
    h = _map(model.to_blocks, train_x, device)
    for i in range(n):
        if i > 0:
            enc[i - 1].eval()
            h = _map(enc[i - 1], h, device)
        records.append(_train_stage(i, enc[i], dec[n - 1 - i], h, cfg, generator, log))
    model.train(was_training)
    return records
