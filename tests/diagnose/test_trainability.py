"""The check before the first step: its numbers against plain autograd and known spectra, its verdicts on nets
that train and nets that cannot, every preset, and ``aegrad check`` as a user runs it."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import aegrad
from aegrad.diagnose import Kind, Target, advice, check_findings, jacobian_singular_values, trainability
from aegrad.diagnose.stats import param_layers
from aegrad.diagnose.trainability import COLLAPSE_RATIO, GAIN_MIN, VANISH_RATIO
from aegrad.run import CONFIG
from conftest import fashion_available, run_cli

NAIVE_DEEP_SIGMOID = {"model.depth": 16, "model.activation": "sigmoid", "model.init": "default"}


def _digits(overrides: dict | None = None) -> tuple[aegrad.Config, nn.Module, torch.Tensor]:
    """A digits-mlp config, its model as training builds it, and its first batch."""
    cfg = aegrad.load_config(preset="digits-mlp", overrides=overrides or {})
    torch.manual_seed(cfg.seed)
    data = aegrad.load_dataset(cfg.data, cfg.seed)
    return cfg, aegrad.create_model(cfg.model, data.sample_shape), data.train_x[: cfg.train.batch_size]


# ---------------------------------------------------------------- the numbers against references


def test_gradients_and_forward_scale_match_plain_autograd():
    cfg, model, x = _digits()
    report = trainability(model, x)
    assert all(p.grad is None for p in model.parameters())  # nothing written into .grad
    F.mse_loss(model(x)["x_hat"], x).backward()  # the reference: one plain backward of the MSE
    layers = param_layers(model)
    assert [la.name for la in report.layers] == [n for n, _ in layers]
    for la, (_, m) in zip(report.layers, layers):
        g = m.weight.grad.double()
        assert la.grad_norm == pytest.approx(g.norm().item(), rel=1e-6)
        assert la.grad_rms == pytest.approx(g.pow(2).mean().sqrt().item(), rel=1e-6)
    h = model.encoder_blocks[0].layer(x.flatten(1)).double()  # the first layer's output
    assert report.layers[0].forward_rms == pytest.approx(h.pow(2).mean().sqrt().item(), rel=1e-6)
    spread = (h - h.mean(0)).pow(2).mean().sqrt() / h.pow(2).mean().sqrt()
    assert report.layers[0].sample_spread == pytest.approx(spread.item(), rel=1e-6)
    first, last = report.layers[0].grad_rms, report.layers[-1].grad_rms
    assert report.first_last_grad_ratio == pytest.approx(first / last)
    assert report.loss == pytest.approx(F.mse_loss(model(x)["x_hat"], x).item(), rel=1e-6)


def _linear(singular_values: list[float], seed: int = 0) -> nn.Linear:
    n = len(singular_values)
    g = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(n, n, generator=g))
    v, _ = torch.linalg.qr(torch.randn(n, n, generator=g))
    layer = nn.Linear(n, n)
    with torch.no_grad():
        layer.weight.copy_(u @ torch.diag(torch.tensor(singular_values)) @ v.T)
    return layer


def test_the_spread_of_a_linear_map_is_its_weights_singular_value_ratio():
    sv = [10.0, 5.0, 2.0, 1.0, 0.5, 0.1]
    layer = _linear(sv)
    true = torch.linalg.svdvals(layer.weight.detach().double())
    x = torch.randn(5, len(sv), generator=torch.Generator().manual_seed(1))
    s, products = jacobian_singular_values(layer, x, k=len(sv))
    assert s.shape == (5, len(sv)) and products == 4 * len(sv)
    assert torch.allclose(s, true.expand_as(s), rtol=1e-4)  # every sample's Jacobian is W: all of its spectrum
    jac = trainability(layer, x, probes=len(sv)).jacobian
    assert jac.spread == pytest.approx(float(true[0] / true[-1]), rel=1e-4)  # 100x, 2 decades
    assert jac.decades == pytest.approx(2.0, abs=1e-4) and jac.gain == pytest.approx(10.0, rel=1e-4)
    # fewer probes than the rank: the top values, after two subspace iterations (sigma_4 / sigma_3 = 0.5)
    top, _ = jacobian_singular_values(layer, x, k=3, iters=2)
    assert torch.allclose(top, true[:3].expand_as(top), rtol=0.02)


def test_an_orthogonal_map_has_spread_one():
    layer = nn.Linear(32, 32, bias=False)
    nn.init.orthogonal_(layer.weight)
    jac = trainability(layer, torch.randn(8, 32)).jacobian
    assert jac.gain == pytest.approx(1.0, abs=1e-5) and jac.spread == pytest.approx(1.0, abs=1e-5)


def test_the_model_is_left_as_it_was_found():
    _, model, x = _digits({"model.norm": "batch", "model.dropout": 0.2})
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    report = trainability(model, x)
    assert report.jacobian is not None and report.jacobian.mode == "train"
    assert not model.training and all(not m.training for m in model.modules())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())  # batch-norm statistics too
    assert torch.equal(rng, torch.get_rng_state())
    assert trainability(model, x) == report  # the seed fixes the probes and the dropout masks


def test_token_ids_have_no_jacobian_but_gradients():
    cfg = aegrad.load_config(preset="text-words", overrides={"data.limit": 200, "data.test_limit": 50})
    result = aegrad.check(cfg)
    r = result.report
    assert r.jacobian is None and "token ids" in r.jacobian_skipped
    assert all(la.grad_norm > 0 for la in r.layers) and r.first_last_grad_ratio > 0
    assert result.healthy


# ---------------------------------------------------------------- verdicts


def test_the_naive_deep_sigmoid_net_is_flagged_with_the_depth_remedies_ranked():
    cfg = aegrad.load_config(preset="digits-mlp", overrides=NAIVE_DEEP_SIGMOID)
    result = aegrad.check(cfg)
    assert not result.healthy and [f["kind"] for f in result.findings] == [Kind.UNTRAINABLE_AT_INIT]
    f = result.findings[0]
    assert f["severity"] == "error" and f["layers"]
    ev = f["evidence"]
    assert ev["first_last_grad_ratio"] < VANISH_RATIO and ev["collapse"] < COLLAPSE_RATIO
    assert ev["jacobian_gain"] < GAIN_MIN
    assert f["remedies"] == advice([Target.VANISHING_GRADIENT], cfg)  # whatever the catalogue holds, ranked
    assert f["remedies"]  # not empty
    json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize("overrides", [
    {},  # the default preset
    {"model.depth": 8},  # relu, kaiming: trains (0.18x the trivial MSE at lr 1e-3)
    {"model.depth": 16, "model.residual": True, "model.norm": "layer"},  # trains (0.39x at lr 1e-3)
    {"model.depth": 16, "model.activation": "tanh", "model.init": "xavier_normal"},  # trains (0.22x at lr 3e-4)
    {"model.depth": 2, "model.activation": "sigmoid", "model.init": "default"},  # trains (0.37x)
], ids=["digits-mlp", "relu-d8", "residual-ln-d16", "tanh-xavier-d16", "sigmoid-d2"])
def test_nets_that_train_pass(overrides):
    cfg, model, x = _digits(overrides)
    assert check_findings(trainability(model, x), cfg) == []


def test_an_exploding_init_is_flagged_with_the_exploding_remedies_first():
    cfg, model, x = _digits({"model.depth": 4, "model.init_gain": 3.0})
    (f,) = check_findings(trainability(model, x), cfg)
    assert f.kind == Kind.UNTRAINABLE_AT_INIT and f.evidence["activation_growth"] > 1e3
    assert f.remedies[0] == advice([Target.EXPLODING_GRADIENT], cfg)[0]


def _available(name: str) -> bool:
    source = aegrad.load_config(preset=name).data.source
    if source == "fashion-mnist":
        return fashion_available()
    return source != "skimage" or importlib.util.find_spec("skimage") is not None


@pytest.mark.parametrize("name", sorted(aegrad.list_presets()))
def test_every_preset_passes(name):
    if not _available(name):
        pytest.skip(f"{name}'s data is not installed")
    result = aegrad.check(aegrad.load_config(preset=name))
    assert result.healthy, result.findings
    assert (result.report.jacobian is None) == bool(result.report.jacobian_skipped)


# ---------------------------------------------------------------- the command


def test_check_command(tmp_path):
    proc = run_cli("check", "--preset", "digits-mlp", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "encoder_blocks.0.layer" in proc.stdout and "healthy" in proc.stdout
    proc = run_cli("check", "--preset", "digits-mlp", *[f"--set={k}={v}" for k, v in NAIVE_DEEP_SIGMOID.items()],
                   "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["healthy"] is False and obj["findings"][0]["kind"] == "untrainable_at_init"
    assert len(obj["layers"]) == 34 and obj["jacobian"]["gain"] < GAIN_MIN
    # a run folder is checked as its config.yaml is
    run = tmp_path / "run"
    run.mkdir()
    (run / CONFIG).write_text(run_config := "name: r\nmodel:\n  depth: 16\n  activation: sigmoid\n  init: default\n")
    proc = run_cli("check", str(run), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["findings"][0]["kind"] == "untrainable_at_init"
    assert [p.name for p in run.iterdir()] == [CONFIG] and (run / CONFIG).read_text() == run_config
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing written


@pytest.mark.parametrize(("args", "needle"), [
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--set", "model.depth=0"], "model.depth"),
    (["/nonexistent-run"], "no run folder or config file"),
    (["--preset", "digits-mlp", "somewhere"], "not both"),
])
def test_check_bad_input_exits_2_with_one_line(tmp_path, args, needle):
    proc = run_cli("check", *args, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert proc.stdout == "" and list(tmp_path.iterdir()) == []
