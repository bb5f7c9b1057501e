"""Vanishing gradients through time: a recurrent encoder whose far steps get (almost) no gradient.

The sequence autoencoder logs, every epoch on the test split, how the gradient
reaching the encoder's hidden state falls with the number of recurrent steps between that
state and the code z (timedecay.py): ``test_tgrad_ratio = g(D) / g(0)`` over
``test_tgrad_span = D`` steps, and ``test_tgrad_per_step`` (its D-th root). A plain tanh
RNN multiplies the gradient by ``diag(1 - h_t^2) W_hh^T`` at every step, so it falls
geometrically and the start of a long line cannot shape z (Bengio et al. 1994; Pascanu et al.
2013, §2); gated cells (GRU, LSTM) add an additive path that carries it.

    vanishing_through_time(metrics, config)

is a pure function of a run's metrics.jsonl records (``detect_vanishing_through_time`` is
the registered detector, ``diagnose`` hands it the run's metrics): a finding when the ratio
over a span of at least MIN_SPAN steps, its geometric mean over the second half of the
epochs, is below RATIO_LIMIT (a tanh RNN's ratio swings by orders of magnitude from one
epoch to the next, so one epoch would judge by chance). The remedies are config patches,
registered like every remedy: a gated cell (GRU, LSTM), shorter sequences, layer norm,
gradient clipping.
"""

from __future__ import annotations

import math
from typing import Any

from aegrad.diagnose.catalogue import Finding, advice, detector, remedy, sig
from aegrad.diagnose.configview import ConfigView
from aegrad.diagnose.kinds import Kind, Severity, Target
from aegrad.diagnose.patches import Patch
from aegrad.diagnose.view import RunView

# The gradient at the far end of the line is below this share of the gradient at its last
# character, over at least MIN_SPAN steps. Measured on fortunes lines <= 64 characters (span 54),
# second-half geometric means: GRU 0.35 (hidden 256, 10 epochs) and 0.038 (hidden 64, 4 epochs);
# tanh RNN 6.7e-5 (hidden 256, 10 epochs; its last two epochs 4e-3) and 1e-29 (hidden 64).
RATIO_LIMIT = 1e-2
MIN_SPAN = 16
ERROR_RATIO = 1e-8  # below this the first half of a line has no say in z at all: an error



def _key(name: str) -> str:
    """The registry's name of a remedy whose own name a gradient-health remedy already has (layer_norm, clip_norm)."""
    return f"{Kind.VANISHING_THROUGH_TIME}:{name}"


@remedy(
    "gru_cell",
    "a GRU's update gate mixes the old state in additively, h_t = u h_(t-1) + (1 - u) n, so the gradient "
    "can pass many steps without being squashed (Cho et al. 2014)",
    treats={Target.VANISHING_THROUGH_TIME: 0},
)
def _gru_cell(cfg: ConfigView) -> Patch | None:
    return {"model.seq.cell": "gru"} if cfg.model.seq.cell not in ("gru", "lstm") else None


@remedy(
    "lstm_cell",
    "an LSTM's cell state is updated by addition through the forget gate, the constant error carousel "
    "(Hochreiter & Schmidhuber 1997)",
    treats={Target.VANISHING_THROUGH_TIME: 1},
)
def _lstm_cell(cfg: ConfigView) -> Patch | None:
    return {"model.seq.cell": "lstm"} if cfg.model.seq.cell != "lstm" else None


@remedy(
    "shorter_sequences",
    "fewer recurrent steps between a character and the code (shorter or truncated lines) leave less to vanish",
    treats={Target.VANISHING_THROUGH_TIME: 2},
)
def _shorter_sequences(cfg: ConfigView) -> Patch | None:
    max_len = cfg.data.max_len
    return {"data.max_len": max(4, int(max_len) // 2)} if max_len and int(max_len) >= 16 else None


@remedy(
    "layer_norm",
    "layer norm on the pre-activations keeps tanh out of saturation, where its derivative is near 0 "
    "(Ba et al. 2016)",
    treats={Target.VANISHING_THROUGH_TIME: 3},
    key=_key("layer_norm"),
)
def _seq_layer_norm(cfg: ConfigView) -> Patch | None:
    return {"model.seq.layer_norm": True} if not cfg.model.seq.layer_norm else None


@remedy(
    "clip_norm",
    "once larger recurrent weights carry the gradient, its norm can explode instead; clipping bounds "
    "that side so a larger learning rate is safe (Pascanu et al. 2013, §3.2)",
    treats={Target.VANISHING_THROUGH_TIME: 4},
    key=_key("clip_norm"),
)
def _seq_clip_norm(cfg: ConfigView) -> Patch | None:
    return {"train.clip_norm": 1.0} if cfg.train.clip_norm is None else None


def vanishing_through_time(
    metrics: list[dict[str, Any]] | None, config: Any = None, patches: bool = True
) -> list[Finding]:
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
    cfg = ConfigView(config)
    per_step = ratio ** (1.0 / span)
    evidence: dict[str, Any] = {
        "grad_ratio_far_to_near": sig(ratio),  # geometric mean over the second half of the epochs
        "span_steps": int(span),
        "grad_factor_per_step": sig(per_step),
        "grad_ratio_per_epoch": [sig(float(e["test_tgrad_ratio"])) for e in epochs],
    }
    if cfg.model.seq.cell is not None:
        evidence["cell"] = cfg.model.seq.cell
    explanation = (
        f"Vanishing gradients through time: the gradient reaching the encoder's state {int(span)} characters "
        f"before the end of a line is {ratio:.2g} of the gradient at its last character (x{per_step:.3g} per step; "
        "geometric mean over the second half of the epochs), "
        "so the start of a long line has almost no say in the code z, and the decoder must guess it."
    )
    severity = Severity.ERROR if ratio < ERROR_RATIO else Severity.WARNING
    remedies = advice((Target.VANISHING_THROUGH_TIME,), config, patches)
    return [Finding(Kind.VANISHING_THROUGH_TIME, severity, ["encoder.hh"], evidence, explanation, remedies)]


@detector(Kind.VANISHING_THROUGH_TIME, order=8, every_window=True)
def detect_vanishing_through_time(view: RunView) -> list[Finding]:
    """A recurrent encoder's gradient through time, from the run's metrics (the window records do not hold it).

    Its remedies are patches whatever `view.patches` says: the metrics it reads come from an aegrad seq model.
    """
    return vanishing_through_time(view.metrics, view.config)
