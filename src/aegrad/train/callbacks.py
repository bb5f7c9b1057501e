"""The loop's few typed hooks. Subclass `Callback` and override what you need.

The CLI's progress bar is one; the gradient monitor, the clipper and the NaN
guard are others (train/hooks.py). Hooks receive plain values, or for the two
step hooks the step's ``StepContext`` (its terms, the parameters, the gradient
norms), never the loop's internals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aegrad.train.hooks import StepContext


class Callback:
    def on_fit_start(self, total_steps: int, start_step: int) -> None:
        """Training is about to start (or resume at `start_step`)."""

    def on_after_backward(self, ctx: StepContext) -> None:
        """Gradients are final (accumulated, DDP-averaged), not yet clipped; the update has not happened."""

    def on_before_update(self, ctx: StepContext) -> None:
        """Gradients are clipped; set ``ctx.skip`` to skip this update or ``ctx.stop`` to end the run."""

    def on_step_end(self, step: int, epoch: int) -> None:
        """An optimizer step finished (no host sync has happened for it)."""

    def on_log(self, record: dict[str, Any]) -> None:
        """A record was written to metrics.jsonl (step, epoch or pretrain)."""

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        """An epoch finished and was evaluated; `record` is its metrics line."""

    def on_fit_end(self, summary: dict[str, Any]) -> None:
        """Training finished; `summary` is what summary.json holds."""
