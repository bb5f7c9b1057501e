"""Binarised images for a Bernoulli likelihood: ``data.binarize: static | dynamic``.

Each pixel's grey level p in [0, 1] (``data.normalize: minmax``) becomes a draw
b ~ Bernoulli(p). *Static* binarisation draws once for both splits; *dynamic*
binarisation (Salakhutdinov & Murray 2008; Burda et al. 2016 §5) draws the test
split once, seeded, and leaves the training split grey: the variational model
draws a fresh binary image from it for every training batch (models/variational.py),
a data augmentation that keeps the model from overfitting one draw. A binary pixel
is its own Bernoulli mean, so a model that samples its input leaves static data as is.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from aegrad.config import DataConfig
from aegrad.errors import UserError

_STREAM = 4  # generator stream for the binarisation draws, apart from the split/subset streams


def binarize(x: Tensor, generator: torch.Generator) -> Tensor:
    """One Bernoulli draw per pixel of `x` (grey levels in [0, 1]) as float32 0/1."""
    return torch.bernoulli(x.clamp(0.0, 1.0), generator=generator)


def apply_binarize(dataset, cfg: DataConfig, seed: int):
    """`dataset` with the splits ``cfg.binarize`` binarises replaced by one seeded draw (unchanged for none)."""
    if cfg.binarize == "none":
        return dataset
    if cfg.normalize != "minmax":
        raise UserError(
            f"data.binarize={cfg.binarize} draws pixels from grey levels in [0, 1]: set data.normalize=minmax "
            f"(got {cfg.normalize})"
        )
    gen = torch.Generator().manual_seed(seed * 8 + _STREAM)
    test_x = binarize(dataset.test_x, gen)
    train_x = binarize(dataset.train_x, gen) if cfg.binarize == "static" else dataset.train_x
    return replace(dataset, train_x=train_x, test_x=test_x)
