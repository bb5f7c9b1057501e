"""Bjøntegaard delta rate on synthetic curves whose answer is known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from aegrad.apps.compress.bdrate import bd_quality, bd_rate, overlap


def _anchor(psnr: np.ndarray) -> np.ndarray:
    # log-rate an exact cubic in PSNR, so the fit is exact
    return np.exp(-6.0 + 0.2 * psnr + 0.001 * (psnr - 30) ** 2 + 1e-4 * (psnr - 30) ** 3)


@pytest.mark.parametrize("factor", [0.8, 1.0, 1.25, 0.5])
def test_constant_rate_ratio_gives_that_ratio(factor):
    p = np.linspace(24, 40, 8)
    anchor = (_anchor(p), p)
    test = (factor * _anchor(p + 0.3), p + 0.3)  # shifted samples of the same curve x factor
    assert bd_rate(anchor, test) == pytest.approx((factor - 1) * 100, abs=1e-6)


def test_only_the_overlap_counts_and_disjoint_curves_have_none():
    p = np.linspace(20, 30, 5)
    q = np.linspace(28, 45, 6)
    assert overlap(p, q) == (28.0, 30.0)
    assert bd_rate((_anchor(p), p), (0.9 * _anchor(q), q)) == pytest.approx(-10.0, abs=1e-6)
    far = np.linspace(50, 60, 4)
    assert bd_rate((_anchor(p), p), (_anchor(far), far)) is None


def test_fewer_points_lower_the_degree():
    p = np.array([25.0, 30.0, 35.0])
    r = np.exp(0.1 * p)  # log-linear: a degree-2 fit is exact too
    assert bd_rate((r, p), (0.7 * r, p)) == pytest.approx(-30.0, abs=1e-6)


@pytest.mark.parametrize("shift", [-2.5, 0.0, 1.25])
def test_bd_psnr_of_a_constant_quality_shift_is_that_shift(shift):
    r = np.exp(np.linspace(-2.0, 1.0, 7))
    q = 30.0 + 4.0 * np.log(r) - 0.3 * np.log(r) ** 2 + 0.05 * np.log(r) ** 3  # PSNR an exact cubic in log-rate
    r_test = np.exp(np.linspace(-1.5, 0.5, 5))
    q_test = 30.0 + 4.0 * np.log(r_test) - 0.3 * np.log(r_test) ** 2 + 0.05 * np.log(r_test) ** 3 + shift
    assert bd_quality((r, q), (r_test, q_test)) == pytest.approx(shift, abs=1e-9)
    assert bd_quality((r, q), (r * 100, q)) is None  # no shared rates
