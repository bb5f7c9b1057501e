"""The factorised prior and its integer tables: exact sums, monotone CDFs, the same integers in every process."""

from __future__ import annotations

import hashlib
import inspect
import subprocess
import sys

import numpy as np
import torch

from aegrad.models.codec.entropy import PRECISION, FactorizedPrior, build_tables, quantize_pmf, table_bits


def _prior(seed: int = 0, channels: int = 3) -> FactorizedPrior:
    torch.manual_seed(seed)
    prior = FactorizedPrior(channels, [3, 3, 3], init_scale=4.0)
    with torch.no_grad():  # a non-trivial, non-symmetric density
        for p in prior.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return prior


def test_quantize_pmf_is_exact_integer_and_positive():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 300):
        pmf = rng.random(n) ** 4
        pmf[rng.integers(n)] = 0.0  # a zero-probability symbol still gets a count
        counts = quantize_pmf(pmf)
        assert counts.dtype == np.int64
        assert counts.sum() == 1 << PRECISION
        assert (counts >= 1).all()
        if n > 1:  # proportional up to the +1 floor and the remainder given to the mode
            assert np.abs(counts / (1 << PRECISION) - pmf / pmf.sum()).max() < (n + 1) / (1 << PRECISION) + 1e-12


def test_tables_cdf_strictly_increasing_and_cover_the_mass():
    prior = _prior()
    t = build_tables(prior)
    for c in range(3):
        cdf = t.cdf(c)
        assert cdf[0] == 0 and cdf[-1] == 1 << PRECISION
        assert (np.diff(cdf) >= 1).all()
        assert cdf.dtype == np.int64
    # the likelihoods of the table's integers sum to ~1 (the tails are below TAIL_MASS)
    for c in range(3):
        ks = torch.arange(int(t.lo[c]), int(t.hi[c]) + 1, dtype=torch.float32)
        y = torch.zeros(1, 3, 1, len(ks))
        y[0, c, 0] = ks
        lik = prior(y)[0, c, 0].detach().double()
        assert abs(float(lik.sum()) - 1.0) < 1e-4


def test_table_bits_match_the_prior_likelihoods():
    prior = _prior(1)
    t = build_tables(prior)
    torch.manual_seed(2)
    y = torch.randint(-3, 4, (2, 3, 4, 4)).float()
    y = torch.maximum(torch.minimum(y, torch.as_tensor(t.hi).view(1, -1, 1, 1).float()),
                      torch.as_tensor(t.lo).view(1, -1, 1, 1).float())
    bits_model = -torch.log2(prior(y).detach().double()).sum(dim=(0, 2, 3)).numpy()
    bits_table = table_bits(t, y.numpy().astype(np.int64))
    np.testing.assert_allclose(bits_table, bits_model, rtol=2e-3, atol=0.05)


_SCRIPT = """
import hashlib, torch
from aegrad.models.codec.entropy import FactorizedPrior, build_tables
{source}
print(hashlib.sha256(build_tables(_prior()).to_bytes()).hexdigest())
"""


def test_tables_identical_in_another_process():
    here = hashlib.sha256(build_tables(_prior()).to_bytes()).hexdigest()
    assert build_tables(_prior()).to_bytes() == build_tables(_prior()).to_bytes()
    script = _SCRIPT.format(source=inspect.getsource(_prior))
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == here


def test_a_channel_with_all_its_mass_on_one_value_still_gets_a_codable_table():
    """An unused latent channel (one value) once gave a one-symbol table that constriction refuses to build."""
    import constriction

    from aegrad.models.codec.entropy import FactorizedPrior, build_tables

    torch.manual_seed(0)
    tables = build_tables(FactorizedPrior(3, [3]), tail_mass=0.9999)  # tails that eat all but the mode
    assert all(len(c) >= 2 for c in tables.counts)
    for c in tables.counts:
        assert int(c.sum()) == 1 << 16 and (c >= 1).all()
        constriction.stream.model.Categorical(c.astype(np.float64), perfect=False)
