"""Loop options end to end: bf16 autocast, torch.compile, step checkpoints, regularisers, pretraining logs."""

from __future__ import annotations

import importlib
import math

import pytest
import torch

import aegrad
from aegrad.run import read_jsonl


def _train(tmp_path, name, **over):
    cfg = aegrad.load_config(overrides={"train.epochs": 3, "train.log_every": 5, **over})
    return aegrad.train(cfg, out=tmp_path / name, report=False)


def test_bf16_autocast_trains_close_to_fp32(tmp_path):
    fp32 = _train(tmp_path, "fp32").summary
    bf16 = _train(tmp_path, "bf16", **{"train.precision": "bf16"}).summary
    assert bf16["test_mse"] < 0.7 * bf16["trivial_mse"]
    assert bf16["test_mse"] != fp32["test_mse"]  # autocast really ran in reduced precision
    assert bf16["test_mse"] == pytest.approx(fp32["test_mse"], rel=0.25)


@pytest.mark.slow
def test_compile_matches_eager(tmp_path):
    eager = _train(tmp_path, "eager", **{"train.epochs": 1}).summary
    comp = _train(tmp_path, "compiled", **{"train.epochs": 1, "train.compile": True}).summary
    assert comp["test_mse"] == pytest.approx(eager["test_mse"], rel=1e-3)
    grads = read_jsonl(tmp_path / "compiled" / "gradients.jsonl")
    assert grads and any(r["activations"] for r in grads)  # the monitor's hooks still fire when compiled


def test_checkpoint_every_n_steps_and_resume(tmp_path):
    run = _train(tmp_path, "r", **{"train.epochs": 1, "train.checkpoint_every": 7})
    state = torch.load(tmp_path / "r" / "state.pt", weights_only=True)
    assert state["step"] == run.summary["steps"]  # the epoch-end checkpoint is the last one written


def test_l1_l2_logged_as_their_own_terms(tmp_path):
    _train(tmp_path, "reg", **{"train.l1": 1e-5, "train.l2": 1e-4})
    steps = [r for r in read_jsonl(tmp_path / "reg" / "metrics.jsonl") if r["kind"] == "step"]
    assert steps and all(r["l1"] > 0 and r["l2"] > 0 for r in steps)


def test_weight_decay_shrinks_weights(tmp_path):
    plain = aegrad.load_run(_train(tmp_path, "plain").path).model
    decayed = aegrad.load_run(_train(tmp_path, "wd", **{"train.weight_decay": 2.0}).path).model
    norm = lambda m: sum(float(p.detach().norm() ** 2) for n, p in m.named_parameters() if p.dim() > 1)  # noqa: E731
    assert norm(decayed) < 0.8 * norm(plain)


def test_sparse_denoising_dropout_options_train(tmp_path):
    s = _train(tmp_path, "dae", **{"train.noise": "masking", "train.noise_level": 0.3, "train.latent_l1": 1e-3,
                                   "model.dropout": 0.1, "train.epochs": 6}).summary
    assert math.isfinite(s["test_mse"]) and s["test_mse"] < 0.8 * s["trivial_mse"]


def test_layerwise_pretraining_logs_each_stage(tmp_path):
    _train(tmp_path, "pre", **{"train.pretrain": "layerwise", "train.pretrain_epochs": 3})
    pre = [r for r in read_jsonl(tmp_path / "pre" / "metrics.jsonl") if r["kind"] == "pretrain"]
    stages = sorted({r["stage"] for r in pre})
    assert stages == [0, 1, 2]  # digits-mlp: two hidden widths + the code layer
    for s in stages:
        losses = [r["loss"] for r in pre if r["stage"] == s]
        assert losses[-1] < losses[0]


@pytest.mark.parametrize("schedule", ["constant", "step", "exponential", "cosine", "warmup_cosine", "plateau"])
def test_every_schedule_runs_in_the_loop_and_logs_lr(tmp_path, schedule):
    _train(tmp_path, schedule, **{"train.schedule": schedule, "train.step_size": 10, "train.warmup_steps": 10})
    lrs = [r["lr"] for r in read_jsonl(tmp_path / schedule / "metrics.jsonl") if r["kind"] == "step"]
    assert lrs and all(lr > 0 for lr in lrs)
    if schedule in ("step", "exponential", "cosine"):
        assert lrs[-1] < lrs[0]
    if schedule == "constant":
        assert len(set(lrs)) == 1


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad"])
def test_every_optimizer_lowers_the_loss_in_the_loop(tmp_path, optimizer):
    lr = {"sgd": 0.5, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05}.get(optimizer, 0.003)
    s = _train(tmp_path, optimizer, **{"train.optimizer": optimizer, "train.lr": lr}).summary
    assert s["test_mse"] < s["trivial_mse"], (optimizer, s)


@pytest.mark.parametrize("interval,expected", [(0.0, 3), (1e9, 1)])
def test_epoch_checkpoints_are_throttled_by_time_but_the_last_is_always_written(
    tmp_path, monkeypatch, interval, expected
):
    loop = importlib.import_module("aegrad.train.loop")
    written = []
    original = loop._checkpoint

    def counting(*args, **kwargs):
        written.append(args[0].prog.epoch)  # the fit state, the first argument
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "_checkpoint", counting)
    run = _train(tmp_path, f"i{interval}", **{"train.epochs": 3, "train.checkpoint_interval_s": interval})
    assert len(written) == expected and written[-1] == 3
    state = torch.load(tmp_path / f"i{interval}" / "state.pt", weights_only=True)
    assert state["step"] == run.summary["steps"] and state["progress"]["epoch"] == 3
