"""What users would pick instead of an autoencoder, as detectors with scikit-learn's ``score_samples``.

One registered factory per baseline, ``(latent, seed) -> detector``; each
detector's ``score_samples`` is larger for more normal rows, like
``AutoencoderOutlierDetector``'s. PyOD's AutoEncoder is listed only when pyod
imports (the ``bench`` extra).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.utils.validation import check_is_fitted, validate_data

from aegrad.registry import Registry

Factory = Callable[[int, int], Any]
BASELINES: Registry[Factory] = Registry("anomaly baseline")
register_baseline = BASELINES.register


class PCAReconstruction(BaseEstimator):
    """Minus the squared error of a rank-`n_components` PCA reconstruction, per feature (linear autoencoder)."""

    def __init__(self, n_components: int = 8, random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y=None):  # noqa: N803
        X = validate_data(self, X, dtype=np.float64)
        k = min(self.n_components, *X.shape)
        self.pca_ = PCA(n_components=k, random_state=self.random_state).fit(X)
        return self

    def score_samples(self, X):  # noqa: N803
        check_is_fitted(self, "pca_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        x_hat = self.pca_.inverse_transform(self.pca_.transform(X))
        return -np.square(X - x_hat).mean(1)


@register_baseline("pca_reconstruction")
def _pca(latent: int, seed: int) -> PCAReconstruction:
    return PCAReconstruction(n_components=latent, random_state=seed)


@register_baseline("isolation_forest")
def _isolation_forest(latent: int, seed: int) -> IsolationForest:
    return IsolationForest(random_state=seed)


class PyODScores:
    """PyOD's detector behind ``score_samples`` (PyOD's ``decision_function`` is larger = more anomalous)."""

    def __init__(self, detector: Any) -> None:
        self.detector = detector

    def fit(self, X, y=None) -> PyODScores:  # noqa: N803
        self.detector.fit(X)
        return self

    def score_samples(self, X) -> np.ndarray:  # noqa: N803
        return -np.asarray(self.detector.decision_function(X), dtype=np.float64)


def pyod_available() -> bool:
    try:
        import pyod.models.auto_encoder  # noqa: F401
    except ImportError:
        return False
    return True


@register_baseline("pyod_autoencoder")
def _pyod(latent: int, seed: int) -> PyODScores:
    """PyOD's AutoEncoder with its defaults (hidden [64, 32], batch norm, dropout 0.2, 10 epochs)."""
    from pyod.models.auto_encoder import AutoEncoder

    return PyODScores(AutoEncoder(random_state=seed, verbose=0))


def list_baselines() -> list[str]:
    """The baselines that can run here (pyod_autoencoder only when pyod imports)."""
    return [n for n in BASELINES.names() if n != "pyod_autoencoder" or pyod_available()]


def create_baseline(name: str, latent: int, seed: int) -> Any:
    return BASELINES.get(name)(latent, seed)
