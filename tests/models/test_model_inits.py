"""Each registered init has the statistics its paper gives; bias_init and init_gain do what they say."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from aegrad.config import ModelConfig
from aegrad.models import activation_gain, create_model, init_layer, list_inits
from aegrad.models.inits import CRITICAL_GAIN

N = 512  # fan_in = fan_out = N


def _expected_std(init: str, gain: float) -> float:
    return {
        "default": 1 / math.sqrt(3 * N),  # U(+-1/sqrt(fan_in))
        "xavier_uniform": gain * math.sqrt(2 / (N + N)),
        "glorot_uniform": math.sqrt(2 / (N + N)),  # Keras': gain 1 whatever follows
        "xavier_normal": gain * math.sqrt(2 / (N + N)),
        "kaiming_uniform": gain / math.sqrt(N),
        "kaiming_normal": gain / math.sqrt(N),
        "orthogonal": gain / math.sqrt(N),  # rows of norm `gain`
        "lecun": 1 / math.sqrt(N),
        "orthogonal_critical": gain / math.sqrt(N),  # gain: 1/act'(0) for tanh (1), calculate_gain's otherwise
    }[init]


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "selu"])
@pytest.mark.parametrize("init", list_inits())
def test_init_std_matches_the_activation_gain(init, activation):
    torch.manual_seed(0)
    cfg = ModelConfig(init=init, activation=activation, negative_slope=0.2)
    layer = nn.Linear(N, N)
    init_layer(layer, cfg, activation, hidden=True)
    gain = CRITICAL_GAIN.get(activation, 0) if init == "orthogonal_critical" else 0
    expected = _expected_std(init, gain or activation_gain(activation, 0.2))
    assert layer.weight.std().item() == pytest.approx(expected, rel=0.1)
    assert abs(layer.weight.mean().item()) < 0.1 * expected
    if init == "default":
        assert layer.bias.abs().max() > 0  # PyTorch's own bias init is kept
    else:
        assert torch.equal(layer.bias, torch.zeros(N))


def test_orthogonal_rows_are_orthonormal_times_gain():
    torch.manual_seed(0)
    layer = nn.Linear(N, N)
    init_layer(layer, ModelConfig(init="orthogonal"), None, hidden=False)
    w = layer.weight.double()
    assert torch.allclose(w @ w.T, torch.eye(N, dtype=torch.float64), atol=1e-5)
    init_layer(layer, ModelConfig(init="orthogonal"), "tanh", hidden=True)
    w = layer.weight.double()
    assert torch.allclose(w @ w.T, (5 / 3) ** 2 * torch.eye(N, dtype=torch.float64), atol=1e-4)


@pytest.mark.parametrize("init", list_inits())
def test_every_init_initialises_conv_and_transposed_conv(init):
    torch.manual_seed(0)
    model = create_model(ModelConfig(kind="conv", channels=[4, 8], latent=6, init=init), (2, 9, 9))
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            assert torch.isfinite(m.weight).all() and m.weight.std() > 0
    assert model(torch.rand(3, 2, 9, 9))["x_hat"].shape == (3, 2, 9, 9)


def test_model_layers_get_the_gain_of_what_follows_them():
    torch.manual_seed(0)
    cfg = ModelConfig(widths=[N], latent=256, activation="relu", init="kaiming_normal")
    model = create_model(cfg, (N,))
    hidden, code = model.encoder_blocks[0].layer, model.encoder_blocks[1]
    assert hidden.weight.std().item() == pytest.approx(math.sqrt(2 / N), rel=0.1)
    assert code.weight.std().item() == pytest.approx(math.sqrt(1 / N), rel=0.1)  # linear: gain 1
    out = model.decoder_blocks[1].layer  # sigmoid output: gain 1
    assert out.weight.std().item() == pytest.approx(math.sqrt(1 / N), rel=0.1)


def test_bias_init_sets_hidden_biases_only():
    cfg = ModelConfig(widths=[16, 8], latent=4, bias_init=-3.0)
    model = create_model(cfg, (10,))
    hidden = [*model.encoder_blocks[:-1], *model.decoder_blocks[:-1]]
    for block in hidden:
        assert torch.equal(block.layer.bias, torch.full_like(block.layer.bias, -3.0))
    assert torch.equal(model.encoder_blocks[-1].bias, torch.zeros(4))  # the code layer
    assert torch.equal(model.decoder_blocks[-1].layer.bias, torch.zeros(10))  # the output layer


def test_bias_init_builds_dead_relus():
    torch.manual_seed(0)
    model = create_model(ModelConfig(widths=[32], latent=8, bias_init=-10.0), (16,))
    h = model.encoder_blocks[0](torch.rand(64, 16))
    assert (h == 0).all()


def test_batch_norm_layers_have_no_bias():
    model = create_model(ModelConfig(widths=[16], latent=4, norm="batch", bias_init=-3.0), (10,))
    assert model.encoder_blocks[0].layer.bias is None
    assert model.encoder_blocks[-1].bias is not None  # the code layer has no norm


@pytest.mark.parametrize("init", list_inits())
def test_init_gain_scales_every_weight(init):
    base, scaled = (ModelConfig(widths=[16], latent=4, init=init, init_gain=g) for g in (1.0, 3.0))
    torch.manual_seed(0)
    a = create_model(base, (10,)).state_dict()
    torch.manual_seed(0)
    b = create_model(scaled, (10,)).state_dict()
    for name in a:
        factor = 3.0 if name.endswith("weight") else 1.0
        assert torch.allclose(b[name], factor * a[name]), name
