"""What the loop writes about training: metrics.jsonl's step and epoch records, and summary.json.

Each is a plain dictionary built from the trainer's state (train/state.py) and the values the loop
measured; reading the running sums here is the host sync of their window.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

from aegrad.data import Dataset
from aegrad.train.callbacks import StepContext
from aegrad.train.guard import NanGuard
from aegrad.train.scoring import psnr
from aegrad.train.state import Progress, TrainState


def _named(names: Sequence[str], values: Sequence[float], prefix: str, skip: str = "loss") -> dict[str, float]:
    return {f"{prefix}{k}": v for k, v in zip(names, values) if k != skip}


def step_record(st: TrainState, ctx: StepContext, optimizer: torch.optim.Optimizer, guard: NanGuard) -> dict[str, Any]:
    """A step line: the log window's mean terms, the last step's norm, clip and weight penalties."""
    means = st.window.means(st.names)
    rec: dict[str, Any] = {
        "kind": "step",
        "epoch": st.prog.epoch,
        "step": st.prog.step,
        "loss": means[0],
        **_named(st.names, means, ""),
        "lr": optimizer.param_groups[0]["lr"],
        "grad_norm": float(ctx.grad_norm),
        "clipped": float(ctx.clipped),
        "skipped_steps": guard.skipped,
    }
    for k, v in st.pen.items():
        rec[k] = float(v.detach())
    return rec


def epoch_record(
    st: TrainState, test: dict[str, float], optimizer: torch.optim.Optimizer, guard: NanGuard, wall0: float
) -> dict[str, Any]:
    """An epoch line: the epoch's mean training terms and the test split's."""
    sums = st.epoch_sums
    train = [float(v) / max(1, sums.steps) for v in sums.total.tolist()] if sums.total is not None else []
    return {
        "kind": "epoch",
        "epoch": st.prog.epoch,
        "step": st.prog.step,
        "train_loss": train[0] if train else 0.0,
        **_named(st.names, train, "train_"),
        "test_mse": test["mse"],
        **{f"test_{k}": v for k, v in test.items() if k != "mse"},
        "lr": optimizer.param_groups[0]["lr"],
        "clip_fraction": float(sums.clipped) / max(1, sums.steps),
        "skipped_steps": guard.skipped,
        "rollbacks": guard.rollbacks,
        "wall_s": time.perf_counter() - wall0,
    }


def summary_record(
    prog: Progress,
    test: dict[str, float],
    trivial: float,
    data: Dataset,
    findings: dict[str, Any],
    guard: NanGuard,
    stop_reason: str,
    wall0: float,
) -> dict[str, Any]:
    """summary.json: the final test scores against the trivial (mean) reconstruction's, speed, and how it ended."""
    return {
        "test_mse": test["mse"],
        "trivial_mse": trivial,
        "test_over_trivial": test["mse"] / trivial if trivial > 0 else None,
        "psnr": psnr(test["mse"], data),
        **{f"test_{k}": v for k, v in test.items() if k != "mse"},
        "epochs": prog.epoch,
        "steps": prog.step,
        "samples_per_s": prog.train_samples / prog.train_seconds if prog.train_seconds > 0 else None,
        "train_s": prog.train_seconds,
        "wall_s": time.perf_counter() - wall0,
        "findings": len(findings["findings"]),
        "healthy": findings["healthy"],
        "skipped_steps": guard.skipped,
        "rollbacks": guard.rollbacks,
        "stop_reason": stop_reason,
        "train_samples": len(data.train_x),
        "test_samples": len(data.test_x),
    }
