"""Linear and k-NN probes: how much of the labels an autoencoder's codes carry, next to pixels and PCA.

The usual reading of representation quality (e.g. Alain & Bengio 2016,
"Understanding intermediate layers using linear classifier probes"): a
logistic regression fitted on frozen features of the training split, its
accuracy on the test split. Each feature set is standardised (fitted on the
training split) before the classifier. PCA gets as many components as the
autoencoder has latent units, so codes and PCA compete at equal width.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from aegrad.config import DataConfig
from aegrad.data import load_dataset
from aegrad.errors import UserError
from aegrad.run import load_run


@dataclass
class Features:
    """One feature set: train and test rows (already computed from the same split)."""

    train: np.ndarray
    test: np.ndarray


def linear_probe(f: Features, y_train: np.ndarray, y_test: np.ndarray, max_iter: int = 500) -> float:
    """Test accuracy of a standardised logistic regression fitted on the training features."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    return float(clf.fit(f.train, y_train).score(f.test, y_test))


def knn_probe(f: Features, y_train: np.ndarray, y_test: np.ndarray, neighbors: int = 5) -> float:
    """Test accuracy of k-NN (Euclidean, standardised features)."""
    clf = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=neighbors))
    return float(clf.fit(f.train, y_train).score(f.test, y_test))


def encode(model: torch.nn.Module, x: torch.Tensor, batch: int = 4096) -> np.ndarray:
    """Codes E(x) of a batch of samples, as float64 numpy (encoded in chunks to bound memory)."""
    with torch.no_grad():
        return torch.cat([model.encode(x[i : i + batch]) for i in range(0, len(x), batch)]).double().numpy()


def feature_sets(model: torch.nn.Module, train_x: torch.Tensor, test_x: torch.Tensor, seed: int) -> dict[str, Features]:
    """``latent`` (the model's codes), ``pixels`` (raw, flattened) and ``pca`` (as many components as latent units)."""
    latent = Features(encode(model, train_x), encode(model, test_x))
    raw = Features(train_x.flatten(1).double().numpy(), test_x.flatten(1).double().numpy())
    pca = PCA(n_components=min(latent.train.shape[1], *raw.train.shape), random_state=seed).fit(raw.train)
    return {
        "latent": latent,
        "pixels": raw,
        "pca": Features(pca.transform(raw.train), pca.transform(raw.test)),
    }


def probe_run(
    run_dir: str | Path, limit: int | None = None, test_limit: int | None = None, neighbors: int = 5
) -> dict[str, Any]:
    """Linear and k-NN probe accuracies of a run's codes, raw pixels and PCA, on the run's own data.

    `limit` / `test_limit` subset the training / test splits (seeded, as
    ``data.limit`` does) to bound the classifiers' cost.
    """
    run = load_run(run_dir)
    cfg = run.config
    data_cfg: DataConfig = cfg.data.model_copy(
        update={"limit": limit or cfg.data.limit, "test_limit": test_limit or cfg.data.test_limit}
    )
    data = load_dataset(data_cfg, cfg.seed)
    if data.train_y is None or data.test_y is None:
        raise UserError(f"data.source={cfg.data.source} has no labels; probe needs a labelled source "
                        f"(digits, fashion-mnist, mnist, or npy/csv with labels)")
    y_train, y_test = data.train_y.numpy(), data.test_y.numpy()
    sets = feature_sets(run.model, data.train_x, data.test_x, cfg.seed)
    rows = {
        name: {
            "dims": int(f.train.shape[1]),
            "logistic": linear_probe(f, y_train, y_test),
            "knn": knn_probe(f, y_train, y_test, neighbors),
        }
        for name, f in sets.items()
    }
    return {
        "run": str(run.path),
        "data": cfg.data.source,
        "train_samples": len(y_train),
        "test_samples": len(y_test),
        "classes": int(data.num_classes or 0),
        "neighbors": neighbors,
        "chance": float(np.bincount(y_test).max() / len(y_test)),
        "features": rows,
    }
