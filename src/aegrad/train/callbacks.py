"""The loop's few typed hooks. Subclass `Callback` and override what you need.

The CLI's progress bar is one; the gradient monitor, the clipper and the NaN
guard are others (train/hooks.py), and a model family's measurements at
evaluation (the seq family's time-decay probe) another. Hooks receive plain
values, or for the two step hooks the step's ``StepContext`` (its terms, the
parameters, the gradient norms), never the loop's internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn


@dataclass
class StepContext:
    """One optimizer step as the hooks see it (device tensors; reading them is a host sync)."""

    step: int  # optimizer steps completed before this one
    epoch: int  # epochs completed
    params: list[Tensor]  # the trained parameters, model.parameters() order
    terms: dict[str, Tensor]  # the objective's terms, summed over the step's micro-batches ("loss" first)
    grad_norms: Tensor | None = None  # float32 L2 norm of each parameter's .grad, when measured
    grad_norm: Tensor | None = None  # global L2 norm before clipping (set by the clipper)
    clipped: Tensor | None = None  # 1.0 if a clip changed the gradients (set by the clipper)
    skip: bool = False  # set by a hook: no update this step
    stop: str | None = None  # set by a hook: the run stops, for this reason

    @property
    def loss(self) -> Tensor:
        return self.terms["loss"]


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

    def on_eval_batch(self, model: nn.Module, x: Tensor, terms: dict[str, Tensor]) -> None:
        """`model` (eval mode, no grad) was scored on the held-out batch `x`, with the objective's `terms` for it.

        A measurement of the model on `x` adds its own terms to `terms`: the evaluation averages them
        over the batches as it does the objective's, and they are logged as ``test_*`` (the epoch
        records, the summary).
        """

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        """An epoch finished and was evaluated; `record` is its metrics line."""

    def on_fit_end(self, summary: dict[str, Any]) -> None:
        """Training finished; `summary` is what summary.json holds."""
