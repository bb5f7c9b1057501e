"""`load_dataset`: a registered source's arrays -> seeded split -> subsets -> float32 tensors -> normalised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from aegrad.config import DataConfig

# Imported for their @register_source side effect: the registry is filled before any lookup.
from aegrad.data import builtin as _builtin  # noqa: F401
from aegrad.data import files as _files  # noqa: F401
from aegrad.data.base import SOURCES, SourceData, rng
from aegrad.data.binarize import apply_binarize
from aegrad.data.normalize import Normalizer
from aegrad.errors import UserError

# rng streams (see base.rng): one per purpose, so each choice is independent of the others.
_SPLIT, _LIMIT, _TEST_LIMIT = 1, 2, 3


@dataclass
class Dataset:
    """A dataset held in memory as tensors; the training loop batches it by index."""

    train_x: Tensor  # float32 (N, *sample_shape), already normalised (int64 token ids for data.source=text)
    test_x: Tensor  # float32 (M, *sample_shape), normalised with the training split's statistics
    train_y: Tensor | None  # int64 (N,) labels when the source has them
    test_y: Tensor | None
    sample_shape: tuple[int, ...]  # (C, H, W) for image sources, (D,) otherwise
    is_image: bool
    normalizer: Normalizer  # fitted on train_x in data units; .inverse maps reconstructions back
    name: str  # the source's name

    @property
    def num_classes(self) -> int | None:
        """Number of label values (max label + 1), or None without labels."""
        if self.train_y is None:
            return None
        top = int(self.train_y.max())
        if self.test_y is not None and len(self.test_y):
            top = max(top, int(self.test_y.max()))
        return top + 1

    def __repr__(self) -> str:  # the dataclass default would print every tensor
        labels = f", {self.num_classes} classes" if self.train_y is not None else ""
        return (
            f"Dataset({self.name!r}: {len(self.train_x)} train / {len(self.test_x)} test of "
            f"{self.sample_shape}{labels}, normalize={self.normalizer.kind!r})"
        )


def split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, test) index arrays; each split keeps at least one sample (needs n >= 2)."""
    n_test = min(max(1, round(n * test_fraction)), n - 1)
    order = rng(seed, _SPLIT).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def subset(n: int, limit: int | None, seed: int, stream: int) -> np.ndarray | None:
    """Sorted indices of a seeded random subset of `limit` out of `n`, or None to keep all."""
    if limit is None or limit >= n:
        return None
    return np.sort(rng(seed, stream).choice(n, size=limit, replace=False))


Arrays = tuple[np.ndarray, np.ndarray | None]  # (x, y): samples and their optional labels


def _take(xy: Arrays, idx: np.ndarray | None) -> Arrays:
    x, y = xy
    if idx is None:
        return x, y
    return x[idx], None if y is None else y[idx]


def _to_x(a: np.ndarray) -> Tensor:
    # Always a fresh float32 copy (it is normalised in place next); uint8 pixels keep their 0..255 values.
    return torch.from_numpy(np.array(a, dtype=np.float32, order="C", copy=True))


def _to_y(a: np.ndarray | None) -> Tensor | None:
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))


def _splits(data: SourceData, cfg: DataConfig, seed: int) -> tuple[Arrays, Arrays]:
    """((train_x, train_y), (test_x, test_y)), the source's own split kept when it has one."""
    if data.test_x is not None:
        return (data.x, data.y), (data.test_x, data.test_y)
    train, test = split(len(data.x), cfg.test_fraction, seed)
    return _take((data.x, data.y), train), _take((data.x, data.y), test)


def load_dataset(cfg: DataConfig, seed: int) -> Dataset:
    """Read `cfg.source`, split (seeded, when the source has no split), subset, and normalise.

    The normalisation is fitted on the training split only, so test statistics
    never leak into training. Bad input raises `UserError` with one line.
    """
    try:
        source = SOURCES.get(cfg.source)
    except KeyError as err:
        raise UserError(err.args[0]) from None
    data = source(cfg, seed)
    train, test = _splits(data, cfg, seed)
    # Subset before the float copy: 60k uint8 images cost 47 MB, as float32 188 MB.
    train_x, train_y = _take(train, subset(len(train[0]), cfg.limit, seed, _LIMIT))
    test_x, test_y = _take(test, subset(len(test[0]), cfg.test_limit, seed, _TEST_LIMIT))

    if data.encoded is not None:  # token ids (data.source=text): int64, the source's fitted vocabulary
        tx, vx = _to_y(train_x), _to_y(test_x)
        normalizer = data.encoded
    else:
        tx, vx = _to_x(train_x), _to_x(test_x)
        normalizer = Normalizer(cfg.normalize).fit(tx)
        normalizer.transform_(tx)  # in place: no second full-size copy of the data
        normalizer.transform_(vx)
    dataset = Dataset(
        train_x=tx,
        test_x=vx,
        train_y=_to_y(train_y),
        test_y=_to_y(test_y),
        sample_shape=tuple(tx.shape[1:]),
        is_image=data.is_image,
        normalizer=normalizer,
        name=cfg.source,
    )
    return apply_binarize(dataset, cfg, seed)  # data.binarize (VAE, Bernoulli likelihood)
