"""Gradient through time: how the gradient reaching each encoder step's state decays with distance from the loss.

The code z is read from the encoder's state after a line's last character, so the loss
reaches the state after character t through ``len - 1 - t`` recurrent steps. The probe
takes ``g(d) = mean over lines of ||dL/dh_{len-1-d}||`` for distances d = 0, 1, ...,
from one forward and ``torch.autograd.grad`` of the masked cross-entropy with respect to
the per-step states (parameter gradients untouched). A tanh RNN multiplies the gradient by
``diag(1 - h^2) W_hh^T`` per step and it falls geometrically (Bengio et al. 1994;
Pascanu et al. 2013); gated cells keep an additive path.

``probe_terms`` summarises the profile in three scalars: ``tgrad_ratio = g(D) / g(0)``,
``tgrad_span = D`` (the longest distance at least a quarter of the probed lines reach, at
most MAX_SPAN) and ``tgrad_per_step = tgrad_ratio ** (1 / D)``. ``TimeDecayProbe``, a
training callback the family registers for every seq run, adds them to each held-out
batch's terms (the first ``model.probe_samples`` lines of it), so they are logged as
``test_tgrad_*`` every epoch and in the summary; the model's forward measures nothing.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from aegrad.config import ModelConfig
from aegrad.data.text.vocab import lengths
from aegrad.models.base import register_family_callback
from aegrad.models.seq.model import SeqAutoencoder, trim
from aegrad.models.seq.objective import masked_ce
from aegrad.train.callbacks import Callback  # the hook protocol only: that module imports nothing

MAX_SPAN = 64  # the longest distance the summary reads
REACH = 0.25  # share of probed lines that must reach a distance for it to count in the summary
FLOOR = 1e-30  # ratios below are reported as this (float32 gradients underflow near 1e-38)


def time_decay(model: SeqAutoencoder, ids: Tensor) -> tuple[Tensor, Tensor]:
    """(g, n): g[d] the mean gradient norm at distance d from the loss, n[d] the lines reaching d; float64 (L,)."""
    ids = ids.long()
    with torch.enable_grad():
        code, hs = model.encoder_states(ids)
        z = code.chunk(2, dim=1)[0] if model.variational else code
        logits, target, mask = model.teacher_forced(ids, z)
        grads = torch.autograd.grad(masked_ce(logits, target, mask), hs, allow_unused=True)
    norms = torch.stack([torch.zeros(len(ids)) if g is None else g.double().norm(dim=1).cpu() for g in grads], 1)
    lens = lengths(ids).cpu()
    length = ids.shape[1]
    d = lens[:, None] - 1 - torch.arange(length)[None, :]  # distance of position t in line n
    live = d >= 0
    total = torch.zeros(length, dtype=torch.float64).index_add_(0, d[live], norms[live])
    count = torch.zeros(length, dtype=torch.float64).index_add_(0, d[live], torch.ones_like(norms[live]))
    return total / count.clamp_min(1), count


def summarize(g: Tensor, count: Tensor) -> dict[str, float]:
    """tgrad_ratio, tgrad_span, tgrad_per_step of a profile (see the module docstring)."""
    reach = count >= REACH * count[0].clamp_min(1)
    span = int(min(MAX_SPAN, int(reach.nonzero().max()) if reach.any() else 0))
    if span < 1 or float(g[0]) <= 0:
        return {"tgrad_ratio": 1.0, "tgrad_span": float(span), "tgrad_per_step": 1.0}
    ratio = max(FLOOR, float(g[span] / g[0]))
    return {"tgrad_ratio": ratio, "tgrad_span": float(span), "tgrad_per_step": ratio ** (1.0 / span)}


def probe_terms(model: SeqAutoencoder, ids: Tensor) -> dict[str, Tensor]:
    """The summary as scalar tensors (float32, as the evaluation averages terms)."""
    return {k: torch.tensor(v) for k, v in summarize(*time_decay(model, ids)).items()}


class TimeDecayProbe(Callback):
    """At each evaluation, the probe on every held-out batch's first ``model.probe_samples`` lines."""

    def on_eval_batch(self, model: nn.Module, x: Tensor, terms: dict[str, Tensor]) -> None:
        n = model.probe_samples if isinstance(model, SeqAutoencoder) else 0
        if n > 0 and not torch.is_inference_mode_enabled():  # the probe takes gradients: not in inference mode
            terms.update(probe_terms(model, trim(x)[:n]))


@register_family_callback("seq")
def _time_decay_probe(cfg: ModelConfig, run_dir: Path) -> TimeDecayProbe | None:
    """The seq family's training callback: the time-decay probe's test_tgrad_* terms at every evaluation."""
    return TimeDecayProbe() if cfg.kind == "seq" else None
