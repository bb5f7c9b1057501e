"""Gradient health for codecs: a rate that collapsed to zero (every latent channel unused) is a finding.

When lambda is too small for the data, D + lambda*R is minimised by sending nothing:
the analysis transform's output collapses into the prior's most probable bin, every
latent channel carries ~0 bits, and the synthesis can only emit one image for every
input — the test MSE sits at the trivial baseline (predicting the training mean). The
gradients look healthy (nothing vanishes or explodes), so the generic detectors would
blame the learning rate; the remedy is a larger lambda (registered like every remedy, listed
before the stalled loss's).

The detector judges a run from its diagnosis inputs (the loop passes the test MSE, not the
test bpp): test MSE at the trivial baseline is the verdict; the rate estimated from the logged
loss is evidence. ``entropy.table_bits`` gives a trained model's exact per-channel rate.
"""

from __future__ import annotations

import numpy as np

from aegrad.diagnose.catalogue import Finding, advice, detector, remedy, sig
from aegrad.diagnose.configview import ConfigView
from aegrad.diagnose.kinds import Kind, Severity, Target
from aegrad.diagnose.patches import Patch
from aegrad.diagnose.view import STALL_FRACTION, RunView

COLLAPSE_BPP = 0.01  # an estimated rate below this (bits per pixel) is "nothing sent"
LAMBDA_STEP = 10.0  # the remedy's lambda multiplier: rates move by about a bit per pixel per decade here


def estimated_bpp(view: RunView) -> float | None:
    """bpp ~ last windows' training loss - lambda*255^2*test MSE (the loss is D + lambda*R's sum)."""
    lmbda = view.cfg.model.codec.lmbda
    finite = view.loss[np.isfinite(view.loss)]
    if lmbda is None or view.test_mse is None or not finite.size:
        return None
    tail = finite[len(finite) // 2 :]
    return max(0.0, float(np.median(tail)) - float(lmbda) * 255.0**2 * view.test_mse)


@detector(Kind.CODEC_RATE_COLLAPSE, order=5)
def detect_rate_collapse(view: RunView) -> list[Finding]:
    """A codec whose reconstructions carry no information about the input (test MSE ~ trivial)."""
    if view.cfg.model.kind != "codec" or view.trivial_mse is None or view.test_mse is None:
        return []
    if view.test_mse < STALL_FRACTION * view.trivial_mse:
        return []
    bpp = estimated_bpp(view)
    evidence = {**view.loss_evidence(), "lmbda": view.cfg.model.codec.lmbda}
    if bpp is not None:
        evidence["estimated_bpp"] = sig(bpp)
    explanation = (
        "the codec's rate collapsed: every latent channel is (nearly) unused, so each input decodes to about "
        "the same image and the test MSE sits at the trivial baseline; lambda weights distortion too little "
        "for this data (sending nothing is the cheapest D + lambda*R)"
    )
    # Its own remedy first, always a patch: only an aegrad codec's config has model.kind=codec.
    remedies = advice((Target.CODEC_RATE_COLLAPSE,), view.config) + view.remedies(Target.STALLED_LOSS)
    return [Finding(Kind.CODEC_RATE_COLLAPSE, Severity.ERROR, [], evidence, explanation, remedies)]


@remedy(
    "codec_raise_lambda",
    "a codec that sends no bits minimises D + lambda*R with lambda too small: a larger lambda makes "
    "distortion cost more than the bits that remove it",
    treats={Target.CODEC_RATE_COLLAPSE: 0},
)
def raise_lambda(cfg: ConfigView) -> Patch | None:
    """The codec's own remedy, listed first in its finding: lambda x LAMBDA_STEP."""
    lmbda = cfg.model.codec.lmbda
    return None if lmbda is None else {"model.codec.lmbda": float(f"{float(lmbda) * LAMBDA_STEP:.3g}")}
