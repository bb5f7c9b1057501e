"""Evaluation protocols for anomaly detectors: AUROC/AUPRC, and leave-one-class-out on labelled data.

Leave-one-class-out (the usual protocol for Fashion-MNIST/MNIST anomaly
detection with nine normal classes): for each class c, the detector is fitted
on the training rows of the other classes and scores the whole test split;
test rows of class c are the anomalies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

Detector = Any  # anything with fit(X) and score_samples(X), larger = more normal


def auroc_auprc(normality: np.ndarray, is_anomaly: np.ndarray) -> dict[str, float]:
    """AUROC and AUPRC (average precision) of anomaly scores -normality against 0/1 anomaly labels."""
    anomaly_score = -np.asarray(normality, dtype=np.float64)
    return {
        "auroc": float(roc_auc_score(is_anomaly, anomaly_score)),
        "auprc": float(average_precision_score(is_anomaly, anomaly_score)),
    }


def evaluate_split(
    make: Callable[[], Detector], x_train: np.ndarray, x_test: np.ndarray, is_anomaly: np.ndarray
) -> dict[str, float]:
    """Fit a fresh detector on `x_train`, score `x_test`, return AUROC/AUPRC."""
    detector = make().fit(x_train)
    return auroc_auprc(detector.score_samples(x_test), is_anomaly)


def leave_one_class_out(
    make: Callable[[], Detector],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    classes: Sequence[int] | None = None,
    on_class: Callable[[int, dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Per anomaly class c: fit on train rows with y != c, score all test rows (anomaly: y == c).

    Returns ``{"per_class": {c: {"auroc", "auprc"}}, "mean_auroc", "mean_auprc"}``.
    """
    per_class: dict[int, dict[str, float]] = {}
    for c in classes if classes is not None else np.unique(y_train).tolist():
        per_class[int(c)] = result = evaluate_split(make, x_train[y_train != c], x_test, y_test == c)
        if on_class is not None:
            on_class(int(c), result)
    return {
        "per_class": per_class,
        "mean_auroc": float(np.mean([r["auroc"] for r in per_class.values()])),
        "mean_auprc": float(np.mean([r["auprc"] for r in per_class.values()])),
    }
