"""What a data source returns, and the registry that names the sources.

A source only reads: it returns arrays in data units (any real dtype) shaped
``(N, *sample_shape)``. Splitting, subsetting, float conversion and
normalisation happen once, in ``dataset.load_dataset``, for every source alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aegrad.config import DataConfig
from aegrad.data.normalize import Normalizer
from aegrad.errors import UserError
from aegrad.registry import Registry


@dataclass
class SourceData:
    """Arrays as a source read them; `test_*` are set only when the source ships its own split."""

    x: np.ndarray  # (N, *sample_shape), the training split when test_x is set, else everything
    y: np.ndarray | None  # (N,) integer labels, or None
    is_image: bool  # x is (N, C, H, W)
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None
    # A source that encodes its samples itself (text: token ids under a vocabulary fitted on its own
    # training split) gives that fitted transform here: the ids stay int64 and are never normalised.
    encoded: Normalizer | None = None


SourceFn = Callable[[DataConfig, int], SourceData]
SOURCES: Registry[SourceFn] = Registry("data source")


def register_source(name: str) -> Callable[[SourceFn], SourceFn]:
    """Decorator: `@register_source("name")` on a `(cfg, seed) -> SourceData` function."""
    return SOURCES.register(name)


def list_sources() -> list[str]:
    """The names `data.source` accepts."""
    return SOURCES.names()


def rng(seed: int, stream: int) -> np.random.Generator:
    """An independent generator per (seed, purpose), so e.g. changing `limit` never changes the split."""
    return np.random.default_rng([seed % 2**63, stream])


def require_path(cfg: DataConfig, what: str) -> Path:
    """`cfg.path` as a Path, or a UserError saying the source needs one."""
    if cfg.path is None:
        raise UserError(f"data.source={cfg.source} needs data.path ({what})")
    return Path(cfg.path).expanduser()


def check_samples(x: np.ndarray, where: str) -> None:
    """Reject what cannot train: non-numeric values, NaN/inf, fewer than 2 samples."""
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating) or x.dtype == np.bool_):
        raise UserError(f"{where}: values must be real numbers, got dtype {x.dtype}")
    if x.shape[0] < 2:
        raise UserError(f"{where}: need at least 2 samples to split into train and test, got {x.shape[0]}")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = int(np.argwhere(~np.isfinite(x))[0][0])
        raise UserError(f"{where}: values must be finite; sample {bad} holds NaN or inf")
