"""Vanishing gradients through time: a recurrent encoder whose far steps get (almost) no gradient.

The sequence autoencoder (apps/text) logs, every epoch on the test split, how the gradient
reaching the encoder's hidden state falls with the number of recurrent steps between that
state and the code z (apps/text/timedecay.py): ``test_tgrad_ratio = g(D) / g(0)`` over
``test_tgrad_span = D`` steps, and ``test_tgrad_per_step`` (its D-th root). A plain tanh
RNN multiplies the gradient by ``diag(1 - h_t^2) W_hh^T`` at every step, so it falls
geometrically and the start of a long line cannot shape z (Bengio et al. 1994; Pascanu et al.
2013, §2); gated cells (GRU, LSTM) add an additive path that carries it.

    detect_vanishing_through_time(metrics, config)

is a pure function of a run's metrics.jsonl records: a finding when the ratio over a span of at
least MIN_SPAN steps, its geometric mean over the second half of the epochs, is below
RATIO_LIMIT (a tanh RNN's ratio swings by orders of magnitude from one epoch to the next, so
one epoch would judge by chance). The remedies are config patches: a gated cell (GRU, LSTM),
shorter sequences, layer norm, gradient clipping.
"""

from __future__ import annotations

import math
from typing import Any

from aegrad.diagnose.remedies import Patch, RunConfig

KIND = "vanishing_through_time"

# The gradient at the far end of the line is below this share of the gradient at its last
# character, over at least MIN_SPAN steps. Measured on fortunes lines <= 64 characters (span 54),
# second-half geometric means: GRU 0.35 (hidden 256, 10 epochs) and 0.038 (hidden 64, 4 epochs);
# tanh RNN 6.7e-5 (hidden 256, 10 epochs; its last two epochs 4e-3) and 1e-29 (hidden 64).
RATIO_LIMIT = 1e-2
MIN_SPAN = 16
ERROR_RATIO = 1e-8  # below this the first half of a line has no say in z at all: an error


def _sig(x: float | None, digits: int = 3) -> float | None:
    return None if x is None or not math.isfinite(x) else float(f"{x:.{digits}g}")


def through_time_remedies(config: Any = None) -> list[dict[str, Any]]:
    """The remedies that apply to `config`, best first: [{"patch", "why", "name"}]."""
    cfg = RunConfig(config)
    cell = cfg.get("model.seq.cell")
    max_len = cfg.get("data.max_len")
    out: list[dict[str, Any]] = []

    def add(name: str, patch: Patch | None, why: str) -> None:
        if patch is not None:
            out.append({"patch": patch, "why": why, "name": name})

    add("gru_cell", {"model.seq.cell": "gru"} if cell not in ("gru", "lstm") else None,
        "a GRU's update gate mixes the old state in additively, h_t = u h_(t-1) + (1 - u) n, so the gradient "
        "can pass many steps without being squashed (Cho et al. 2014)")
    add("lstm_cell", {"model.seq.cell": "lstm"} if cell != "lstm" else None,
        "an LSTM's cell state is updated by addition through the forget gate, the constant error carousel "
        "(Hochreiter & Schmidhuber 1997)")
    add("shorter_sequences", {"data.max_len": max(4, int(max_len) // 2)} if max_len and int(max_len) >= 16 else None,
        "fewer recurrent steps between a character and the code (shorter or truncated lines) leave less to vanish")
    add("layer_norm", {"model.seq.layer_norm": True} if not cfg.get("model.seq.layer_norm") else None,
        "layer norm on the pre-activations keeps tanh out of saturation, where its derivative is near 0 "
        "(Ba et al. 2016)")
    add("clip_norm", {"train.clip_norm": 1.0} if cfg.get("train.clip_norm") is None else None,
        "once larger recurrent weights carry the gradient, its norm can explode instead; clipping bounds "
        "that side so a larger learning rate is safe (Pascanu et al. 2013, §3.2)")
    return out


def detect_vanishing_through_time(metrics: list[dict[str, Any]] | None, config: Any = None) -> list[dict[str, Any]]:
    """A one-element list with the vanishing-through-time finding, or [] (see the module docstring)."""
    epochs = [m for m in metrics or () if m.get("kind") == "epoch" and m.get("test_tgrad_ratio") is not None]
    if not epochs:
        return []
    last = epochs[-1]
    tail = [max(float(e["test_tgrad_ratio"]), 1e-300) for e in epochs[len(epochs) // 2 :]]
    ratio = math.exp(sum(math.log(r) for r in tail) / len(tail))
    span = float(last.get("test_tgrad_span") or 0)
    if span < MIN_SPAN or not ratio < RATIO_LIMIT:
        return []
    cfg = RunConfig(config)
    per_step = ratio ** (1.0 / span)
    evidence: dict[str, Any] = {
        "grad_ratio_far_to_near": _sig(ratio),  # geometric mean over the second half of the epochs
        "span_steps": int(span),
        "grad_factor_per_step": _sig(per_step),
        "grad_ratio_per_epoch": [_sig(float(e["test_tgrad_ratio"])) for e in epochs],
    }
    if cfg.get("model.seq.cell") is not None:
        evidence["cell"] = cfg.get("model.seq.cell")
    explanation = (
        f"Vanishing gradients through time: the gradient reaching the encoder's state {int(span)} characters "
        f"before the end of a line is {ratio:.2g} of the gradient at its last character (x{per_step:.3g} per step; "
        "geometric mean over the second half of the epochs), "
        "so the start of a long line has almost no say in the code z, and the decoder must guess it."
    )
    return [{
        "kind": KIND,
        "severity": "error" if ratio < ERROR_RATIO else "warning",
        "layers": ["encoder.hh"],
        "evidence": evidence,
        "explanation": explanation,
        "remedies": through_time_remedies(config),
    }]
