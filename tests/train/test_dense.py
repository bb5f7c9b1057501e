"""The autograd-free dense step against autograd, and the loop's use of it."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import aegrad
from aegrad.config import load_config
from aegrad.models import create_model
from aegrad.train import dense as dense_mod
from aegrad.train.dense import DenseStep

from aegrad.train.steps import StepOptions

SHAPE = (8, 8)


def _cfg(**overrides):
    return load_config(preset="digits-mlp", overrides=overrides)


def _pair(cfg):
    torch.manual_seed(0)
    model = create_model(cfg.model, SHAPE)
    twin = copy.deepcopy(model)
    step = DenseStep.of(twin, cfg)
    assert step is not None
    return model, twin, step


def _max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


ONEDNN = [True, False] if dense_mod.onednn_available() else [False]


def test_onednn_is_used_where_it_runs_and_refused_where_it_fails(monkeypatch):
    if torch.backends.mkldnn.is_available():
        assert dense_mod.onednn_available()  # torch's CPU wheels ship it: the fast path must not silently vanish
        assert _pair(_cfg())[2].onednn
    # only products large enough to repay oneDNN's per-call cost use it: RT1's 784x512 and 512x256 pairs
    rt1 = load_config(preset="fashion-mlp")
    assert DenseStep.of(create_model(rt1.model, (1, 28, 28)), rt1)._large == [True, True, False, False, True, True]
    monkeypatch.setattr(dense_mod, "_ONEDNN_OK", {})

    def broken(*args, **kwargs):
        raise RuntimeError("no oneDNN here")

    monkeypatch.setattr(dense_mod, "_linear", broken)
    assert not dense_mod.onednn_available()
    assert not _pair(_cfg())[2].onednn  # the MKL products then, still exact (tests below run both)
    monkeypatch.setattr(dense_mod, "_ONEDNN_OK", {})
    monkeypatch.setattr(dense_mod, "_linear", lambda x, w, b, act, slope: torch.zeros(len(x), len(w)))
    assert not dense_mod.onednn_available()  # runs but computes something else: refused too
    assert not dense_mod.onednn_available(torch.bfloat16)  # each dtype is probed on its own
    assert dense_mod._ONEDNN_OK == {torch.float32: False, torch.bfloat16: False}


@pytest.mark.parametrize("onednn", ONEDNN)
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("output", ["sigmoid", "identity"])
def test_loss_and_every_gradient_equal_autograd(activation, output, onednn):
    model, twin, step = _pair(_cfg(**{"model.activation": activation, "model.output": output}))
    step.onednn, step._large = onednn, [onednn] * len(step.stages)  # every product, whatever its size
    g = torch.Generator().manual_seed(1)
    target = torch.rand(33, *SHAPE, generator=g)
    noisy = target + 0.1 * torch.randn(target.shape, generator=g)
    loss = F.mse_loss(model(noisy)["x_hat"], target)
    (0.7 * loss).backward()
    got = step.loss_and_grads(noisy, target, 0.7)
    assert float(got) == pytest.approx(float(loss), rel=1e-6)
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        assert b.grad is not None and b.grad.shape == a.grad.shape, name
        assert _max_rel(b.grad, a.grad) < 1e-5, name


ONEDNN_BF16 = [True, False] if dense_mod.onednn_available(torch.bfloat16) else [False]


@pytest.mark.parametrize("onednn", ONEDNN_BF16)
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("output", ["sigmoid", "identity"])
def test_bf16_loss_and_every_gradient_equal_autograd_under_autocast(activation, output, onednn):
    model, twin, step = _pair(_cfg(**{"model.activation": activation, "model.output": output,
                                      "train.precision": "bf16"}))
    assert step.compute == torch.bfloat16
    step.onednn, step._large = onednn, [onednn] * len(step.stages)
    g = torch.Generator().manual_seed(1)
    target = torch.rand(33, *SHAPE, generator=g)
    noisy = target + 0.1 * torch.randn(target.shape, generator=g)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as the loop's autograd path runs bf16
        x_hat = model(noisy)["x_hat"]
    loss = F.mse_loss(x_hat.float(), target)
    (0.7 * loss).backward()
    got = step.loss_and_grads(noisy, target, 0.7)
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        assert b.grad.dtype == torch.float32 and b.grad.shape == a.grad.shape, name
        # the same bf16 kernels as autocast's (equal here, but a kernel may sum in another order elsewhere);
        # oneDNN applies its fused activation before the one rounding to bf16, autocast after it
        assert _max_rel(b.grad, a.grad) < (3e-2 if onednn else 1e-2), name
    assert float(got) == pytest.approx(float(loss), rel=1e-3 if onednn else 1e-6)
    for p in twin.parameters():  # the float32 weights are what Adam updates; the step leaves them alone
        assert p.dtype == torch.float32


def test_bf16_gradients_accumulate_as_autograd_does():
    model, twin, step = _pair(_cfg(**{"train.precision": "bf16"}))
    step.onednn = False  # exact comparison (see above)
    g = torch.Generator().manual_seed(4)
    batches = [torch.rand(n, *SHAPE, generator=g) for n in (20, 7, 50)]
    for x in batches:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            x_hat = model(x)["x_hat"]
        (F.mse_loss(x_hat.float(), x) / 3).backward()
        step.loss_and_grads(x, x, 1 / 3, norms=True)
    for a, b in zip(model.parameters(), twin.parameters()):
        assert _max_rel(b.grad, a.grad) < 1e-2  # a bf16 rounding apart at most (one element of one product here)
    want = torch.stack([p.grad.square().sum() for p in twin.parameters()])
    assert torch.allclose(step.sq_norms, want, rtol=1e-5)  # the norms are the float32 .grad's


@pytest.mark.parametrize("onednn", ONEDNN)
def test_gradients_accumulate_and_buffers_resize_across_batch_sizes(onednn):
    model, twin, step = _pair(_cfg())
    step.onednn, step._large = onednn, [onednn] * len(step.stages)  # every product, whatever its size
    g = torch.Generator().manual_seed(2)
    batches = [torch.rand(n, *SHAPE, generator=g) for n in (20, 7, 50)]  # shrink, then grow past the buffers
    for x in batches:
        (F.mse_loss(model(x)["x_hat"], x) / 3).backward()
        step.loss_and_grads(x, x, 1 / 3)
    for a, b in zip(model.parameters(), twin.parameters()):
        assert _max_rel(b.grad, a.grad) < 1e-5
    # a fresh step after clearing equals autograd on the last batch alone
    for p in (*model.parameters(), *twin.parameters()):
        p.grad = None
    F.mse_loss(model(batches[0])["x_hat"], batches[0]).backward()
    step.loss_and_grads(batches[0], batches[0])
    for a, b in zip(model.parameters(), twin.parameters()):
        assert _max_rel(b.grad, a.grad) < 1e-5


def test_squared_norms_are_those_of_the_accumulated_gradients():
    model, twin, step = _pair(_cfg())
    g = torch.Generator().manual_seed(3)
    x1, x2 = torch.rand(12, *SHAPE, generator=g), torch.rand(9, *SHAPE, generator=g)
    step.sq_norms.fill_(-1.0)
    step.loss_and_grads(x1, x1, 0.5)  # norms not asked for: left as they were
    assert torch.equal(step.sq_norms, torch.full_like(step.sq_norms, -1.0))
    step.loss_and_grads(x2, x2, 0.5, norms=True)  # the last micro-batch: norms of the sum
    for xb in (x1, x2):
        (0.5 * F.mse_loss(model(xb)["x_hat"], xb)).backward()
    want = torch.stack([p.grad.double().square().sum() for p in model.parameters()])
    assert step.sq_norms.shape == want.shape
    assert torch.allclose(step.sq_norms.double(), want, rtol=1e-5, atol=0.0)
    assert (want > 0).all()


def test_the_loop_shares_the_dense_norms_with_the_monitor_and_the_clipper(tmp_path, monkeypatch):
    cfg = _cfg(**{"train.epochs": 1, "data.limit": 300, "monitor.sync_every": 3, "train.log_every": 1})
    asked = []
    original = DenseStep.loss_and_grads

    def spy(self, x, target, scale=1.0, norms=False):
        asked.append(norms)
        return original(self, x, target, scale, norms)

    n_params = len(list(create_model(cfg.model, SHAPE).parameters()))
    passes = []
    foreach_norm = torch._foreach_norm

    def counting_norm(tensors, *args, **kwargs):
        if len(tensors) == n_params and kwargs.get("dtype") is None:
            passes.append(1)  # a float32 pass over every gradient: what the dense step replaces
        return foreach_norm(tensors, *args, **kwargs)

    monkeypatch.setattr(DenseStep, "loss_and_grads", spy)
    monkeypatch.setattr(torch, "_foreach_norm", counting_norm)
    dense = aegrad.train(cfg, tmp_path / "dense", report=False)
    assert asked and all(asked)
    assert not passes
    monkeypatch.undo()
    auto = aegrad.train(cfg, tmp_path / "auto", report=False, options=StepOptions(dense=False))
    a, b = aegrad.load_run(dense.path), aegrad.load_run(auto.path)
    steps_a = [r for r in a.metrics if r["kind"] == "step"]
    steps_b = [r for r in b.metrics if r["kind"] == "step"]
    assert steps_a[0]["grad_norm"] == pytest.approx(steps_b[0]["grad_norm"], rel=1e-4)
    assert a.gradients[0]["grad_norm"]["mean"] == pytest.approx(b.gradients[0]["grad_norm"]["mean"], rel=1e-4)


def test_accumulation_and_penalties_keep_the_norms_right(tmp_path, monkeypatch):
    cfg = _cfg(**{"train.epochs": 1, "data.limit": 256, "train.batch_size": 32, "monitor.sync_every": 2})
    runs = {}
    for label, extra in (("acc", {"train.accumulate": 2}), ("l2", {"train.l2": 1e-3})):
        c = aegrad.with_overrides(cfg, extra)
        runs[label, "dense"] = aegrad.load_run(aegrad.train(c, tmp_path / f"{label}-d", report=False).path)
        auto = aegrad.train(c, tmp_path / f"{label}-a", report=False, options=StepOptions(dense=False))
        runs[label, "auto"] = aegrad.load_run(auto.path)
    for label in ("acc", "l2"):
        d, a = runs[label, "dense"].gradients[0], runs[label, "auto"].gradients[0]
        assert d["grad_norm"]["mean"] == pytest.approx(a["grad_norm"]["mean"], rel=1e-4), label


def test_gather_equals_indexing():
    _, _, step = _pair(_cfg())
    x = torch.rand(40, *SHAPE)
    for idx in (torch.tensor([3, 1, 39, 3]), torch.arange(10), torch.tensor([5])):
        assert torch.equal(step.gather(x, idx), x[idx])


@pytest.mark.parametrize(
    "overrides",
    [
        {"model.norm": "batch"},
        {"model.norm": "layer"},
        {"model.dropout": 0.1},
        {"model.residual": True, "model.depth": 2, "model.width": 16},
        {"model.activation": "prelu"},
        {"model.activation": "gelu"},
        {"train.latent_l1": 0.01},
    ],
)
def test_models_it_cannot_step_are_refused(overrides):
    cfg = _cfg(**overrides)
    assert DenseStep.of(create_model(cfg.model, SHAPE), cfg) is None


def test_conv_models_are_refused():
    cfg = load_config(preset="fashion-conv")
    assert DenseStep.of(create_model(cfg.model, (1, 28, 28)), cfg) is None


def test_output_only_hooks_are_called_and_other_hooks_force_autograd():
    model, twin, step = _pair(_cfg())
    act = twin.encoder_blocks[0].act
    seen = []

    def output_only(module, inputs, output):
        seen.append(output.detach().clone())

    output_only.reads_output_only = True
    handle = act.register_forward_hook(output_only)
    assert not step.hooked()
    x = torch.rand(5, *SHAPE)
    step.loss_and_grads(x, x)
    reference = torch.relu(model.encoder_blocks[0].layer(x.flatten(1)))
    assert len(seen) == 1 and torch.allclose(seen[0], reference, rtol=1e-6, atol=1e-7)
    handle.remove()

    handle = act.register_forward_hook(lambda m, i, o: None)  # may read inputs: only autograd honours it
    assert step.hooked()
    handle.remove()
    handle = twin.encoder_blocks[0].layer.register_forward_pre_hook(lambda m, i: None)
    assert step.hooked()
    handle.remove()
    assert not step.hooked()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])  # bf16: against autograd under autocast
def test_the_loop_uses_it_and_trains_like_autograd(tmp_path, monkeypatch, precision):
    cfg = _cfg(**{"train.epochs": 3, "data.limit": 600, "train.precision": precision})
    calls = {"n": 0}
    original = DenseStep.loss_and_grads

    def counting(self, *args, **kwargs):
        calls["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DenseStep, "loss_and_grads", counting)
    dense = aegrad.train(cfg, tmp_path / "dense", report=False).summary
    steps = dense["steps"]
    # every step, the monitor's activation-sampling ones included (its hooks read only outputs)
    assert calls["n"] == steps

    auto = aegrad.train(cfg, tmp_path / "auto", report=False, options=StepOptions(dense=False)).summary
    assert auto["steps"] == steps
    # rounding differs between the paths (float32's; bf16's where oneDNN fuses an activation before it);
    # three epochs of Adam keep the results within 1% (2% in bf16)
    assert dense["test_mse"] == pytest.approx(auto["test_mse"], rel=1e-2 if precision == "fp32" else 2e-2)
    assert dense["test_mse"] < 0.7 * dense["trivial_mse"]  # it learned


def test_monitor_records_match_between_the_paths(tmp_path, monkeypatch):
    cfg = _cfg(**{"train.epochs": 1, "data.limit": 400, "monitor.sync_every": 5, "monitor.activation_every": 5})
    dense = aegrad.train(cfg, tmp_path / "dense", report=False)
    auto = aegrad.train(cfg, tmp_path / "auto", report=False, options=StepOptions(dense=False))
    a = aegrad.load_run(dense.path).gradients
    b = aegrad.load_run(auto.path).gradients
    assert len(a) == len(b) > 1
    first_a, first_b = a[0], b[0]
    assert first_a["layers"] == first_b["layers"]
    assert first_a["activations"].keys() == first_b["activations"].keys()
    # the first window starts from identical weights: the two paths measure the same statistics
    assert first_a["grad_norm"]["mean"] == pytest.approx(first_b["grad_norm"]["mean"], rel=1e-3)
    for name, stats in first_a["activations"].items():
        other = first_b["activations"][name]
        for key in ("mean", "std", "dead", "saturated"):
            if stats[key] is None:
                assert other[key] is None, (name, key)
                continue
            assert stats[key] == pytest.approx(other[key], rel=1e-3, abs=1e-6), (name, key)
