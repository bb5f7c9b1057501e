"""``masked_ce``: the sequence autoencoder's cross-entropy over real positions only.

Per target position t of line n, ``ce[n, t] = -log p(target[n, t] | target[n, <t], z)``; the
loss is its mean over positions where ``mask`` is true (a line's characters and its
``<eos>``). Padded positions are selected away with ``torch.where`` rather than multiplied
by zero, so not even a NaN there can reach the loss. A variational model adds
``beta * KL(q(z|x) || N(0, I))`` per line, divided by the batch's mean tokens per line so
both terms are per token (model.vae.beta, kl_warmup_steps and free_bits as for the VAE).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from aegrad.models.variational.objective import kl_weight
from aegrad.config import Config
from aegrad.models.variational.model import gaussian_kl
from aegrad.objectives import Objective, Terms, register_objective

def masked_ce(logits: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean cross-entropy (nats) over the positions where `mask` holds; (N, T, V), (N, T), (N, T) -> ()."""
    ce = F.cross_entropy(logits.float().flatten(0, 1), target.flatten(), reduction="none").view_as(target)
    return torch.where(mask, ce, torch.zeros_like(ce)).sum() / mask.sum().clamp_min(1)


def token_accuracy(logits: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Share of real positions whose most likely symbol is the target (teacher forced)."""
    hit = (logits.argmax(-1) == target) & mask
    return hit.sum() / mask.sum().clamp_min(1)


class MaskedCE(Objective):
    """Terms: loss, ce (nats per token), bits_per_token, token_acc; kl when variational."""

    name = "masked_ce"

    def __init__(self, beta: float = 1.0, warmup_steps: int = 0, free_bits: float = 0.0) -> None:
        self.beta, self.warmup_steps, self.free_bits = beta, warmup_steps, free_bits
        self.weight = kl_weight(beta, warmup_steps, 0)

    def begin_step(self, step: int) -> None:
        self.weight = kl_weight(self.beta, self.warmup_steps, step)

    def __call__(self, target: Tensor, outputs: dict[str, Tensor]) -> Terms:
        logits, tgt, mask = outputs["logits"], outputs["target"], outputs["mask"]
        ce = masked_ce(logits, tgt, mask)
        terms: Terms = {"loss": ce}
        if "mu" in outputs:
            kl_dim = gaussian_kl(outputs["mu"].float(), outputs["logvar"].float()).mean(0)
            kl = kl_dim.sum()
            penalised = kl_dim.clamp_min(self.free_bits).sum() if self.free_bits else kl
            tokens = mask.sum() / mask.shape[0]
            terms["loss"] = ce + self.weight * penalised / tokens
            terms["kl"] = kl
        terms["ce"] = ce
        terms["bits_per_token"] = ce / math.log(2.0)
        terms["token_acc"] = token_accuracy(logits.detach(), tgt, mask)
        return terms


@register_objective("masked_ce")
def _masked_ce(cfg: Config) -> Objective:
    v = cfg.model.vae
    return MaskedCE(v.beta, v.kl_warmup_steps, v.free_bits)
