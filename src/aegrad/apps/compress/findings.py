"""Gradient health for codecs: a rate that collapsed to zero (every latent channel unused) is a finding.

When lambda is too small for the data, D + lambda*R is minimised by sending nothing:
the analysis transform's output collapses into the prior's most probable bin, every
latent channel carries ~0 bits, and the synthesis can only emit one image for every
input — the test MSE sits at the trivial baseline (predicting the training mean). The
gradients look healthy (nothing vanishes or explodes), so the generic detectors would
blame the learning rate; the remedy is a larger lambda.

The detector judges a run from its diagnosis inputs (the loop passes the test MSE, not the
test bpp): test MSE at the trivial baseline is the verdict; the rate estimated from the logged
loss is evidence. ``entropy.table_bits`` gives a trained model's exact per-channel rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aegrad.diagnose.findings import STALL_FRACTION, RunView, _finding, _sig, detector

COLLAPSE_BPP = 0.01  # an estimated rate below this (bits per pixel) is "nothing sent"
LAMBDA_STEP = 10.0  # the remedy's lambda multiplier: rates move by about a bit per pixel per decade here


def estimated_bpp(view: RunView) -> float | None:
    """bpp ~ last windows' training loss - lambda*255^2*test MSE (the loss is D + lambda*R's sum)."""
    lmbda = view.cfg.get("model.codec.lmbda")
    finite = view.loss[np.isfinite(view.loss)]
    if lmbda is None or view.test_mse is None or not finite.size:
        return None
    tail = finite[len(finite) // 2 :]
    return max(0.0, float(np.median(tail)) - float(lmbda) * 255.0**2 * view.test_mse)


@detector("codec_rate_collapse", order=5)
def detect_rate_collapse(view: RunView) -> list[dict[str, Any]]:
    """A codec whose reconstructions carry no information about the input (test MSE ~ trivial)."""
    if view.cfg.get("model.kind") != "codec" or view.trivial_mse is None or view.test_mse is None:
        return []
    if view.test_mse < STALL_FRACTION * view.trivial_mse:
        return []
    bpp = estimated_bpp(view)
    evidence = {**view.loss_evidence(), "lmbda": view.cfg.get("model.codec.lmbda")}
    if bpp is not None:
        evidence["estimated_bpp"] = _sig(bpp)
    finding = _finding(
        view, "codec_rate_collapse", "error", [], evidence,
        "the codec's rate collapsed: every latent channel is (nearly) unused, so each input decodes to about "
        "the same image and the test MSE sits at the trivial baseline; lambda weights distortion too little "
        "for this data (sending nothing is the cheapest D + lambda*R)",
        remedy_kind="stalled_loss",
    )
    finding["remedies"].insert(0, raise_lambda(float(evidence["lmbda"])))
    return [finding]


def raise_lambda(lmbda: float) -> dict[str, Any]:
    """The codec's own remedy (first in the finding): lambda x LAMBDA_STEP.

    Not in the remedy registry: that catalogue's remedies apply to every model family.
    """
    return {
        "patch": {"model.codec.lmbda": float(f"{lmbda * LAMBDA_STEP:.3g}")},
        "why": "a codec that sends no bits minimises D + lambda*R with lambda too small: a larger lambda makes "
        "distortion cost more than the bits that remove it",
        "name": "codec_raise_lambda",
    }
