"""Steps: one micro-batch's loss terms and gradients, behind one interface.

A step is called with the indices of a micro-batch in the training tensor and
that micro-batch's share of the optimizer step; it adds ``share x d loss`` to
every parameter's ``.grad`` (as ``(share * loss).backward()`` does) and returns
the objective's terms, detached. Two implementations:

* ``AutogradStep`` — any model, any objective: forward, objective, backward.
* ``DenseStep`` (train/dense.py) — plain dense MLPs with the MSE objective on the
  CPU, written out without autograd; it hands a micro-batch to its autograd step
  when a forward hook it cannot honour is attached, or when ``options.dense`` is off.

``create_step`` (train/setup.py) picks one when the run is built; the loop never
chooses per batch.
``StepOptions`` holds the fast path's switches, so a benchmark can turn each off
(``benchmarks/ablation.py``) without reaching into internals.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from aegrad.objectives import Objective, Terms
from aegrad.train import distributed as dist


@dataclass
class StepOptions:
    """The fast path's switches; all on by default. Mutable: a change applies from the next micro-batch."""

    dense: bool = True  # the dense step where it applies (off: autograd for every step)
    onednn: bool = True  # oneDNN's fused linear for the dense step's large products (off: MKL's addmm / mm)
    reuse_buffers: bool = True  # the dense step's activations and gradients in buffers allocated once
    cache_norms: bool = True  # the dense step's gradient norms taken in cache (off: a separate foreach pass)
    fused_adam: bool = True  # Adam's fused kernel called directly (off: optimizer.step())


Corrupt = Callable[[Tensor], Tensor]  # the input corruption (identity, or the denoising noise)


class AutogradStep:
    """Forward, the objective, ``(share * loss).backward()``: any model, any objective.

    `forward` is the (possibly DDP-wrapped, possibly compiled) model; gradients of
    all but the last micro-batch of a step are kept local under DDP (``no_sync``).
    """

    def __init__(
        self,
        net: nn.Module,
        forward: Callable[[Tensor], dict[str, Tensor]],
        objective: Objective,
        train_x: Tensor,
        corrupt: Corrupt,
        amp: AbstractContextManager,
    ) -> None:
        self.net, self.forward, self.objective = net, forward, objective
        self.train_x, self.corrupt, self.amp = train_x, corrupt, amp

    # the squared norm of each parameter's .grad (model.parameters() order) measured by the last call,
    # or None; this step never measures them (the loop's monitor hook does, when it needs them)
    last_sq_norms: Tensor | None = None

    def __call__(self, index: Tensor, share: float, last: bool) -> Terms:
        x = self.train_x[index]
        with dist.no_sync(self.net, last=last), self.amp:
            terms = self.objective(x, self.forward(self.corrupt(x)))
            (terms["loss"] * share).backward()
        return {k: v.detach() for k, v in terms.items()}


def terms_vector(terms: Terms) -> Tensor:
    """The terms' values stacked in their order (``loss`` first): one op to sum or scale them all."""
    return torch.stack([v.float() for v in terms.values()])
