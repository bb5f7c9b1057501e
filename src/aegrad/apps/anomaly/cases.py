"""Anomaly-detection cases on real data, each a (train, test, is_anomaly) split, and a side-by-side comparison.

- ``image_classes``: labelled images (digits, fashion-mnist, mnist) as flat
  rows in [0, 1], for the leave-one-class-out protocol (``protocol``).
- ``breast_cancer`` / ``csv_table``: tabular rows with labels; ``novelty_split``
  keeps a stratified seeded test share and fits on the normal training rows
  only (semi-supervised novelty detection: benign tumours as normal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from aegrad.apps.anomaly.protocol import Detector, evaluate_split
from aegrad.config import DataConfig
from aegrad.data import load_dataset
from aegrad.data.base import SOURCES
from aegrad.errors import UserError


@dataclass
class Table:
    """Rows and integer labels, with the label value that marks normal rows."""

    x: np.ndarray
    y: np.ndarray
    normal: int
    name: str


@dataclass
class Split:
    """A novelty-detection split: fit on `train` (normal rows only), score `test` against `is_anomaly`."""

    train: np.ndarray
    test: np.ndarray
    is_anomaly: np.ndarray


def breast_cancer() -> Table:
    """scikit-learn's Wisconsin breast cancer: 569 rows x 30 features; benign (label 1) is normal."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return Table(data.data, data.target.astype(np.int64), normal=1, name="breast-cancer")


def csv_table(path: str, label_column: int, normal: int) -> Table:
    """A user's CSV read by aegrad's csv source, the label split off from `label_column`."""
    data = SOURCES.get("csv")(DataConfig(source="csv", path=path, label_column=label_column), 0)
    if not (data.y == normal).any():
        raise UserError(f"{path}: no row has label {normal} in column {label_column}; "
                        f"labels present: {np.unique(data.y).tolist()}")
    return Table(data.x.astype(np.float64), data.y, normal=normal, name=str(path))


def novelty_split(table: Table, test_fraction: float = 0.3, seed: int = 0) -> Split:
    """Stratified seeded split; the detector sees only the normal rows of the training part."""
    x_tr, x_te, y_tr, y_te = train_test_split(
        table.x, table.y, test_size=test_fraction, random_state=seed, stratify=table.y
    )
    return Split(x_tr[y_tr == table.normal], x_te, (y_te != table.normal).astype(np.int64))


def image_classes(
    source: str, limit: int | None, test_limit: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train_x, train_y, test_x, test_y): a labelled image source as flat rows scaled to [0, 1] (minmax)."""
    cfg = DataConfig(source=source, normalize="minmax", limit=limit, test_limit=test_limit)
    data = load_dataset(cfg, seed)
    if data.train_y is None or data.test_y is None:
        raise UserError(f"data.source={source} has no labels; leave-one-class-out needs labelled images")
    flat = [t.flatten(1).double().numpy() for t in (data.train_x, data.test_x)]
    return flat[0], data.train_y.numpy(), flat[1], data.test_y.numpy()


def compare(detectors: Mapping[str, Callable[[], Detector]], split: Split) -> dict[str, dict[str, float]]:
    """AUROC/AUPRC of each detector on one split (each fitted fresh on split.train)."""
    return {name: evaluate_split(make, split.train, split.test, split.is_anomaly) for name, make in detectors.items()}


def summary(split: Split) -> dict[str, Any]:
    return {
        "train_normal_rows": int(len(split.train)),
        "test_rows": int(len(split.test)),
        "test_anomalies": int(split.is_anomaly.sum()),
        "features": int(split.train.shape[1]),
    }
