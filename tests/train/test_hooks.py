"""Hooks after backward: what a user's callback sees, and what it can decide."""

from __future__ import annotations

import pytest
import torch

import aegrad
from aegrad.run import read_jsonl
from aegrad.train.steps import StepOptions


def _cfg(**over):
    base = {"train.epochs": 1, "data.limit": 256, "train.batch_size": 64, "train.log_every": 1}
    base.update(over)
    return aegrad.load_config(preset="digits-mlp", overrides=base)


class Recorder(aegrad.Callback):
    def __init__(self, skip_every: int = 0) -> None:
        self.after, self.before, self.skip_every = [], [], skip_every

    def on_after_backward(self, ctx) -> None:
        self.after.append((ctx.step, float(ctx.loss), [p.grad.clone() for p in ctx.params]))

    def on_before_update(self, ctx) -> None:
        self.before.append((float(ctx.grad_norm), [p.grad.clone() for p in ctx.params]))
        if self.skip_every and len(self.before) % self.skip_every == 0:
            ctx.skip = True


@pytest.mark.parametrize("dense", [True, False])
def test_after_backward_sees_the_whole_steps_gradient_before_clipping(tmp_path, dense):
    """With 2 micro-batches accumulated, the hook's gradient equals the full batch's autograd gradient."""
    cfg = _cfg(**{"train.accumulate": 2, "train.batch_size": 32, "train.clip_norm": 1e-3, "monitor.enabled": False})
    rec = Recorder()
    run = aegrad.train(cfg, out=tmp_path / "r", report=False, callbacks=[rec], options=StepOptions(dense=dense))
    assert len(rec.after) == run.summary["steps"] == 4
    # the first step from the initial weights, recomputed by hand on the first 64 samples of the epoch order
    torch.manual_seed(cfg.seed)
    data = aegrad.load_dataset(cfg.data, cfg.seed)
    model = aegrad.create_model(cfg.model, data.sample_shape)
    perm = torch.randperm(len(data.train_x), generator=torch.Generator().manual_seed(cfg.seed + 1))
    x = data.train_x[perm[:64]]
    loss = torch.nn.functional.mse_loss(model(x)["x_hat"], x)
    loss.backward()
    step, hook_loss, grads = rec.after[0]
    assert step == 0 and hook_loss == pytest.approx(loss.item(), rel=1e-5)
    for g, p in zip(grads, model.parameters()):
        assert torch.allclose(g, p.grad, rtol=1e-4, atol=1e-7)
    # before the update the clip (1e-3) has acted; the recorded norm is the one before it
    norm, clipped = rec.before[0]
    full = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters()))
    assert norm == pytest.approx(float(full), rel=1e-4)
    assert float(torch.sqrt(sum((g.double() ** 2).sum() for g in clipped))) == pytest.approx(1e-3, rel=1e-3)


def test_a_callback_can_skip_updates(tmp_path):
    rec = Recorder(skip_every=2)
    s = aegrad.train(_cfg(), out=tmp_path / "r", report=False, callbacks=[rec]).summary
    assert len(rec.after) == 4 and s["steps"] == 2  # every second update skipped, not counted


def test_skips_and_rollbacks_are_logged_even_when_the_first_epoch_never_ends(tmp_path):
    cfg = _cfg(**{"train.optimizer": "sgd", "train.lr": 1e4, "model.output": "identity", "train.epochs": 2,
                  "train.nan_patience": 1, "train.max_rollbacks": 1, "data.limit": 1000})
    s = aegrad.train(cfg, out=tmp_path / "r", report=False).summary
    assert s["stop_reason"].startswith("stopped") and s["epochs"] == 0
    records = read_jsonl(tmp_path / "r" / "metrics.jsonl")
    kinds = [r["kind"] for r in records]
    assert "rollback" in kinds and kinds[-1] == "stop" and "step" in kinds
    stop = records[-1]
    assert stop["rollbacks"] == 1 and stop["skipped_steps"] == s["skipped_steps"] and stop["reason"] == s["stop_reason"]
    rollback = next(r for r in records if r["kind"] == "rollback")
    assert rollback["lr"] == pytest.approx(0.5e4)


class _EvalProbe(aegrad.Callback):
    """A measurement at evaluation: each held-out batch's size as a term, with the mode it ran in."""

    def __init__(self) -> None:
        self.modes = []

    def on_eval_batch(self, model, x, terms) -> None:
        self.modes.append((model.training, torch.is_grad_enabled(), "loss" in terms))
        terms["batch"] = torch.tensor(float(len(x)))


def test_a_callback_adds_terms_at_evaluation_and_they_are_logged_as_test_terms(tmp_path):
    probe = _EvalProbe()
    run = aegrad.train(_cfg(**{"train.epochs": 2}), out=tmp_path / "r", report=False, callbacks=[probe])
    n = run.summary["test_samples"]  # one evaluation batch: its sample-weighted mean is its size
    epochs = [r for r in read_jsonl(tmp_path / "r" / "metrics.jsonl") if r["kind"] == "epoch"]
    assert [r["test_batch"] for r in epochs] == [n, n] and run.summary["test_batch"] == n
    assert probe.modes == [(False, False, True)] * 3  # two epochs and the final score: eval mode, no grad
