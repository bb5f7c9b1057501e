"""The depth remedies (docs/depth.md): each equals its definition on a small example; misuse is one line; one trains.

ReZero, LayerScale, pre-activation blocks, zero- and depth-scaled branch inits, orthogonal weights at the critical
point, the warm-up schedule; the remedies that propose them, for deep dense nets only; and a depth-16 digits MLP that
trains with ReZero where the plain sigmoid one does not.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import aegrad
from aegrad.cli import main
from aegrad.config import ModelConfig, TrainConfig, load_config, with_overrides
from aegrad.diagnose import remedies_for
from aegrad.diagnose.remedies import DEEP, depth_scaled_lr
from aegrad.errors import UserError
from aegrad.models import create_model, init_layer
from aegrad.models.blocks import BranchScale, DenseBlock, branch_scale
from aegrad.models.inits import CRITICAL_GAIN
from aegrad.train.schedules import create_schedule, lr_at

W = 16  # width of the residual examples


def _residual_blocks(model: nn.Module) -> list[DenseBlock]:
    blocks = [*model.encoder_blocks, *model.decoder_blocks]
    return [b for b in blocks if isinstance(b, DenseBlock) and b.residual]


def _model(**kw) -> nn.Module:
    torch.manual_seed(0)
    return create_model(ModelConfig(depth=4, width=W, latent=4, **kw), (10,))


# ---------------------------------------------------------------- branches scaled or zero at initialisation


@pytest.mark.parametrize("options", [
    {"branch_scale": "rezero"},  # x + 0 * f(x)
    {"branch_scale": "rezero", "norm": "layer", "dropout": 0.5, "activation": "sigmoid"},
    {"residual_style": "pre", "branch_init": "zero"},  # x + 0 act(x) + 0
    {"residual_style": "pre", "branch_init": "zero", "norm": "batch", "dropout": 0.5, "activation": "sigmoid"},
])
def test_rezero_and_zero_initialised_branches_are_the_identity_at_init(options):
    model = _model(residual=True, **options).train()  # train mode: dropout and batch statistics active
    blocks = _residual_blocks(model)
    assert len(blocks) == 2 * 3  # depth 4: 3 equal-width blocks per side
    x = torch.randn(8, W)
    for block in blocks:
        assert torch.equal(block(x), x)


def test_rezero_is_one_learned_scalar_starting_at_zero_after_the_branch():
    block = _residual_blocks(_model(residual=True, branch_scale="rezero"))[0]
    assert list(block._modules) == ["layer", "act", "scale"]  # forward order, as the monitor reads it
    alpha = block.scale.alpha
    assert alpha.shape == () and alpha.item() == 0.0 and alpha.requires_grad
    x = torch.randn(8, W)
    with torch.no_grad():
        alpha.fill_(0.3)
    assert torch.allclose(block(x), x + 0.3 * torch.relu(block.layer(x)))
    block(x).sum().backward()
    assert alpha.grad is not None and alpha.grad.abs() > 0  # the scale learns first; then the branch does


def test_layerscale_is_x_plus_gamma_times_the_branch():
    gamma0 = 1e-2
    block = _residual_blocks(_model(residual=True, branch_scale="layerscale", layerscale_init=gamma0,
                                    norm="layer", activation="tanh"))[0]
    gamma = block.scale.alpha
    assert gamma.shape == (W,) and torch.equal(gamma, torch.full((W,), gamma0))
    x = torch.randn(8, W)
    lin, ln = block.layer, block.norm
    f = torch.tanh(F.layer_norm(x @ lin.weight.T + lin.bias, (W,), ln.weight, ln.bias, ln.eps))
    assert torch.allclose(block(x), x + gamma * f, atol=1e-7)


def test_branch_scale_builds_the_named_scale():
    assert branch_scale("none", 4) is None
    assert branch_scale("rezero", 4).alpha.shape == ()
    assert torch.equal(branch_scale("layerscale", 4, 0.5).alpha, torch.full((4,), 0.5))
    assert BranchScale((3,), 2.0)(torch.ones(2, 3)).eq(2.0).all()


# ---------------------------------------------------------------- pre-activation blocks


@pytest.mark.parametrize("norm", ["layer", "none"])
def test_pre_norm_block_is_x_plus_w_act_norm_x(norm):
    block = _residual_blocks(_model(residual=True, residual_style="pre", norm=norm, activation="tanh"))[0]
    expected_parts = ["norm", "act", "layer"] if norm == "layer" else ["act", "layer"]
    assert list(block._modules) == expected_parts  # forward order: the norm inside the branch, the linear last
    torch.manual_seed(1)
    with torch.no_grad():  # a norm away from its (1, 0) init, so the test sees it
        for p in block.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = 3 * torch.randn(8, W)
    h = F.layer_norm(x, (W,), block.norm.weight, block.norm.bias, block.norm.eps) if norm == "layer" else x
    by_hand = x + torch.tanh(h) @ block.layer.weight.T + block.layer.bias
    assert torch.allclose(block(x), by_hand, atol=1e-6)


def test_pre_norm_keeps_the_linear_bias_under_batch_norm():
    post = _residual_blocks(_model(residual=True, norm="batch"))[0]
    pre = _residual_blocks(_model(residual=True, residual_style="pre", norm="batch"))[0]
    assert post.layer.bias is None  # the batch norm after it would cancel it
    assert pre.layer.bias is not None  # before it, nothing does


def test_blocks_that_change_width_stay_plain():
    model = _model(residual=True, residual_style="pre", branch_scale="layerscale")
    first = model.encoder_blocks[0]  # 10 -> 16
    assert not first.residual and list(first._modules) == ["layer", "act"]
    with pytest.raises(ValueError, match="residual"):
        DenseBlock(W, W, "relu", style="pre")


# ---------------------------------------------------------------- depth-scaled (Fixup-style) init


def test_depth_scaled_init_is_the_default_times_l_to_the_minus_half():
    depth, width = 9, 256  # 8 residual blocks per side
    default = _residual_blocks(create_seeded(depth, width, branch_init="default"))
    scaled = _residual_blocks(create_seeded(depth, width, branch_init="depth"))
    L = depth - 1
    for a, b in zip(default, scaled):
        assert torch.allclose(b.layer.weight, a.layer.weight * L**-0.5)  # same draws, times L^-1/2
        assert torch.equal(b.layer.bias, a.layer.bias)
    std = torch.cat([b.layer.weight.flatten() for b in scaled]).std().item()
    assert std == pytest.approx(2**0.5 / width**0.5 * L**-0.5, rel=0.05)  # kaiming_normal before relu: sqrt(2/fan_in)


def create_seeded(depth: int, width: int, **kw) -> nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(depth=depth, width=width, latent=8, residual=True, residual_style="pre", init="kaiming_normal",
                      **kw)
    return create_model(cfg, (12,))


# ---------------------------------------------------------------- orthogonal at the critical point


@pytest.mark.parametrize("activation, gain", [("tanh", 1.0), ("sigmoid", 4.0), (None, 1.0), ("relu", 2**0.5)])
@pytest.mark.parametrize("shape", [(64, 64), (32, 64), (64, 32)])
def test_orthogonal_critical_singular_values_are_all_the_gain(activation, gain, shape):
    torch.manual_seed(0)
    layer = nn.Linear(shape[1], shape[0])
    init_layer(layer, ModelConfig(init="orthogonal_critical"), activation, hidden=True)
    s = torch.linalg.svdvals(layer.weight.double())
    assert torch.allclose(s, torch.full_like(s, gain), rtol=1e-5)
    assert torch.equal(layer.bias, torch.zeros(shape[0]))


def test_critical_gain_inverts_the_slope_at_zero():
    for name, fn in (("tanh", torch.tanh), ("sigmoid", torch.sigmoid)):
        x = torch.zeros((), requires_grad=True)
        fn(x).backward()
        assert CRITICAL_GAIN[name] * x.grad.item() == pytest.approx(1.0)  # the layer's Jacobian at 0 is Q


# ---------------------------------------------------------------- learning-rate warm-up


def test_warmup_ramps_linearly_then_holds():
    cfg = TrainConfig(schedule="warmup", lr=0.01, warmup_steps=4)
    assert [lr_at(s, cfg, 100) for s in range(7)] == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01, 0.01])
    assert lr_at(10**6, cfg, 100) == 0.01  # no decay, however long the run
    assert lr_at(0, cfg.model_copy(update={"warmup_steps": 0}), 100) == 0.01  # no warm-up: constant
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = create_schedule(opt, cfg, 100)
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"])
        sched.step()
    assert seen == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01])


# ---------------------------------------------------------------- misuse: one line naming what works


@pytest.mark.parametrize("overrides, needle", [
    ({"model.branch_scale": "rezero"}, "model.branch_scale=rezero needs model.residual=true (residual blocks of "
                                       "equal widths: model.depth with model.width)"),
    ({"model.residual_style": "pre"}, "model.residual_style=pre needs model.residual=true"),
    ({"model.residual": True, "model.depth": 4, "model.branch_init": "zero"},
     "model.branch_init=zero needs model.residual_style=pre"),
    ({"model.residual": True, "model.depth": 4, "model.residual_style": "pre", "model.branch_init": "zero",
      "model.branch_scale": "rezero"}, "never trains"),
    ({"model.kind": "conv", "model.residual": True, "model.branch_scale": "rezero"},
     "model.branch_scale=rezero needs residual blocks of equal widths, and model.kind=conv has none: model.kind=mlp"),
    ({"model.kind": "unet", "model.residual": True}, "model.kind=unet has none: model.kind=mlp with "
                                                     "model.residual=true"),
])
def test_residual_options_where_they_cannot_apply_are_one_line(overrides, needle):
    with pytest.raises(UserError) as err:
        load_config(overrides=overrides)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg, msg


def test_the_cli_refuses_a_residual_option_on_a_conv_with_exit_2(capsys):
    code = main(["train", "--preset", "fashion-conv", "--set", "model.residual_style=pre"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "model.residual_style=pre needs residual blocks of equal widths, and model.kind=conv has none" in err


# ---------------------------------------------------------------- the remedies that propose them


def _names(kind: str, **overrides) -> list[str]:
    return [r["name"] for r in remedies_for(kind, load_config(overrides=overrides))]


def test_depth_remedies_apply_to_deep_dense_nets_only():
    deep = {"model.depth": DEEP, "model.width": 64}
    names = _names("vanishing_gradient", **deep)
    assert names[:3] == ["rezero", "skipinit", "residual"]  # the scaled branches first: they train at depth 32+
    assert {"layerscale", "pre_norm_residual", "depth_scaled_init"} <= set(names)
    assert "orthogonal_critical" not in names  # relu: no isometric regime
    sigmoid = _names("vanishing_gradient", **deep, **{"model.activation": "sigmoid"})
    assert sigmoid[:4] == ["relu_kaiming", "rezero", "skipinit", "orthogonal_critical"]
    assert "orthogonal_critical" not in _names("vanishing_gradient", **deep, **{"model.activation": "tanh",
                                                                                "model.residual": True})
    for shallow in ({"model.depth": DEEP - 1}, {}, {"model.kind": "conv"}):
        found = set(_names("vanishing_gradient", **shallow)) | set(_names("exploding_gradient", **shallow))
        assert not found & {"rezero", "skipinit", "layerscale", "pre_norm_residual", "depth_scaled_init",
                            "orthogonal_critical", "lr_warmup", "depth_scaled_lr"}, shallow
    assert "lr_warmup" in _names("exploding_gradient", **deep)
    assert "lr_warmup" not in _names("exploding_gradient", **deep, **{"train.schedule": "warmup_cosine"})


def test_depth_remedy_patches():
    cfg = load_config(overrides={"model.depth": 64, "model.width": 64, "model.activation": "sigmoid",
                                 "train.schedule": "cosine", "train.warmup_steps": 0})
    by_name = {r["name"]: r["patch"] for kind in ("vanishing_gradient", "exploding_gradient")
               for r in remedies_for(kind, cfg)}
    assert by_name["rezero"] == {"model.residual": True, "model.branch_scale": "rezero"}
    assert by_name["skipinit"] == {"model.residual": True, "model.residual_style": "pre", "model.branch_init": "zero"}
    assert by_name["orthogonal_critical"] == {"model.activation": "tanh", "model.init": "orthogonal_critical"}
    assert by_name["lr_warmup"] == {"train.schedule": "warmup_cosine", "train.warmup_steps": 100}
    assert by_name["depth_scaled_lr"] == {"train.lr": depth_scaled_lr(0.003, 64)}
    assert depth_scaled_lr(0.003, 64) == pytest.approx(0.003 * (8 / 64) ** 0.5, rel=1e-3)
    for patch in by_name.values():
        with_overrides(cfg, patch)  # each validates
    rezero_run = {"model.depth": 32, "model.residual": True, "model.branch_scale": "rezero"}
    assert "rezero" not in _names("vanishing_gradient", **rezero_run)  # never what the run already does
    rems = remedies_for("vanishing_gradient", load_config(overrides=rezero_run))
    assert next(r["patch"] for r in rems if r["name"] == "skipinit")["model.branch_scale"] == "none"  # never W = a = 0


# ---------------------------------------------------------------- it trains


def test_a_depth_16_rezero_mlp_trains_where_the_plain_sigmoid_one_does_not(tmp_path):
    base = {"model.depth": 16, "model.width": 64, "train.epochs": 5}  # digits, Adam 3e-3: ~2 s each
    sigmoid = aegrad.train(load_config(overrides={**base, "model.activation": "sigmoid"}), out=tmp_path / "sig",
                           report=False)
    rezero = aegrad.train(load_config(overrides={**base, "model.residual": True, "model.branch_scale": "rezero"}),
                          out=tmp_path / "rezero", report=False)
    assert sigmoid.summary["test_over_trivial"] > 0.9  # measured 1.005: the trivial reconstruction
    assert rezero.summary["test_over_trivial"] < 0.5  # measured 0.22
    findings = json.loads((tmp_path / "sig" / "findings.json").read_text())["findings"]
    proposed = [r["name"] for f in findings for r in f["remedies"]]
    assert "rezero" in proposed  # what the doctor probes


def test_save_load_round_trip_keeps_the_branch_scales(tmp_path):
    from aegrad.models import load_model, save_model

    cfg = ModelConfig(depth=3, width=8, latent=3, residual=True, residual_style="pre", branch_scale="layerscale",
                      norm="layer")
    torch.manual_seed(0)
    model = create_model(cfg, (6,)).eval()
    with torch.no_grad():
        for b in _residual_blocks(model):
            b.scale.alpha.uniform_()  # learned values, not the init
    save_model(model, tmp_path / "m.safetensors", cfg, (6,))
    loaded, cfg2, _, _ = load_model(tmp_path / "m.safetensors")
    x = torch.rand(4, 6)
    assert cfg2 == cfg and torch.equal(model(x)["x_hat"], loaded(x)["x_hat"])


def test_a_net_without_equal_widths_has_no_residual_block_and_the_options_change_nothing():
    import torch

    plain = aegrad.load_config(overrides={"model.depth": 1, "model.width": 32, "model.residual": True})
    scaled = aegrad.with_overrides(plain, {"model.branch_scale": "rezero", "model.residual_style": "pre"})
    torch.manual_seed(0)
    a = aegrad.create_model(plain.model, (1, 8, 8))
    torch.manual_seed(0)
    b = aegrad.create_model(scaled.model, (1, 8, 8))
    assert [n for n, _ in a.named_parameters()] == [n for n, _ in b.named_parameters()]  # no scale parameters
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(a(x)["x_hat"], b(x)["x_hat"])
