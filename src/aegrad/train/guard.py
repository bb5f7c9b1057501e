"""The NaN guard: a non-finite loss or gradient never reaches the weights.

A bad step is skipped and counted. After `nan_patience` consecutive bad steps
the loop rolls back to the last good snapshot and halves the learning rate;
after `max_rollbacks` rollbacks it stops with a reason.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import torch


class Verdict(str, Enum):
    """What the guard decides for a step (the value is what metrics.jsonl records as the record's kind)."""

    OK = "ok"  # finite: update
    SKIP = "skip"  # non-finite: no update this step
    ROLLBACK = "rollback"  # non-finite `nan_patience` times in a row: restore the snapshot, halve the lr
    STOP = "stop"  # a rollback was due but the budget is spent: the run stops


@dataclass
class NanGuard:
    nan_patience: int
    max_rollbacks: int
    skipped: int = 0  # bad steps skipped in the whole run
    consecutive: int = 0  # bad steps in a row right now
    rollbacks: int = 0
    _snapshot: dict[str, Any] | None = field(default=None, repr=False)

    def snapshot(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Remember a known-good state (taken at the start and after each finite epoch)."""
        self._snapshot = {
            "model": copy.deepcopy(model.state_dict()),
            "optimizer": copy.deepcopy(optimizer.state_dict()),
        }

    def record(self, finite: bool) -> Verdict:
        """Count one step; OK, SKIP or ROLLBACK (the caller then calls `rollback`)."""
        if finite:
            self.consecutive = 0
            return Verdict.OK
        self.skipped += 1
        self.consecutive += 1
        return Verdict.ROLLBACK if self.consecutive >= self.nan_patience else Verdict.SKIP

    def rollback(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> bool:
        """Restore the snapshot; False when the rollback budget is spent (stop). The caller halves the lr."""
        self.consecutive = 0
        if self._snapshot is not None:
            # Restore even when the budget is spent: the run then stops with its last good weights.
            model.load_state_dict(self._snapshot["model"])
            optimizer.load_state_dict(self._snapshot["optimizer"])
        if self.rollbacks >= self.max_rollbacks or self._snapshot is None:
            return False
        self.rollbacks += 1
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped, "rollbacks": self.rollbacks}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.skipped = int(state["skipped"])
        self.rollbacks = int(state["rollbacks"])
