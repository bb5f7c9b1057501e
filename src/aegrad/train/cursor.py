"""Where an epoch stands: its sample order and the optimizer steps already taken in it.

An epoch's order is drawn from the run's generator when the epoch starts; a mid-epoch checkpoint
(``train.checkpoint_every``) stores the order and the steps done, so a resumed run continues the
same epoch with the same batches instead of drawing a new order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from aegrad.config import TrainConfig
from aegrad.train import distributed as dist


@dataclass(frozen=True)
class Cursor:
    """A position in an epoch."""

    perm: Tensor  # the epoch's sample order: indices into the training split, this rank's share
    done: int = 0  # step groups (optimizer steps, each `train.accumulate` micro-batches) already taken


def epoch_order(t: TrainConfig, n: int, gen: torch.Generator, device: torch.device) -> Cursor:
    """A new epoch over `n` training samples: a permutation drawn from `gen` (CPU) when shuffling."""
    perm = torch.randperm(n, generator=gen) if t.shuffle else torch.arange(n)
    perm = dist.shard(perm)
    if t.drop_last:
        perm = perm[: len(perm) - len(perm) % t.batch_size]
    return Cursor(perm.to(device), 0)


def micro_batches(perm: Tensor, batch: int, accumulate: int) -> Iterator[list[Tensor]]:
    """Yield groups of `accumulate` index tensors, one group per optimizer step; the last group may be short."""
    idx = list(perm.split(batch))
    for i in range(0, len(idx), accumulate):
        yield idx[i : i + accumulate]


def steps_per_epoch(t: TrainConfig, n: int) -> int:
    """Optimizer steps in an epoch over `n` training samples (this rank's share of them)."""
    per_rank = n // dist.world_size()
    batches = per_rank // t.batch_size if t.drop_last else math.ceil(per_rank / t.batch_size)
    return math.ceil(batches / t.accumulate)
