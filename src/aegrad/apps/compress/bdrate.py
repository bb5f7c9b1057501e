"""Bjøntegaard delta rate: the average rate difference between two RD curves at equal quality.

G. Bjøntegaard, "Calculation of average PSNR differences between RD-curves",
VCEG-M33 (2001): fit log(rate) as a cubic polynomial of PSNR for each curve,
integrate both over the PSNR interval where the curves overlap, and turn the
mean log-rate difference into a percentage:

    BD-rate = exp( (int_test - int_anchor) / (p_max - p_min) ) - 1        (x 100 %)

Negative: the tested codec needs fewer bits than the anchor for the same quality.
With fewer than 4 points the polynomial degree drops to points - 1.

BD-PSNR (the same paper) swaps the axes: quality as a cubic of log(rate), averaged over
the log-rate interval both curves cover; positive: more quality at the same rate. It
exists where BD-rate may not: curves that share rates but no quality interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _fit(rates: Sequence[float], quality: Sequence[float]) -> np.poly1d:
    r, q = np.asarray(rates, dtype=np.float64), np.asarray(quality, dtype=np.float64)
    ok = np.isfinite(r) & np.isfinite(q) & (r > 0)
    r, q = r[ok], q[ok]
    if len(r) < 2:
        raise ValueError("a curve needs at least two finite points with positive rate")
    return np.poly1d(np.polyfit(q, np.log(r), min(3, len(r) - 1)))


def _range(quality: Sequence[float]) -> tuple[float, float]:
    q = np.asarray(quality, dtype=np.float64)
    q = q[np.isfinite(q)]
    return float(q.min()), float(q.max())


def bd_rate(anchor: tuple[Sequence[float], Sequence[float]],
            test: tuple[Sequence[float], Sequence[float]]) -> float | None:
    """BD-rate of `test` against `anchor` in percent; each is (rates, qualities). None if the curves do not overlap."""
    lo = max(_range(anchor[1])[0], _range(test[1])[0])
    hi = min(_range(anchor[1])[1], _range(test[1])[1])
    if not hi > lo:
        return None
    pa, pt = _fit(*anchor).integ(), _fit(*test).integ()
    diff = ((pt(hi) - pt(lo)) - (pa(hi) - pa(lo))) / (hi - lo)
    return float((np.exp(diff) - 1.0) * 100.0)


def overlap(anchor_quality: Sequence[float], test_quality: Sequence[float]) -> tuple[float, float] | None:
    """The quality interval both curves cover (where BD-rate is measured), or None."""
    lo = max(_range(anchor_quality)[0], _range(test_quality)[0])
    hi = min(_range(anchor_quality)[1], _range(test_quality)[1])
    return (lo, hi) if hi > lo else None


def bd_quality(anchor: tuple[Sequence[float], Sequence[float]],
               test: tuple[Sequence[float], Sequence[float]]) -> float | None:
    """BD-PSNR (or BD-SSIM): mean quality difference of `test` over `anchor` at equal rate; None if no shared rates."""
    la, lt = np.log(np.asarray(anchor[0], dtype=np.float64)), np.log(np.asarray(test[0], dtype=np.float64))
    lo, hi = max(_range(la)[0], _range(lt)[0]), min(_range(la)[1], _range(lt)[1])
    if not hi > lo:
        return None
    pa, pt = _fit_quality(la, anchor[1]).integ(), _fit_quality(lt, test[1]).integ()
    return float(((pt(hi) - pt(lo)) - (pa(hi) - pa(lo))) / (hi - lo))


def _fit_quality(log_rates: np.ndarray, quality: Sequence[float]) -> np.poly1d:
    q = np.asarray(quality, dtype=np.float64)
    ok = np.isfinite(log_rates) & np.isfinite(q)
    if ok.sum() < 2:
        raise ValueError("a curve needs at least two finite points with positive rate")
    return np.poly1d(np.polyfit(log_rates[ok], q[ok], min(3, int(ok.sum()) - 1)))
