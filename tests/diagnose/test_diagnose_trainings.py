"""Detectors on short real trainings (digits, plain PyTorch loops, seconds each).

Each constructed failure must get its finding; a healthy relu + Adam net must get none.
"""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from aegrad.diagnose import GradientMonitor, diagnose, format_findings
from aegrad.report.gradflow import write_gradient_plots

ACTS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor(load_digits().data / 16.0, dtype=torch.float32)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[perm[:1400]], x[perm[1400:]]


def mlp(widths, act, init=None, bias=None, gain=1.0, output_sigmoid=True, seed=0) -> nn.Sequential:
    """64 -> widths -> 16 -> reversed(widths) -> 64; `act` after every hidden layer but the code."""
    torch.manual_seed(seed)
    dims = [64, *widths, 16, *reversed(widths), 64]
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        lin = nn.Linear(dims[i], dims[i + 1])
        if init == "kaiming":
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            nn.init.zeros_(lin.bias)
        elif init == "xavier":
            nn.init.xavier_normal_(lin.weight, gain=nn.init.calculate_gain(act))
            nn.init.zeros_(lin.bias)
        with torch.no_grad():
            lin.weight.mul_(gain)
            if bias is not None and i < len(dims) - 2:
                lin.bias.fill_(bias)
        layers.append(lin)
        if i == len(dims) - 2:
            if output_sigmoid:
                layers.append(nn.Sigmoid())
        elif dims[i + 1] != 16:
            layers.append(ACTS[act]())
    return nn.Sequential(*layers)


def fit(model, opt, data, epochs, scale=1.0, sync_every=10):
    """A plain loop with the monitor; returns (records, test_mse, trivial_mse)."""
    x, xt = data[0] * scale, data[1] * scale
    mon = GradientMonitor(model, sync_every=sync_every, activation_every=sync_every)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - 63, 64):
            xb = x[perm[i : i + 64]]
            loss = ((model(xb) - xb) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            mon.step(loss)
            opt.step()
    mon.flush()
    mon.close()
    with torch.no_grad():
        test = ((model(xt) - xt) ** 2).mean().item()
    trivial = ((xt - x.mean(0)) ** 2).mean().item()
    return mon.records(), test, trivial


def kinds(obj) -> list[str]:
    return [f["kind"] for f in obj["findings"]]


def test_healthy_relu_adam_is_healthy(digits, tmp_path):
    net = mlp([128, 64], "relu", init="kaiming")
    records, test, trivial = fit(net, torch.optim.Adam(net.parameters(), 3e-3), digits, epochs=8)
    assert test < 0.5 * trivial
    obj = diagnose(records, trivial_mse=trivial, test_mse=test)
    assert obj == {"healthy": True, "findings": []}, format_findings(obj)
    assert diagnose(records)["healthy"]  # also without the baseline
    for path in write_gradient_plots(records, tmp_path):
        assert path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_deep_sigmoid_sgd_vanishes(digits):
    net = mlp([64] * 4, "sigmoid")
    records, test, trivial = fit(net, torch.optim.SGD(net.parameters(), lr=0.5), digits, epochs=5)
    obj = diagnose(records, trivial_mse=trivial, test_mse=test)
    assert "vanishing_gradient" in kinds(obj), format_findings(obj)
    f = next(f for f in obj["findings"] if f["kind"] == "vanishing_gradient")
    assert f["severity"] == "error"
    assert f["evidence"]["first_last_rms_ratio"] < 1e-4
    assert f["layers"][0] == "0"
    assert f["remedies"][0]["patch"] == {"model.activation": "relu", "model.init": "kaiming_normal"}


def test_tanh_at_a_tiny_lr_is_stalled_not_vanishing(digits):
    net = mlp([64, 64], "tanh", init="xavier")
    cfg = {"train": {"optimizer": "sgd", "lr": 0.01}, "model": {"activation": "tanh", "init": "xavier_normal"}}
    records, test, trivial = fit(net, torch.optim.SGD(net.parameters(), lr=0.01), digits, epochs=3)
    obj = diagnose(records, trivial_mse=trivial, test_mse=test, config=cfg)
    assert kinds(obj) == ["stalled_loss"], format_findings(obj)
    patches = [r["patch"] for r in obj["findings"][0]["remedies"]]
    assert patches[:2] == [{"train.optimizer": "adam", "train.lr": 0.001}, {"train.lr": 0.1}]


def test_negative_bias_kills_relu_units(digits):
    net = mlp([64, 64], "relu", init="kaiming", bias=-5.0)
    records, test, trivial = fit(net, torch.optim.Adam(net.parameters(), 1e-3), digits, epochs=2)
    obj = diagnose(records, trivial_mse=trivial, test_mse=test, config={"model": {"bias_init": -5.0}})
    assert kinds(obj)[0] == "dead_units", format_findings(obj)
    f = obj["findings"][0]
    assert f["severity"] == "error" and f["evidence"]["worst"] == 1.0
    assert f["remedies"][0]["patch"] == {"model.bias_init": 0.0}


@pytest.mark.parametrize("how", ["init_x20", "sgd_lr10"])
def test_huge_init_or_lr_explodes(digits, how):
    if how == "init_x20":
        net = mlp([128, 64], "relu", init="kaiming", gain=20.0, output_sigmoid=False)
        opt = torch.optim.SGD(net.parameters(), lr=0.01)
    else:
        net = mlp([128, 64], "relu", init="kaiming", output_sigmoid=False)
        opt = torch.optim.SGD(net.parameters(), lr=10.0)
    records, test, trivial = fit(net, opt, digits, epochs=1)
    obj = diagnose(records, trivial_mse=trivial, test_mse=test)
    assert kinds(obj)[0] == "exploding_gradient", format_findings(obj)
    f = obj["findings"][0]
    assert f["severity"] == "error" and f["evidence"]["nonfinite_steps"] > 0


def test_huge_init_with_a_sigmoid_output_is_found(digits):
    """×20 init behind a sigmoid output pins the output at its bounds: gradients vanish, not explode."""
    net = mlp([128, 64], "relu", init="kaiming", gain=20.0)
    cfg = {"model": {"init_gain": 20.0, "activation": "relu", "init": "kaiming_normal"}, "train": {"lr": 0.001}}
    records, test, trivial = fit(net, torch.optim.Adam(net.parameters(), 1e-3), digits, epochs=2)
    obj = diagnose(records, trivial_mse=trivial, test_mse=test, config=cfg)
    assert kinds(obj)[:2] == ["exploding_gradient", "saturation"], format_findings(obj)
    assert obj["findings"][0]["evidence"]["activation_growth"] > 1e3
    assert obj["findings"][0]["remedies"][0]["patch"] == {"model.init_gain": 1.0}


def test_large_inputs_saturate_sigmoids(digits):
    net = mlp([64, 64], "sigmoid", output_sigmoid=False)
    records, test, trivial = fit(net, torch.optim.Adam(net.parameters(), 1e-3), digits, epochs=2, scale=100.0)
    obj = diagnose(records, trivial_mse=trivial, test_mse=test, config={"data": {"normalize": "none"}})
    assert kinds(obj)[0] == "saturation", format_findings(obj)
    f = obj["findings"][0]
    assert "1" in f["layers"] and f["evidence"]["saturated_fraction"]["1"] > 0.9
    assert f["remedies"][0]["patch"] == {"data.normalize": "zscore"}
