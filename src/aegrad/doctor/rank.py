"""Ranking probes and the verdict: pure functions over ProbeResults.

A probe's score is its test MSE over the trivial predictor's (lower is better; a probe that
failed or diverged scores inf). The noise is the score difference between the baseline and the
baseline rerun with another seed (other initial weights, data order and split): a candidate wins
only if it beats the baseline by more than the margin built from it.
"""

from __future__ import annotations

import math
from typing import Any

from aegrad.diagnose.findings import is_undertrained
from aegrad.doctor.probes import ProbeResult

# A winner must beat the baseline's score by more than max(NOISE_FACTOR x noise, MIN_REL x score, MIN_ABS).
NOISE_FACTOR = 2.0
MIN_REL = 0.05
MIN_ABS = 0.01
# "Undertrained" (findings.is_undertrained): what the same architecture (a patch of train.* / init keys
# only) reached, against the baseline's score.
SAME_ARCHITECTURE = ("train.", "model.init", "model.bias_init", "model.init_gain")


def noise(baseline: ProbeResult, repeat: ProbeResult | None) -> float | None:
    """|score(seed) - score(seed+1)|, or None when either probe did not reach a finite score."""
    if repeat is None:
        return None
    a, b = baseline.test_over_trivial, repeat.test_over_trivial
    return abs(a - b) if math.isfinite(a) and math.isfinite(b) else None


def margin(baseline: ProbeResult, noise_: float | None) -> float:
    """How much lower than the baseline's a score must be to count as better."""
    score = baseline.test_over_trivial
    rel = MIN_REL * score if math.isfinite(score) else 0.0
    return max(NOISE_FACTOR * (noise_ or 0.0), rel, MIN_ABS)


def rank(probes: list[ProbeResult]) -> list[ProbeResult]:
    """Candidates best first: finished before failed, then score, then fewer error findings, then smaller patch."""
    return sorted(probes, key=lambda p: (p.status != "ok", p.test_over_trivial, p.errors, len(p.patch)))


def scaled(margin_: float, baseline: ProbeResult, score: float) -> float:
    """The margin at another score's level: noise grows with the loss (a diverging baseline's seeds differ
    by 0.4 x trivial, two probes that train by a few hundredths), so it is scaled by score / baseline's."""
    base = baseline.test_over_trivial
    if not (math.isfinite(base) and math.isfinite(score)) or base <= 0:
        return margin_
    return max(MIN_ABS, margin_ * min(1.0, score / base))


def pick_winner(baseline: ProbeResult, ranked: list[ProbeResult], margin_: float) -> ProbeResult | None:
    """The best candidate that beats the baseline by more than the margin; within the margin (scaled to
    the best's score) of the best, the healthiest (fewest error findings, then fewest findings, then the
    smallest patch)."""
    better = [p for p in ranked if p.status == "ok" and p.test_over_trivial < baseline.test_over_trivial - margin_]
    if not better:
        return None
    best = better[0].test_over_trivial
    close = [p for p in better if p.test_over_trivial <= best + scaled(margin_, baseline, best)]
    return min(close, key=lambda p: (p.errors, len(p.findings), len(p.patch), p.test_over_trivial))


def same_architecture(patch: dict[str, Any]) -> bool:
    return bool(patch) and all(k.startswith(SAME_ARCHITECTURE) for k in patch)


def undertrained_evidence(
    baseline: ProbeResult, ranked: list[ProbeResult], margin_: float
) -> ProbeResult | None:
    """The probe showing the same architecture trains where the baseline did not (findings.is_undertrained),
    beyond the margin, when the baseline has no error finding."""
    if baseline.errors or not math.isfinite(baseline.test_over_trivial):
        return None
    for p in ranked:
        if p.status != "ok" or not same_architecture(p.patch):
            continue
        if (is_undertrained(baseline.test_over_trivial, p.test_over_trivial)
                and p.test_over_trivial < baseline.test_over_trivial - margin_):
            return p
        return None  # ranked: the best same-architecture probe decides
    return None
