"""model.kind=unet: shapes and the code round trip, the residual output, the monitor's coverage, what it refuses,
and a reconstruction that no code size caps."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import aegrad
from aegrad.config import ModelConfig
from aegrad.diagnose import GradientMonitor
from aegrad.errors import UserError
from aegrad.models import UNetAutoencoder, create_model


@pytest.mark.parametrize("kernel_size", [2, 3, 5])
@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 7, 9), (2, 5, 5)])
@pytest.mark.parametrize("predict_noise", [False, True])
def test_shapes_and_code_round_trip(shape, kernel_size, predict_noise):
    cfg = ModelConfig(kind="unet", channels=[4, 6, 8], kernel_size=kernel_size, predict_noise=predict_noise,
                      output="identity" if predict_noise else "sigmoid")
    model = create_model(cfg, shape)
    assert isinstance(model, UNetAutoencoder)
    x = torch.rand(3, *shape)
    out = model(x)
    assert out["x_hat"].shape == x.shape
    c, h, w = shape
    h2, w2 = (h + 2 * (kernel_size // 2) - kernel_size) // 2 + 1, (w + 2 * (kernel_size // 2) - kernel_size) // 2 + 1
    h3, w3 = (h2 + 2 * (kernel_size // 2) - kernel_size) // 2 + 1, (w2 + 2 * (kernel_size // 2) - kernel_size) // 2 + 1
    code = (c * h * w if predict_noise else 0) + 4 * h * w + 6 * h2 * w2 + 8 * h3 * w3
    assert out["z"].shape == (3, code)
    assert torch.equal(model.encode(x), out["z"])
    assert torch.equal(model.decode(out["z"]), out["x_hat"])  # the code is all the decoder reads
    with pytest.raises(UserError, match=f"{code} values per sample"):
        model.decode(out["z"][:, 1:])


def test_residual_output_is_input_minus_predicted_noise():
    model = create_model(ModelConfig(kind="unet", channels=[4, 8], predict_noise=True, output="identity"), (1, 8, 8))
    head = model.decoder_blocks[-1]
    assert type(head) is nn.Conv2d and head.out_channels == 1
    x = torch.rand(5, 1, 8, 8)
    r = head(model.decoder_blocks[0](model.encoder_blocks[1](model.encoder_blocks[0](x)), model.encoder_blocks[0](x)))
    torch.testing.assert_close(model(x)["x_hat"], x - r)
    with torch.no_grad():  # a zero noise estimate passes the input through exactly
        head.weight.zero_()
        head.bias.zero_()
    assert torch.equal(model(x)["x_hat"], x)


def test_layers_in_forward_order_and_every_weight_monitored():
    model = create_model(ModelConfig(kind="unet", channels=[4, 8, 16], norm="batch"), (1, 12, 12))
    names = [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert names == [
        "encoder_blocks.0.layer", "encoder_blocks.1.layer", "encoder_blocks.2.layer",
        "decoder_blocks.0.up.layer", "decoder_blocks.0.merge.layer",
        "decoder_blocks.1.up.layer", "decoder_blocks.1.merge.layer", "decoder_blocks.2.layer",
    ]
    monitor = GradientMonitor(model)
    weights = {id(p) for p in monitor.weights}
    assert weights == {id(p) for n, p in model.named_parameters() if n.endswith("layer.weight")}
    assert monitor.layers == names
    assert model.decoder_blocks[0].merge.layer.in_channels == 2 * 8  # upsampled features + the skip
    monitor.close()


@pytest.mark.parametrize(
    ("cfg", "shape", "needle"),
    [
        (dict(predict_noise=True), (1, 8, 8), "model.output=identity"),
        (dict(variational=True), (1, 8, 8), "cannot be variational"),
        (dict(channels=[]), (1, 8, 8), "model.channels"),
        ({}, (64,), "(C, H, W)"),
    ],
)
def test_refused_builds(cfg, shape, needle):
    with pytest.raises(UserError) as err:
        create_model(ModelConfig(kind="unet", **cfg), shape)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_no_layerwise_pretraining():
    with pytest.raises(UserError, match="model.kind=unet takes no train.pretrain"):
        aegrad.load_config(overrides={"model.kind": "unet", "train.pretrain": "layerwise"})


def _clean_psnr(kind: str, tmp_path) -> float:
    cfg = aegrad.load_config(overrides={
        "model.kind": kind, "model.channels": [8, 16], "model.latent": 2, "train.epochs": 4,
        "train.batch_size": 64, "monitor.enabled": False,
    })
    return aegrad.train(cfg, out=tmp_path / kind, report=False).summary["psnr"]


def test_skips_lift_the_bottleneck_cap(tmp_path):
    """Same stages and training, a 2-unit code: the conv autoencoder is capped by it, the U-Net is not."""
    conv, unet = _clean_psnr("conv", tmp_path), _clean_psnr("unet", tmp_path)
    assert conv < 16.0  # a 2-number code of an 8x8 digit (11.4 dB measured)
    assert unet > conv + 8.0, (conv, unet)  # 23.1 dB measured
