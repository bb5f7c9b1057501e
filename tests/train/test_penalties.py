"""Penalties by autograd against their analytic gradients; corruption by its statistics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aegrad.errors import UserError
from aegrad.data.noise import corrupt, list_noises
from aegrad.objectives import latent_l1
from aegrad.train.penalties import split_weights, weight_penalty


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 4), nn.LayerNorm(4), nn.PReLU(), nn.Linear(4, 3), nn.Conv1d(1, 2, 2))


def test_split_weights():
    net = _net()
    weights, others = split_weights(net)
    assert [id(p) for p in weights] == [id(net[0].weight), id(net[3].weight), id(net[4].weight)]
    assert {id(p) for p in others} == {id(p) for p in net.parameters()} - {id(p) for p in weights}
    tied = nn.Sequential(net[0], net[0])  # a shared layer is listed once
    assert len(split_weights(tied)[0]) == 1


def test_penalty_values_and_gradients():
    net = _net()
    l1, l2 = 0.3, 0.7
    pen = weight_penalty(net, l1, l2)
    weights, others = split_weights(net)
    sum_abs = sum(float(w.detach().abs().sum()) for w in weights)
    sum_sq = sum(float((w.detach() ** 2).sum()) for w in weights)
    assert float(pen["l1"].detach()) == pytest.approx(l1 * sum_abs, rel=1e-6)
    assert float(pen["l2"].detach()) == pytest.approx(0.5 * l2 * sum_sq, rel=1e-6)
    (pen["l1"] + pen["l2"]).backward()
    for w in weights:
        torch.testing.assert_close(w.grad, l1 * torch.sign(w.detach()) + l2 * w.detach())
    for p in others:  # biases, norm and PReLU parameters are not penalised
        assert p.grad is None


def test_penalty_may_include_every_parameter():
    net = _net()
    pen = weight_penalty(net, 0.0, 2.0, include_all=True)
    pen["l2"].backward()
    for p in net.parameters():
        torch.testing.assert_close(p.grad, 2.0 * p.detach())


def test_zero_coefficients_cost_nothing():
    pen = weight_penalty(_net(), 0.0, 0.0)
    assert float(pen["l1"]) == 0.0 and float(pen["l2"]) == 0.0
    assert not pen["l1"].requires_grad and not pen["l2"].requires_grad


def test_latent_l1():
    z = torch.randn(8, 5, requires_grad=True)
    out = latent_l1(z, 0.2)
    assert float(out.detach()) == pytest.approx(0.2 * float(z.detach().abs().sum(dim=1).mean()), rel=1e-6)
    out.backward()
    torch.testing.assert_close(z.grad, 0.2 * torch.sign(z.detach()) / 8)
    assert float(latent_l1(z, 0.0)) == 0.0


def test_noise_kinds_match_config():
    import typing

    from aegrad.config import TrainConfig

    assert sorted(typing.get_args(TrainConfig.model_fields["noise"].annotation)) == list_noises()


def test_none_is_identity():
    x = torch.rand(4, 3)
    assert corrupt(x, "none", 0.5) is x


def test_gaussian_noise_statistics():
    x = torch.rand(200, 1000)
    y = corrupt(x, "gaussian", 0.3, torch.Generator().manual_seed(0))
    d = y - x
    assert float(d.std()) == pytest.approx(0.3, rel=0.01)
    assert abs(float(d.mean())) < 0.003
    assert x.min() >= 0  # the input is untouched


@pytest.mark.parametrize("level", [0.1, 0.5, 0.9])
def test_masking_noise_statistics(level: float):
    x = torch.rand(200, 1000) + 0.5  # no zeros of its own
    y = corrupt(x, "masking", level, torch.Generator().manual_seed(1))
    zeroed = y == 0
    assert float(zeroed.float().mean()) == pytest.approx(level, abs=0.005)
    assert torch.equal(y[~zeroed], x[~zeroed])  # survivors are not rescaled


def test_corruption_is_reproducible_from_the_generator():
    x = torch.rand(16, 8)
    for kind in ("gaussian", "masking"):
        a = corrupt(x, kind, 0.4, torch.Generator().manual_seed(7))
        b = corrupt(x, kind, 0.4, torch.Generator().manual_seed(7))
        assert torch.equal(a, b)


def test_bad_masking_level_and_unknown_kind():
    with pytest.raises(UserError, match=r"\[0, 1\]"):
        corrupt(torch.rand(3), "masking", 1.5)
    with pytest.raises(KeyError, match="valid: gaussian, masking, none"):
        corrupt(torch.rand(3), "salt", 0.1)


def test_salt_pepper_sets_the_level_share_to_the_bounds():
    gen = torch.Generator().manual_seed(0)
    x = torch.full((200, 100), 0.5)
    y = corrupt(x, "salt_pepper", 0.3, gen)
    hit = y != 0.5
    assert hit.float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert set(y[hit].unique().tolist()) == {0.0, 1.0}
    assert (y[hit] == 1.0).float().mean().item() == pytest.approx(0.5, abs=0.02)
    assert torch.equal(x, torch.full((200, 100), 0.5))  # the input is untouched
    assert torch.equal(corrupt(x, "salt_pepper", 0.0, gen), x)
