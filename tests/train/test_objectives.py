"""Objectives: named terms against plain torch, logged per step and epoch; BCE selected in config."""

from __future__ import annotations

import typing

import pytest
import torch
import torch.nn.functional as F

import aegrad
from aegrad.config import TrainConfig
from aegrad.run import read_jsonl
from aegrad.objectives import BCE, MSE, LatentL1, create_objective, list_objectives


def _cfg(**over):
    base = {"train.epochs": 2, "data.limit": 400, "train.log_every": 2}
    base.update(over)
    return aegrad.load_config(preset="digits-mlp", overrides=base)


def test_config_choices_equal_the_registry():
    choices = typing.get_args(TrainConfig.model_fields["objective"].annotation)
    assert sorted(c for c in choices if c != "auto") == list_objectives()


def test_terms_equal_their_formulas():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(6, 10, generator=gen)
    x_hat = torch.rand(6, 10, generator=gen).clamp(0.01, 0.99)
    z = torch.randn(6, 3, generator=gen)
    out = {"x_hat": x_hat, "z": z}
    mse = MSE()(x, out)
    assert list(mse) == ["loss", "mse"] and float(mse["loss"]) == pytest.approx(float(((x_hat - x) ** 2).mean()))
    bce = BCE()(x, out)
    by_hand = -(x * x_hat.log() + (1 - x) * (1 - x_hat).log()).mean()
    assert list(bce)[0] == "loss" and float(bce["bce"]) == pytest.approx(float(by_hand), rel=1e-6)
    assert float(bce["mse"]) == pytest.approx(float(mse["mse"]))
    sparse = LatentL1(MSE(), 0.5)(x, out)
    assert float(sparse["latent_l1"]) == pytest.approx(0.5 * float(z.abs().sum()) / 6, rel=1e-6)
    assert float(sparse["loss"]) == pytest.approx(float(mse["mse"] + sparse["latent_l1"]), rel=1e-6)


def test_auto_takes_the_model_familys_objective():
    cfg = _cfg()
    model = aegrad.create_model(cfg.model, (8, 8))
    assert isinstance(create_objective(cfg, model), MSE)
    model.objective = "bce"  # a family that declares another objective gets it
    assert isinstance(create_objective(cfg, model), BCE)
    assert isinstance(create_objective(aegrad.with_overrides(cfg, {"train.latent_l1": 0.1}), model), LatentL1)


def test_every_term_is_logged_per_step_and_epoch(tmp_path):
    run = aegrad.train(_cfg(**{"train.objective": "bce"}), out=tmp_path / "r", report=False)
    records = read_jsonl(tmp_path / "r" / "metrics.jsonl")
    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert steps and all({"loss", "bce", "mse"} <= r.keys() for r in steps)
    assert all(r["loss"] == pytest.approx(r["bce"]) and r["mse"] < r["bce"] for r in steps)
    e = epochs[-1]
    assert {"train_loss", "train_bce", "train_mse", "test_loss", "test_bce", "test_mse"} <= e.keys()
    assert e["test_loss"] == pytest.approx(e["test_bce"])
    assert run.summary["test_bce"] == pytest.approx(e["test_bce"])
    # the test terms against a recomputation from the saved model
    cfg = run.config
    data = aegrad.load_dataset(cfg.data, cfg.seed)
    model = aegrad.load_run(run.path).model.eval()
    with torch.no_grad():
        x_hat = model(data.test_x)["x_hat"]
    assert e["test_bce"] == pytest.approx(float(F.binary_cross_entropy(x_hat, data.test_x)), rel=1e-5)


def test_bce_trains_and_refuses_targets_outside_0_1(tmp_path):
    s = aegrad.train(_cfg(**{"train.objective": "bce", "train.epochs": 6}), out=tmp_path / "r", report=False).summary
    assert s["test_mse"] < 0.6 * s["trivial_mse"]
    with pytest.raises(aegrad.UserError, match="model.output=sigmoid"):
        aegrad.train(_cfg(**{"train.objective": "bce", "model.output": "identity"}), out=tmp_path / "x", report=False)
    assert not (tmp_path / "x").exists()  # refused before the run folder is made
