"""The autograd-free dense step against autograd, and the loop's use of it."""

from __future__ import annotations

import copy
import importlib

import pytest
import torch
import torch.nn.functional as F

import aegrad
from aegrad.config import load_config
from aegrad.models import create_model
from aegrad.train.dense import DenseStep

loop = importlib.import_module("aegrad.train.loop")

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


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("output", ["sigmoid", "identity"])
def test_loss_and_every_gradient_equal_autograd(activation, output):
    model, twin, step = _pair(_cfg(**{"model.activation": activation, "model.output": output}))
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


def test_gradients_accumulate_and_buffers_resize_across_batch_sizes():
    model, twin, step = _pair(_cfg())
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
        {"train.precision": "bf16"},
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


def test_the_loop_uses_it_and_trains_like_autograd(tmp_path, monkeypatch):
    cfg = _cfg(**{"train.epochs": 3, "data.limit": 600})
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

    monkeypatch.setattr(loop.DenseStep, "of", classmethod(lambda cls, *a, **k: None))
    auto = aegrad.train(cfg, tmp_path / "auto", report=False).summary
    assert auto["steps"] == steps
    # float32 rounding differs between the paths; three epochs of Adam keep the results within 1%
    assert dense["test_mse"] == pytest.approx(auto["test_mse"], rel=1e-2)
    assert dense["test_mse"] < 0.7 * dense["trivial_mse"]  # it learned


def test_monitor_records_match_between_the_paths(tmp_path, monkeypatch):
    cfg = _cfg(**{"train.epochs": 1, "data.limit": 400, "monitor.sync_every": 5, "monitor.activation_every": 5})
    dense = aegrad.train(cfg, tmp_path / "dense", report=False)
    monkeypatch.setattr(loop.DenseStep, "of", classmethod(lambda cls, *a, **k: None))
    auto = aegrad.train(cfg, tmp_path / "auto", report=False)
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
