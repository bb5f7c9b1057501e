"""Layer-by-layer architecture: the seed reference, stage pairing, residual skips, conv shapes, forward order."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from aegrad.config import ModelConfig
from aegrad.errors import UserError
from aegrad.models import Block, ConvAutoencoder, DenseBlock, MLPAutoencoder, create_model


def _seed_cfg() -> ModelConfig:
    return ModelConfig(widths=[32], latent=100, activation="relu", init="glorot_uniform", output="identity")


def test_seed_reference_layer_by_layer():
    """The source's Keras program: Encoder Dense(32, relu) -> Dense(100); Decoder Dense(32, relu) -> Dense(100)."""
    model = create_model(_seed_cfg(), (100,))
    assert isinstance(model, MLPAutoencoder)
    enc, dec = model.encoder_blocks, model.decoder_blocks
    assert len(enc) == len(dec) == 2
    for block, (n_in, n_out) in ((enc[0], (100, 32)), (dec[0], (100, 32))):
        assert isinstance(block, DenseBlock) and list(dict(block.named_children())) == ["layer", "act"]
        assert (block.layer.in_features, block.layer.out_features) == (n_in, n_out)
        assert type(block.act) is nn.ReLU and not block.residual
    for layer in (enc[1], dec[1]):
        assert type(layer) is nn.Linear and (layer.in_features, layer.out_features) == (32, 100)
    # Keras' parameter count: 2 * ((100*32 + 32) + (32*100 + 100))
    assert sum(p.numel() for p in model.parameters()) == 13064
    # Keras Dense defaults: glorot-uniform weights with gain 1 (before relu too), zero biases.
    assert all(torch.count_nonzero(b) == 0 for n, b in model.named_parameters() if n.endswith("bias"))
    for layer in (enc[0].layer, enc[1], dec[0].layer, dec[1]):
        limit = (6 / (layer.in_features + layer.out_features)) ** 0.5  # 0.2132 for 100x32
        w = layer.weight.abs()
        assert float(w.max()) <= limit and float(w.max()) > 0.9 * limit

    # The same numbers as a hand-written reference with the same weights.
    ref = nn.Sequential(
        nn.Linear(100, 32), nn.ReLU(), nn.Linear(32, 100), nn.Linear(100, 32), nn.ReLU(), nn.Linear(32, 100)
    )
    for r, m in zip([ref[0], ref[2], ref[3], ref[5]], [enc[0].layer, enc[1], dec[0].layer, dec[1]]):
        r.load_state_dict(m.state_dict())
    x = torch.randn(32, 100)
    out = model(x)
    assert torch.equal(out["x_hat"], ref(x))
    assert torch.equal(out["z"], ref[:3](x))


@pytest.mark.parametrize(
    "cfg, shape",
    [
        (ModelConfig(widths=[32, 16], latent=4), (20,)),
        (ModelConfig(depth=3, width=8, latent=4, residual=True, norm="layer"), (1, 4, 4)),
        (ModelConfig(kind="conv", channels=[4, 8, 8], latent=5), (1, 28, 28)),
        (ModelConfig(kind="conv", channels=[4], latent=5, kernel_size=4), (3, 9, 7)),
    ],
)
def test_stage_pairs_map_back_to_their_input_space(cfg, shape):
    model = create_model(cfg, shape).eval()
    n = len(model.encoder_blocks)
    h = model.to_blocks(torch.rand(2, *shape))
    for i in range(n):
        code = model.encoder_blocks[i](h)
        assert model.decoder_blocks[n - 1 - i](code).shape == h.shape
        h = code
    assert h.shape == (2, cfg.latent)
    x = torch.rand(2, *shape)
    assert model.from_blocks(model.decoder_blocks[-1](model.encoder_blocks[0](model.to_blocks(x)))).shape == x.shape


def test_residual_skips_only_where_widths_match():
    torch.manual_seed(0)
    cfg = ModelConfig(depth=3, width=16, latent=8, residual=True)
    model = create_model(cfg, (10,))
    enc, dec = model.encoder_blocks, model.decoder_blocks
    assert [b.residual for b in enc[:-1]] == [False, True, True]  # 10->16, 16->16, 16->16
    assert [b.residual for b in dec[:-1]] == [False, True, True]  # 8->16, 16->16, 16->16
    assert type(enc[-1]) is nn.Linear and not getattr(dec[-1], "residual", False)
    x = torch.randn(5, 16)
    block = enc[1]
    assert torch.allclose(block(x), x + block.act(block.layer(x)))
    # widths [16, 16, 8]: only the 16->16 block gets a skip; without residual none does.
    blocks = create_model(ModelConfig(widths=[16, 16, 8], residual=True), (10,)).encoder_blocks[:-1]
    assert [b.residual for b in blocks] == [False, True, False]
    assert not any(b.residual for b in create_model(ModelConfig(depth=3, width=16), (10,)).encoder_blocks[:-1])


def test_residual_block_with_norm_and_dropout():
    torch.manual_seed(0)
    block = DenseBlock(6, 6, "tanh", norm="layer", dropout=0.5, residual=True).eval()
    x = torch.randn(4, 6)
    assert torch.allclose(block(x), x + block.act(block.norm(block.layer(x))))
    with pytest.raises(ValueError, match="equal widths"):
        DenseBlock(6, 7, "relu", residual=True)


@pytest.mark.parametrize("kernel_size", [2, 3, 4, 5])
@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 16, 16), (1, 7, 9), (2, 5, 5)])
def test_conv_reconstruction_has_the_input_shape(shape, kernel_size):
    torch.manual_seed(0)
    model = create_model(ModelConfig(kind="conv", channels=[4, 6], latent=3, kernel_size=kernel_size), shape)
    assert isinstance(model, ConvAutoencoder)
    out = model(torch.rand(2, *shape))
    assert out["x_hat"].shape == (2, *shape)
    assert out["z"].shape == (2, 3)
    assert ((out["x_hat"] >= 0) & (out["x_hat"] <= 1)).all()  # sigmoid output


@pytest.mark.parametrize("norm", ["none", "batch", "layer"])
def test_conv_trains_with_every_norm(norm):
    torch.manual_seed(0)
    model = create_model(ModelConfig(kind="conv", channels=[4, 8], latent=6, norm=norm, activation="prelu"), (1, 8, 8))
    x = torch.rand(4, 1, 8, 8)
    ((model(x)["x_hat"] - x) ** 2).mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_conv_rejects_non_image_samples():
    with pytest.raises(UserError, match=r"\(C, H, W\)"):
        create_model(ModelConfig(kind="conv"), (64,))
    with pytest.raises(UserError, match="sample shape"):
        create_model(ModelConfig(), ())


def test_mlp_flattens_any_sample_shape():
    model = create_model(ModelConfig(widths=[8], latent=2), (2, 3, 4))
    x = torch.rand(5, 2, 3, 4)
    assert model.to_blocks(x).shape == (5, 24)
    assert model(x)["x_hat"].shape == x.shape
    assert torch.equal(model.decode(model.encode(x)), model(x)["x_hat"])


@pytest.mark.parametrize(
    "cfg, shape",
    [
        (ModelConfig(widths=[16, 8], latent=4, norm="batch", activation="prelu"), (12,)),
        (ModelConfig(kind="conv", channels=[4, 8], latent=4, norm="layer"), (1, 8, 8)),
    ],
)
def test_named_modules_order_is_forward_order(cfg, shape):
    model = create_model(cfg, shape)
    leaves = [m for _, m in model.named_modules() if not list(m.children())]
    seen: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(m)) for m in leaves]
    model(torch.rand(3, *shape))
    for h in hooks:
        h.remove()
    assert seen == leaves


def test_blocks_skip_absent_parts():
    block = Block(nn.Linear(3, 3))
    assert list(dict(block.named_children())) == ["layer"]
    full = DenseBlock(3, 4, "relu", norm="batch", dropout=0.2)
    assert list(dict(full.named_children())) == ["layer", "norm", "act", "drop"]
