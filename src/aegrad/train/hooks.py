"""What runs between backward and the update: the monitor, the clipper and the NaN guard, as hooks.

After a step's last micro-batch the gradients are final (accumulated, DDP-averaged).
The loop then builds a ``StepContext`` and calls, in order,

* ``on_after_backward(ctx)`` — the gradient monitor, then users' callbacks: they see
  the gradients as backward left them;
* ``on_before_update(ctx)`` — the clipper (which also measures the global norm), the
  NaN guard (which may skip the update, roll back, or stop the run), then users'
  callbacks.

A hook reads the context and may set ``ctx.skip`` (no update this step) or
``ctx.stop`` (end the run, with the reason). Each hook is a ``Callback`` and the
context a ``StepContext`` (both train/callbacks.py), so a user's callback attaches
the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from aegrad.diagnose import GradientMonitor
from aegrad.train.callbacks import Callback, StepContext
from aegrad.train.clipping import Clipper
from aegrad.train.guard import NanGuard, Verdict
from aegrad.train.schedules import Schedule


class MonitorHook(Callback):
    """Feeds the gradient monitor one step: the loss and the per-layer gradient norms.

    When the step did not measure the norms and no clip forbids sharing them (`share`: the
    clipper then measures in float64 itself), one foreach pass measures every parameter's norm
    here, and the clipper reuses it for the logged global norm.
    """

    def __init__(self, monitor: GradientMonitor, params: list[Tensor], share: bool) -> None:
        self.monitor, self.share = monitor, share
        position = {id(p): i for i, p in enumerate(params)}
        where = [position.get(id(w)) for w in monitor.weights]
        device = params[0].device if params else None
        self.index = None if None in where else torch.tensor(where, dtype=torch.long, device=device)
        self.share = share and self.index is not None

    def on_after_backward(self, ctx: StepContext) -> None:
        if ctx.grad_norms is None and self.share and all(p.grad is not None for p in ctx.params):
            ctx.grad_norms = torch.stack(torch._foreach_norm([p.grad for p in ctx.params], 2))
        norms = ctx.grad_norms if self.share else None
        self.monitor.step(ctx.loss, None if norms is None else norms[self.index])


class ClipHook(Callback):
    """Clips per ``train.clip_*`` and records the global norm before clipping."""

    def __init__(self, clipper: Clipper) -> None:
        self.clipper = clipper

    def on_before_update(self, ctx: StepContext) -> None:
        res = self.clipper(ctx.params, ctx.grad_norms)
        ctx.grad_norm, ctx.clipped = res["grad_norm"], res["clipped"]


class GuardHook(Callback):
    """The NaN guard: a non-finite loss or gradient norm skips the update; persistent ones roll back.

    Every skip and rollback is logged as it happens (``emit``), so a run that stops
    in its first epoch still shows what happened in metrics.jsonl and the loss plot.
    """

    def __init__(
        self,
        guard: NanGuard,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        schedule: Schedule,
        emit: Callable[[dict[str, Any]], None],
    ) -> None:
        self.guard, self.model, self.optimizer, self.schedule, self.emit = guard, model, optimizer, schedule, emit

    def on_before_update(self, ctx: StepContext) -> None:
        assert ctx.grad_norm is not None, "the clip hook measures the norm first"
        # one read of two scalars: free on CPU, a sync on CUDA
        loss, norm = torch.stack((ctx.loss.float(), ctx.grad_norm)).tolist()
        verdict = self.guard.record(math.isfinite(loss) and math.isfinite(norm))
        if verdict is Verdict.OK:
            return
        ctx.skip = True
        record = {"kind": verdict.value, "epoch": ctx.epoch, "step": ctx.step, "loss": _num(loss),
                  "grad_norm": _num(norm), "skipped_steps": self.guard.skipped, "rollbacks": self.guard.rollbacks}
        if verdict is Verdict.ROLLBACK:
            if not self.guard.rollback(self.model, self.optimizer):
                ctx.stop = f"stopped: non-finite loss or gradients persisted after {self.guard.rollbacks} rollbacks"
                record["kind"], record["reason"] = Verdict.STOP.value, ctx.stop
            else:
                self.schedule.scale(0.5)  # the halving lives in the schedule's state, so it survives resume
                record["lr"] = self.optimizer.param_groups[0]["lr"]
        self.emit(record)


def _num(x: float) -> float | None:
    """A float for JSON: non-finite values as None (JSON has no NaN)."""
    return x if math.isfinite(x) else None
