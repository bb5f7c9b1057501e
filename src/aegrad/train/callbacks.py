"""The loop's few typed hooks. Subclass `Callback` and override what you need.

The CLI's progress bar is one; a study could be another. Hooks receive plain
values, never the loop's internals.
"""

from __future__ import annotations

from typing import Any


class Callback:
    def on_fit_start(self, total_steps: int, start_step: int) -> None:
        """Training is about to start (or resume at `start_step`)."""

    def on_step_end(self, step: int, epoch: int) -> None:
        """An optimizer step finished (no host sync has happened for it)."""

    def on_log(self, record: dict[str, Any]) -> None:
        """A record was written to metrics.jsonl (step, epoch or pretrain)."""

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        """An epoch finished and was evaluated; `record` is its metrics line."""

    def on_fit_end(self, summary: dict[str, Any]) -> None:
        """Training finished; `summary` is what summary.json holds."""
