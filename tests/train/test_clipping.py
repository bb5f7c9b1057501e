"""Clipping against its definitions: exact norm bounds, untouched small gradients, AGC by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from aegrad.config import TrainConfig
from aegrad.train.clipping import Clipper, agc_, clip_grad_norm_, clip_grad_value_, grad_norm


def _params(scale: float = 1.0, seed: int = 0) -> list[nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(6, 4), (6,), (3, 2, 3, 3), (3,)]
    ps = [nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    for p in ps:
        p.grad = torch.randn(p.shape, generator=g) * scale
    return ps


def _norm(ps) -> float:
    return math.sqrt(sum(float(p.grad.double().square().sum()) for p in ps))


def _grads(ps) -> list[torch.Tensor]:
    return [p.grad.clone() for p in ps]


def test_clip_norm_bounds_the_norm():
    ps = _params(scale=10.0)
    pre = _norm(ps)
    norm, fired = clip_grad_norm_(ps, 1.0)
    assert float(norm) == pytest.approx(pre, rel=1e-6)
    assert _norm(ps) == pytest.approx(1.0, abs=1e-6) and _norm(ps) <= 1.0
    assert float(fired) == 1.0 and norm.dtype == torch.float32 and norm.dim() == 0


def test_clip_norm_leaves_small_gradients_untouched():
    ps = _params(scale=0.01)
    before = _grads(ps)
    norm, fired = clip_grad_norm_(ps, 1.0)
    assert float(fired) == 0.0
    for p, g in zip(ps, before):
        assert torch.equal(p.grad, g)


@pytest.mark.parametrize("scale", [1e-30, 1e25])
def test_norm_does_not_underflow_or_overflow(scale: float):
    # float32 squares of 1e-30 are 0 and of 1e25 are inf; the float64 accumulation keeps both.
    ps = _params(scale=scale)
    expected = _norm(ps)
    assert float(grad_norm(ps)) == pytest.approx(expected, rel=1e-6)
    norm, _ = clip_grad_norm_(ps, 1.0)
    assert float(norm) == pytest.approx(expected, rel=1e-6)
    assert _norm(ps) == pytest.approx(min(1.0, expected), rel=1e-5)  # rescaled, not zeroed


def test_clip_value():
    ps = _params(scale=1.0)
    before = _grads(ps)
    norm, fired = clip_grad_value_(ps, 0.5)
    assert float(norm) == pytest.approx(math.sqrt(sum(float(g.double().square().sum()) for g in before)), rel=1e-6)
    assert float(fired) == 1.0
    for p, g in zip(ps, before):
        assert torch.equal(p.grad, g.clamp(-0.5, 0.5))
    _, fired = clip_grad_value_(ps, 10.0)
    assert float(fired) == 0.0


def _agc_by_hand(w: torch.Tensor, g: torch.Tensor, lam: float, eps: float) -> torch.Tensor:
    """Brock et al. 2021, eq. 3, one unit (output row) at a time; a 1-D tensor is one unit."""
    if w.dim() <= 1:
        w, g = w.reshape(1, -1), g.reshape(1, -1)
    out = g.clone()
    for i in range(w.shape[0]):
        wn = max(float(w[i].double().norm()), eps)
        gn = float(g[i].double().norm())
        if gn / wn > lam:
            out[i] = lam * wn / gn * g[i]
    return out


def test_agc_matches_its_formula():
    ps = _params(scale=0.3)
    with torch.no_grad():
        ps[0][2].zero_()  # a zero unit: the eps floor decides
        ps[2][1] *= 100.0  # a large unit: not clipped
    lam, eps = 0.2, 1e-3
    expected = [_agc_by_hand(p.detach(), p.grad, lam, eps).reshape(p.shape) for p in ps]
    pre = _norm(ps)
    norm, fired = agc_(ps, clipping=lam, eps=eps)
    assert float(norm) == pytest.approx(pre, rel=1e-6) and float(fired) == 1.0
    for p, e in zip(ps, expected):
        torch.testing.assert_close(p.grad, e, rtol=1e-6, atol=0)
    assert torch.equal(ps[2].grad[1], expected[2][1])  # an unclipped unit is bit-identical
    # every unit now satisfies the bound
    for p in ps:
        w, g = (p.detach(), p.grad) if p.dim() > 1 else (p.detach().reshape(1, -1), p.grad.reshape(1, -1))
        ratio = g.flatten(1).norm(dim=1) / w.flatten(1).norm(dim=1).clamp(min=eps)
        assert bool((ratio <= lam * (1 + 1e-6)).all())


def test_agc_does_not_fire_on_small_gradients():
    ps = _params(scale=1e-4)
    before = _grads(ps)
    _, fired = agc_(ps, clipping=0.01)
    assert float(fired) == 0.0
    assert all(torch.equal(p.grad, g) for p, g in zip(ps, before))


def test_clipper_applies_agc_then_value_then_norm():
    cfg = TrainConfig(clip_agc=0.5, clip_value=0.3, clip_norm=0.4)
    ps, ref = _params(scale=2.0), _params(scale=2.0)
    pre = _norm(ps)
    stats = Clipper.from_config(cfg)(ps)
    agc_(ref, 0.5)
    clip_grad_value_(ref, 0.3)
    clip_grad_norm_(ref, 0.4)
    for p, q in zip(ps, ref):
        assert torch.equal(p.grad, q.grad)
    assert float(stats["grad_norm"]) == pytest.approx(pre, rel=1e-6)  # before any clip
    assert float(stats["clipped"]) == 1.0
    assert _norm(ps) <= 0.4


def test_clipper_without_clips_only_measures():
    ps = _params(scale=3.0)
    before = _grads(ps)
    stats = Clipper.from_config(TrainConfig())(ps + [nn.Parameter(torch.zeros(2))])  # a param without grad
    assert set(stats) == {"grad_norm", "clipped"}
    assert float(stats["grad_norm"]) == pytest.approx(_norm(ps), rel=1e-6) and float(stats["clipped"]) == 0.0
    assert all(torch.equal(p.grad, g) for p, g in zip(ps, before))


def test_clipper_reports_when_only_value_fires():
    ps = _params(scale=1.0)
    stats = Clipper(norm=1e6, value=0.1)(ps)
    assert float(stats["clipped"]) == 1.0
    stats = Clipper(norm=1e6, value=1e6)(ps)
    assert float(stats["clipped"]) == 0.0


def test_measuring_clipper_uses_the_norms_it_is_given():
    torch.manual_seed(0)
    params = [nn.Parameter(torch.randn(3, 4)), nn.Parameter(torch.randn(5))]
    for p in params:
        p.grad = torch.randn_like(p)
    clip = Clipper()
    assert not clip.clips and Clipper(norm=1.0).clips
    own = clip(params)
    given = clip(params, list(torch._foreach_norm([p.grad for p in params], 2)))
    assert float(given["grad_norm"]) == pytest.approx(float(own["grad_norm"]), rel=1e-6)
    assert float(given["grad_norm"]) == pytest.approx(float(torch.cat([p.grad.flatten() for p in params]).norm()))
    as_vector = clip(params, torch.stack(torch._foreach_norm([p.grad for p in params], 2)))  # the dense step's form
    assert float(as_vector["grad_norm"]) == pytest.approx(float(own["grad_norm"]), rel=1e-6)
    assert float(clip(params, torch.tensor([3.0, 4.0]))["grad_norm"]) == pytest.approx(5.0)  # it really reads them
    # a configured clip measures in float64 itself and ignores them
    wrong = [torch.tensor(100.0), torch.tensor(100.0)]
    out = Clipper(norm=1e6)(params, wrong)
    assert float(out["grad_norm"]) == pytest.approx(float(own["grad_norm"]), rel=1e-6)
