"""Ranking probes and the verdict: pure functions over ProbeResults.

A probe's score is its test MSE over the trivial predictor's (lower is better; a probe that
failed or diverged scores inf). The noise is the score difference between the baseline and the
baseline rerun with another seed (other initial weights, data order and split): a candidate is a
contender only if it beats the baseline by more than the margin built from it, and wins only if its
own rerun with that seed beats the baseline's rerun too (``confirmed``).

What the baseline's two seeds say decides which noise counts (``baseline_kind``):
- "healthy" (both seeds train, no finding): a change must beat the baseline in both seeds by more than
  the seed-to-seed spread (the baseline's or the candidate's, the larger) and by HEALTHY_MIN_REL of it;
- "unstable" (a seed diverged, or the seeds of a run that fails differ by more than UNSTABLE_SPREAD of
  the lower) and "failing" otherwise: the baseline's spread says how it fails, not how noisy probes are
  (0.89 and 2.8 x trivial: a margin of 3.8 no candidate can beat; 0.44 and 0.64 with an exploding
  gradient: 0.40), so the candidate's own seed spread is the noise, and it must beat the baseline at the
  same seed in both seeds by more than 2x that spread and MIN_REL.
"""

from __future__ import annotations

import math
from typing import Any

from aegrad.diagnose.findings import TRAINED_RATIO, is_undertrained
from aegrad.doctor.probes import ProbeResult

# A winner must beat the baseline's score by more than max(NOISE_FACTOR x noise, MIN_REL x score, MIN_ABS).
NOISE_FACTOR = 2.0
MIN_REL = 0.05
MIN_ABS = 0.01
# A baseline that trains in both seeds is changed only for a score lower by this share in each seed: a
# config that trains is worth changing for a clear gain, not for the second decimal of a short probe.
HEALTHY_MIN_REL = 0.1
# A failing baseline whose seeds differ by more than this share of the lower score is "unstable".
UNSTABLE_SPREAD = 0.5
# "Undertrained" (findings.is_undertrained): what the same architecture (a patch of train.* / init keys
# only) reached, against the baseline's score.
SAME_ARCHITECTURE = ("train.", "model.init", "model.bias_init", "model.init_gain")


def noise(baseline: ProbeResult, repeat: ProbeResult | None) -> float | None:
    """|score(seed) - score(seed+1)|, or None when either probe did not reach a finite score."""
    if repeat is None:
        return None
    a, b = baseline.test_over_trivial, repeat.test_over_trivial
    return abs(a - b) if math.isfinite(a) and math.isfinite(b) else None


def baseline_kind(baseline: ProbeResult, repeat: ProbeResult | None) -> str:
    """"healthy", "unstable" or "failing": what the baseline's two seeds say (module docstring); without a
    repeat, from the baseline alone ("unstable" only when it diverged)."""
    scores = [p.test_over_trivial for p in (baseline, repeat) if p is not None]
    if not all(math.isfinite(s) for s in scores):
        return "unstable"
    if all(s < TRAINED_RATIO for s in scores) and not baseline.findings:
        return "healthy"
    if len(scores) == 2 and abs(scores[0] - scores[1]) > UNSTABLE_SPREAD * min(scores):
        return "unstable"
    return "failing"


def margin(baseline: ProbeResult, noise_: float | None, kind: str = "failing") -> float:
    """How much lower than the baseline's a score must be to count as better (at the baseline's seed; the spread of
    a baseline that fails is left out: the candidate's own is measured when it is confirmed)."""
    return _margin(baseline.test_over_trivial, (noise_ or 0.0) if kind == "healthy" else 0.0, kind)


def _margin(score: float, spread: float, kind: str) -> float:
    share = HEALTHY_MIN_REL if kind == "healthy" else MIN_REL
    rel = share * score if math.isfinite(score) else 0.0
    return max(NOISE_FACTOR * spread, rel, MIN_ABS)


def confirmed(baseline: ProbeResult, repeat: ProbeResult, cand: ProbeResult, cand_repeat: ProbeResult,
              kind: str) -> bool:
    """Whether a contender (beating `baseline`) also beats the baseline's `repeat` with its own repeat (the
    same seed), in each seed by more than the margin made of the spread that counts for `kind` (module docstring)."""
    pairs = [(baseline.test_over_trivial, cand.test_over_trivial),
             (repeat.test_over_trivial, cand_repeat.test_over_trivial)]
    if cand_repeat.status != "ok" or not all(math.isfinite(c) for _, c in pairs):
        return False
    own = abs(pairs[0][1] - pairs[1][1])
    base = noise(baseline, repeat) or 0.0
    spread = max(own, base) if kind == "healthy" else own
    return all(c < b - _margin(b, spread, kind) for b, c in pairs)


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


def contenders(baseline: ProbeResult, ranked: list[ProbeResult], margin_: float) -> list[ProbeResult]:
    """The candidates that beat the baseline by more than the margin, the pick first: within the margin
    (scaled to the best's score) of the best, the healthiest (fewest error findings, then fewest findings,
    then the smallest patch); then the others, best first."""
    better = [p for p in ranked if p.status == "ok" and p.test_over_trivial < baseline.test_over_trivial - margin_]
    if not better:
        return []
    best = better[0].test_over_trivial
    close = [p for p in better if p.test_over_trivial <= best + scaled(margin_, baseline, best)]
    pick = min(close, key=lambda p: (p.errors, len(p.findings), len(p.patch), p.test_over_trivial))
    return [pick, *(p for p in better if p is not pick)]


def pick_winner(baseline: ProbeResult, ranked: list[ProbeResult], margin_: float) -> ProbeResult | None:
    """The first of `contenders`, or None."""
    return next(iter(contenders(baseline, ranked, margin_)), None)


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
