"""The trainer's state, and what a checkpoint (state.pt) carries of it.

``TrainState`` is everything the loop changes as it trains: the progress counters, the running
sums of the objective's terms, the mid-epoch position to resume from. ``checkpoint_state`` puts
it together with the optimizer's, the schedule's, the guard's and the monitor's state and both
RNG states into the dictionary state.pt holds; ``restore`` reads that dictionary back, so a
resumed run continues exactly where the checkpoint left off (the same draws, the same records).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from aegrad.diagnose import GradientMonitor
from aegrad.train.callbacks import StepContext
from aegrad.train.cursor import Cursor
from aegrad.train.guard import NanGuard
from aegrad.train.schedules import Schedule


@dataclass
class Progress:
    """What a checkpoint must carry besides weights and optimizer state."""

    epoch: int = 0  # completed epochs
    step: int = 0  # completed optimizer steps
    best_test: float = math.inf
    bad_epochs: int = 0  # epochs without improvement (early stopping)
    train_seconds: float = 0.0
    train_samples: int = 0


@dataclass
class Sums:
    """Running sums of the objective's terms over steps (a device vector, ``loss`` first): no host sync."""

    total: Tensor | None = None
    steps: int = 0
    clipped: float | Tensor = 0.0  # steps whose gradients a clip changed

    def add(self, vec: Tensor, clipped: Tensor | None) -> None:
        self.total = vec if self.total is None else self.total + vec
        self.steps += 1
        if clipped is not None:
            self.clipped = self.clipped + clipped

    def state_dict(self) -> dict[str, Any]:
        return {"total": None if self.total is None else self.total.cpu(), "steps": self.steps,
                "clipped": float(self.clipped)}

    @classmethod
    def from_state(cls, state: dict[str, Any], device: torch.device) -> Sums:
        total = state["total"]
        return cls(None if total is None else total.to(device), int(state["steps"]), float(state["clipped"]))

    def means(self, names: Sequence[str]) -> list[float]:
        """Each term's mean over the steps (the host sync happens here)."""
        if self.total is None:
            return [math.nan] * len(names)
        return (self.total / self.steps).tolist()


@dataclass
class TrainState:
    """What the loop changes as it trains; the first five fields are checkpointed."""

    prog: Progress = field(default_factory=Progress)
    names: list[str] = field(default_factory=list)  # the objective's term names, "loss" first (set by the first step)
    epoch_sums: Sums = field(default_factory=Sums)
    window: Sums = field(default_factory=Sums)  # since the last step record
    resume_at: Cursor | None = None  # a mid-epoch checkpoint's position, taken up by the next epoch
    pen: dict[str, Tensor] = field(default_factory=dict)  # the last step's weight penalties
    last_ctx: StepContext | None = None  # the last step that updated the weights
    last_checkpoint: float = 0.0  # perf_counter() of the last epoch-end checkpoint
    grad_records: list[dict[str, Any]] = field(default_factory=list)  # gradients.jsonl: the diagnosis reads them all


def checkpoint_state(
    st: TrainState,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    guard: NanGuard,
    monitor: GradientMonitor | None,
    gen: torch.Generator,
    cursor: Cursor | None = None,
) -> dict[str, Any]:
    """state.pt's dictionary; `cursor` = the epoch's position when the checkpoint is taken mid-epoch.

    Mid-epoch, the epoch's and the log window's running sums go with it: their records then cover every step.
    """
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "guard": guard.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "gen_rng": gen.get_state(),
        "monitor": monitor.state_dict() if monitor is not None else None,
        "progress": st.prog.__dict__.copy(),
        "step": st.prog.step,
        "epoch_perm": cursor.perm.cpu() if cursor is not None else None,
        "epoch_groups_done": cursor.done if cursor is not None else 0,
        "sums": (
            {"names": list(st.names), "epoch": st.epoch_sums.state_dict(), "window": st.window.state_dict()}
            if cursor is not None
            else None
        ),
    }


def restore(
    state: dict[str, Any],
    *,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    guard: NanGuard,
    monitor: GradientMonitor | None,
    gen: torch.Generator,
    device: torch.device,
) -> TrainState:
    """Load checkpoint `state` into the training's parts and the RNGs; the trainer's state it carried.

    `device` is the training split's: the epoch's order and the running sums go there.
    """
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    guard.load_state_dict(state["guard"])
    torch.set_rng_state(state["torch_rng"])
    gen.set_state(state["gen_rng"])
    if monitor is not None and state.get("monitor") is not None:
        monitor.load_state_dict(state["monitor"])
    st = TrainState(prog=Progress(**state["progress"]))
    if state.get("epoch_perm") is not None:  # a mid-epoch checkpoint (train.checkpoint_every)
        st.resume_at = Cursor(state["epoch_perm"].to(device), int(state.get("epoch_groups_done", 0)))
        sums = state.get("sums")
        if sums is not None:
            st.names = list(sums["names"])
            st.epoch_sums = Sums.from_state(sums["epoch"], device)
            st.window = Sums.from_state(sums["window"], device)
    return st
