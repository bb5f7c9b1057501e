"""Every registry matches its config Literal, and every registered activation/norm builds a working model."""

from __future__ import annotations

from typing import get_args

import pytest
import torch
import torch.nn as nn

from aegrad.config import Activation, Init, ModelConfig
from aegrad.models import (
    activation_family,
    activation_gain,
    create_activation,
    create_model,
    get_activation,
    list_activations,
    list_inits,
    list_models,
    list_norms,
)


def test_registries_equal_config_literals():
    assert list_activations() == sorted(get_args(Activation))
    assert list_inits() == sorted(get_args(Init))
    assert list_models() == sorted(get_args(ModelConfig.model_fields["kind"].annotation))
    assert list_norms() == sorted(get_args(ModelConfig.model_fields["norm"].annotation))


@pytest.mark.parametrize("norm", list_norms())
@pytest.mark.parametrize("activation", list_activations())
def test_every_activation_and_norm_trains_a_small_mlp(activation, norm):
    torch.manual_seed(0)
    cfg = ModelConfig(widths=[16, 8], latent=4, activation=activation, norm=norm, dropout=0.1)
    model = create_model(cfg, (12,))
    x = torch.randn(8, 12)
    out = model(x)
    assert out["x_hat"].shape == (8, 12)
    assert out["z"].shape == (8, 4)
    ((out["x_hat"] - x) ** 2).mean().backward()
    spec = get_activation(activation)
    for block in [*model.encoder_blocks[:-1], *model.decoder_blocks[:-1]]:
        assert isinstance(block.act, spec.module)
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize("activation", list_activations())
def test_every_activation_builds_its_registered_module(activation):
    spec = get_activation(activation)
    module = create_activation(activation, 5, 0.2)
    assert isinstance(module, spec.module)
    assert module(torch.randn(3, 5)).shape == (3, 5)
    family, bounds = activation_family(module)
    assert family == spec.family
    assert (bounds is not None) == (family == "bounded")


def test_activation_families():
    assert activation_family(nn.ReLU()) == ("rectifier", None)
    assert activation_family(nn.LeakyReLU(0.1)) == ("rectifier", None)
    assert activation_family(nn.PReLU()) == ("rectifier", None)
    assert activation_family(nn.Sigmoid()) == ("bounded", (0.0, 1.0))
    assert activation_family(nn.Tanh()) == ("bounded", (-1.0, 1.0))
    for m in (nn.ELU(), nn.SELU(), nn.GELU(), nn.SiLU()):
        assert activation_family(m) == ("smooth", None)
    assert activation_family(nn.Linear(2, 2)) is None


def test_activation_gains_follow_calculate_gain():
    assert activation_gain("relu") == pytest.approx(2**0.5)
    assert activation_gain("leaky_relu", 0.2) == pytest.approx((2 / (1 + 0.2**2)) ** 0.5)
    assert activation_gain("prelu", 0.25) == pytest.approx((2 / (1 + 0.25**2)) ** 0.5)
    assert activation_gain("tanh") == pytest.approx(5 / 3)
    assert activation_gain("sigmoid") == 1.0
    assert activation_gain("selu") == 0.75
    for name in ("elu", "gelu", "silu", None):
        assert activation_gain(name) == 1.0


def test_leaky_and_prelu_take_the_configured_slope():
    assert create_activation("leaky_relu", 4, 0.3).negative_slope == 0.3
    prelu = create_activation("prelu", 4, 0.3)
    assert prelu.weight.shape == (4,)
    assert torch.allclose(prelu.weight, torch.full((4,), 0.3))


def test_unknown_activation_lists_the_valid_ones():
    with pytest.raises(KeyError, match="valid: elu"):
        create_activation("swish", 3)
