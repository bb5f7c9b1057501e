"""The pure statistics against plain autograd and hand-built tensors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from aegrad.diagnose.stats import (
    activation_family,
    activation_stats,
    layer_grad_stats,
    needs_precise,
    param_layers,
    tensor_norms,
    update_ratios,
)


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3), nn.Tanh(), nn.Linear(3, 6))


def test_layer_grad_stats_match_autograd():
    net = _net()
    x = torch.randn(8, 6)
    ((net(x) - x) ** 2).mean().backward()
    stats = layer_grad_stats(net)
    assert list(stats) == ["0", "2", "4"]
    for name, m in param_layers(net):
        g, w = m.weight.grad.double(), m.weight.detach().double()
        s = stats[name]
        assert s["grad_norm"] == pytest.approx(g.norm().item(), rel=1e-6)
        assert s["grad_rms"] == pytest.approx(g.pow(2).mean().sqrt().item(), rel=1e-6)
        assert s["weight_norm"] == pytest.approx(w.norm().item(), rel=1e-6)
        assert s["numel"] == w.numel()


def test_tiny_gradients_do_not_underflow():
    g = torch.randn(256, 256, generator=torch.Generator().manual_seed(1)) * 1e-25
    assert torch._foreach_norm([g])[0].item() == 0.0  # the naive float32 norm underflows
    want = g.double().norm().item()
    assert tensor_norms([g], precise=True).item() == pytest.approx(want, rel=1e-6)
    net = nn.Sequential(nn.Linear(256, 256))
    net[0].weight.grad = g.clone()
    assert layer_grad_stats(net)["0"]["grad_norm"] == pytest.approx(want, rel=1e-6)


def test_huge_gradients_do_not_overflow():
    g = torch.full((1000,), 1e30)
    assert math.isinf(torch._foreach_norm([g])[0].item())
    assert tensor_norms([g], precise=True).item() == pytest.approx(1e30 * math.sqrt(1000), rel=1e-6)


def test_needs_precise_bounds():
    assert needs_precise(1e-3, 1.0, 100) is False
    assert needs_precise(1e-12, 1.0, 100) is True  # rms 1e-13 < 1e-10
    assert needs_precise(1.0, 1e16, 100) is True
    assert needs_precise(math.nan, 1.0, 100) is True


def test_update_ratio_of_an_sgd_step():
    net = _net()
    x = torch.randn(8, 6)
    ((net(x) - x) ** 2).mean().backward()
    before = [m.weight.detach().clone() for _, m in param_layers(net)]
    lr = 0.1
    torch.optim.SGD(net.parameters(), lr=lr).step()
    after = [m.weight.detach() for _, m in param_layers(net)]
    got = update_ratios(before, after)
    for r, (_, m), w0 in zip(got.tolist(), param_layers(net), before):
        assert r == pytest.approx(lr * m.weight.grad.double().norm().item() / w0.double().norm().item(), rel=1e-5)


def test_dead_fraction_dense_and_conv():
    y = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    s = activation_stats(y, "relu")  # units 0 and 3 never fire
    assert s["dead"].item() == pytest.approx(0.5)
    assert s["mean"].item() == pytest.approx(y.mean().item())
    assert s["std"].item() == pytest.approx(y.std().item())
    assert math.isnan(s["saturated"].item())
    conv = torch.zeros(2, 4, 3, 3)
    conv[1, 0, 2, 2] = 0.5  # channel 0 fires once; channels 1-3 never
    assert activation_stats(conv, "relu")["dead"].item() == pytest.approx(0.75)
    leaky = torch.tensor([[-0.01, 0.5], [-0.02, -0.01]])
    assert activation_stats(leaky, "leaky")["dead"].item() == pytest.approx(0.5)


def test_saturated_fraction_sigmoid_and_tanh():
    sig = torch.tensor([[0.005, 0.5], [0.995, 0.3]])
    assert activation_stats(sig, "sigmoid")["saturated"].item() == pytest.approx(0.5)
    tanh = torch.tensor([[-0.995, 0.2], [0.991, 0.98]])
    s = activation_stats(tanh, "tanh")
    assert s["saturated"].item() == pytest.approx(0.5)
    assert math.isnan(s["dead"].item())
    with pytest.raises(ValueError, match="valid"):
        activation_stats(sig, "softmax")


def test_activation_families_by_type():
    assert activation_family(nn.ReLU()) == "relu"
    assert activation_family(nn.PReLU()) == "leaky"
    assert activation_family(nn.GELU()) == "leaky"
    assert activation_family(nn.Sigmoid()) == "sigmoid"
    assert activation_family(nn.Tanh()) == "tanh"
    assert activation_family(nn.Linear(2, 2)) is None
