"""The scale hyperprior: integer Gaussian tables, the table chosen per element, bits that match the likelihoods."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import torch

from aegrad.models.codec.entropy import PRECISION, TAIL_MASS
from aegrad.models.codec.hyper import SCALE_LEVELS, gaussian_likelihood, gaussian_tables, scale_indexes, scale_table


def test_gaussian_tables_are_exact_integers_monotone_and_match_the_density():
    t = gaussian_tables()
    assert len(t.counts) == SCALE_LEVELS
    for k, s in enumerate(scale_table()):
        cdf = t.cdf(k)
        assert cdf.dtype == np.int64 and cdf[0] == 0 and cdf[-1] == 1 << PRECISION
        assert (np.diff(cdf) >= 1).all()
        assert t.lo[k] == -t.hi[k] <= -1  # zero-mean, symmetric support
        # every symbol's count is its Gaussian-convolved-with-a-box probability, to the table's resolution
        v = torch.arange(int(t.lo[k]), int(t.hi[k]) + 1, dtype=torch.float64)
        p = gaussian_likelihood(v, torch.full_like(v, float(s))).numpy()
        q = t.counts[k] / float(1 << PRECISION)
        assert np.abs(q - p).max() < (len(q) + 2) / (1 << PRECISION)
    # wider scales, wider supports: ceil(s * Phi^-1(1 - tail/2)) each side (statistics.NormalDist as the reference)
    z = NormalDist().inv_cdf(1 - TAIL_MASS / 2)
    assert list(t.hi) == [max(1, math.ceil(s * z)) for s in scale_table()]


def test_each_element_gets_the_smallest_table_scale_at_least_its_sigma():
    table = scale_table()
    sigma = torch.tensor([0.01, table[0], table[0] * 1.001, table[10], table[10] * 0.999, 1e6], dtype=torch.float64)
    assert scale_indexes(sigma).tolist() == [0, 0, 1, 10, 10, SCALE_LEVELS - 1]


def test_likelihood_sums_to_one_and_is_symmetric():
    v = torch.arange(-100, 101, dtype=torch.float64)  # 10 sigma of the widest scale tested
    for s in (0.11, 0.7, 3.0, 9.5):
        p = gaussian_likelihood(v, torch.full_like(v, s))
        assert abs(float(p.sum()) - 1.0) < 1e-6  # up to the 1e-9 floor on each far-tail value
        assert torch.equal(p, p.flip(0))
