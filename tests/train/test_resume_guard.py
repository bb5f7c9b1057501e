"""Exact resume, the NaN guard, early stopping, and accumulation inside the real loop."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import aegrad
from aegrad.run import read_jsonl
from conftest import run_cli


def _cfg(**over):
    base = {"train.epochs": 4, "train.log_every": 5}
    base.update(over)
    return aegrad.load_config(preset="digits-mlp", overrides=base)


@pytest.mark.parametrize("extra", [{}, {"train.optimizer": "nesterov", "train.lr": 0.05, "train.schedule": "step",
                                       "train.step_size": 20,
                                       "train.noise": "gaussian", "train.clip_norm": 1.0}])
def test_resume_equals_straight_run(tmp_path, extra):
    straight = aegrad.train(_cfg(**extra), out=tmp_path / "s", report=False).summary
    aegrad.train(_cfg(**{**extra, "train.epochs": 2}), out=tmp_path / "r", report=False)
    resumed = aegrad.train(_cfg(**extra), resume=tmp_path / "r", report=False).summary
    assert resumed["epochs"] == 4 and resumed["steps"] == straight["steps"]
    assert resumed["test_mse"] == pytest.approx(straight["test_mse"], rel=1e-6, abs=1e-9)
    ms = [r for r in read_jsonl(tmp_path / "s" / "metrics.jsonl") if r["kind"] == "epoch"]
    mr = [r for r in read_jsonl(tmp_path / "r" / "metrics.jsonl") if r["kind"] == "epoch"]
    assert [r["test_mse"] for r in mr] == pytest.approx([r["test_mse"] for r in ms], rel=1e-6)


def test_cli_resume_raises_epochs(tmp_path):
    out = tmp_path / "r"
    assert run_cli("train", "--set", "train.epochs=1", "--out", str(out), "--quiet", "--no-report").returncode == 0
    proc = run_cli("train", "--resume", str(out), "--set", "train.epochs=2", "--quiet", "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "summary.json").read_text())["epochs"] == 2


def test_nan_guard_keeps_weights_finite(tmp_path):
    """SGD at lr 1e3 diverges; the guard skips, rolls back, halves lr, and finally stops — weights finite."""
    cfg = _cfg(**{"train.optimizer": "sgd", "train.lr": 1000.0, "train.epochs": 3, "model.output": "identity",
                  "train.nan_patience": 2, "train.max_rollbacks": 2})
    s = aegrad.train(cfg, out=tmp_path / "r", report=False).summary
    assert s["skipped_steps"] > 0
    assert s["rollbacks"] == 2
    assert s["stop_reason"].startswith("stopped: non-finite")
    weights = load_file(str(tmp_path / "r" / "model.safetensors"))
    assert weights and all(torch.isfinite(w).all() for w in weights.values())


def test_nan_guard_rollback_halves_lr(tmp_path):
    cfg = _cfg(**{"train.optimizer": "sgd", "train.lr": 1000.0, "train.epochs": 1, "model.output": "identity",
                  "train.nan_patience": 1, "train.max_rollbacks": 3, "train.log_every": 1})
    aegrad.train(cfg, out=tmp_path / "r", report=False)
    lrs = sorted({r["lr"] for r in read_jsonl(tmp_path / "r" / "metrics.jsonl") if r["kind"] == "step"}, reverse=True)
    assert lrs[0] <= 1000.0 and all(b == pytest.approx(a / 2) for a, b in zip(lrs, lrs[1:]))


def test_early_stopping(tmp_path):
    """At lr 1e-12 the test loss cannot improve after the first epoch: patience 2 stops at epoch 3."""
    cfg = _cfg(**{"train.epochs": 30, "train.patience": 2, "train.lr": 1e-12, "train.optimizer": "sgd"})
    s = aegrad.train(cfg, out=tmp_path / "r", report=False).summary
    assert s["stop_reason"] == "early stopping: no test improvement for 2 epochs"
    assert s["epochs"] == 3


def test_accumulation_matches_big_batch_in_loop(tmp_path):
    """k micro-batches of b per step == one batch of k*b (same permutation) — the loop's loss scaling."""
    a = aegrad.train(_cfg(**{"train.epochs": 1, "train.batch_size": 16, "train.accumulate": 4,
                             "train.optimizer": "sgd", "train.lr": 0.1}), out=tmp_path / "a", report=False).summary
    b = aegrad.train(_cfg(**{"train.epochs": 1, "train.batch_size": 64, "train.accumulate": 1,
                             "train.optimizer": "sgd", "train.lr": 0.1}), out=tmp_path / "b", report=False).summary
    assert a["steps"] == b["steps"]
    assert a["test_mse"] == pytest.approx(b["test_mse"], rel=1e-5)


class _Kill(aegrad.Callback):
    """Simulates a crash: raises after a given optimizer step."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_end(self, step: int, epoch: int) -> None:
        if step == self.at:
            raise KeyboardInterrupt


def test_resume_from_a_mid_epoch_checkpoint_is_exact(tmp_path):
    over = {"train.epochs": 2, "train.checkpoint_every": 7, "train.noise": "gaussian"}
    straight = aegrad.train(_cfg(**over), out=tmp_path / "s", report=False).summary
    with pytest.raises(KeyboardInterrupt):
        aegrad.train(_cfg(**over), out=tmp_path / "k", report=False, callbacks=[_Kill(10)])
    state = torch.load(tmp_path / "k" / "state.pt", weights_only=True)
    assert state["step"] == 7 and state["epoch_groups_done"] == 7
    resumed = aegrad.train(_cfg(**over), resume=tmp_path / "k", report=False).summary
    assert resumed["steps"] == straight["steps"]
    assert resumed["test_mse"] == pytest.approx(straight["test_mse"], rel=1e-6, abs=1e-9)


def _logged(path):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in read_jsonl(path)]


# digits-mlp: 23 steps an epoch. A checkpoint every 7 steps, killed inside a monitor window; and one on an
# epoch's last step (taken before that epoch's record), killed two steps later.
@pytest.mark.parametrize("every,kill_at", [(7, 16), (23, 25)])
def test_logs_after_a_resume_equal_an_uninterrupted_runs(tmp_path, every, kill_at):
    cfg = _cfg(**{"train.epochs": 2, "train.checkpoint_every": every, "train.log_every": 3, "monitor.sync_every": 10,
                  "train.checkpoint_interval_s": 1e9})
    straight = aegrad.train(cfg, out=tmp_path / "s", report=False)
    with pytest.raises(KeyboardInterrupt):
        aegrad.train(cfg, out=tmp_path / "k", report=False, callbacks=[_Kill(kill_at)])
    resumed = aegrad.train(cfg, resume=tmp_path / "k", report=False)
    assert resumed.summary["test_mse"] == straight.summary["test_mse"]
    for name in ("metrics.jsonl", "gradients.jsonl"):
        assert _logged(tmp_path / "k" / name) == _logged(tmp_path / "s" / name), name
    assert not list((tmp_path / "k").glob(".*.tmp"))
