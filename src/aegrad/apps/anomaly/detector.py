"""``AutoencoderOutlierDetector``: scikit-learn's outlier-detector contract over an aegrad autoencoder.

``score_samples`` follows scikit-learn (larger = more normal): it is minus the
chosen anomaly score (``apps.anomaly.scores``). ``decision_function`` is
``score_samples - offset_``, with ``offset_`` the ``contamination`` quantile of
the training scores, so ``predict`` flags that share of the training rows as
outliers (-1) and the rest as inliers (+1), as ``IsolationForest`` does.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import OutlierMixin

from aegrad.apps.anomaly.scores import SCORES, LatentGaussian, Outputs
from aegrad.apps.probe.estimator import AutoencoderEstimator


class AutoencoderOutlierDetector(OutlierMixin, AutoencoderEstimator):
    """An autoencoder trained on (mostly) normal rows; rows it reconstructs badly are outliers.

    Parameters are those of ``AutoencoderTransformer`` plus ``contamination``
    (the expected share of outliers, in (0, 0.5]) and ``anomaly_score``
    (``reconstruction`` | ``latent`` | ``combined``, see ``apps.anomaly.scores``).
    """

    def __init__(
        self,
        latent: int = 8,
        widths: tuple[int, ...] = (64,),
        activation: str = "relu",
        epochs: int = 50,
        batch_size: int = 64,
        lr: float = 1e-3,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        noise: str = "none",
        noise_level: float = 0.1,
        normalize: str = "zscore",
        random_state: int | None = 0,
        contamination: float = 0.1,
        anomaly_score: str = "reconstruction",
    ) -> None:
        super().__init__(
            latent, widths, activation, epochs, batch_size, lr, optimizer, weight_decay, noise, noise_level,
            normalize, random_state,
        )
        self.contamination = contamination
        self.anomaly_score = anomaly_score

    def fit(self, X, y=None):  # noqa: N803
        """Train on `X` (y is ignored), then set the threshold ``offset_``; returns self."""
        if not 0.0 < self.contamination <= 0.5:
            raise ValueError(f"contamination must be in (0, 0.5], got {self.contamination!r}")
        SCORES.get(self.anomaly_score)  # an unknown score fails before training, listing the valid ones
        super().fit(X)
        x = self._validated(X)
        z = self._encode(x)
        self.latent_ = LatentGaussian.fit(z)
        base = Outputs(x, self._reconstruct(x), z, self.latent_, {})
        self.score_scale_ = {
            name: max(float(SCORES.get(name)(base).median()), 1e-12) for name in ("reconstruction", "latent")
        }
        self.offset_ = float(np.percentile(self._scores(x), 100.0 * self.contamination))
        return self

    def _scores(self, x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            out = self.model_(x)
        outputs = Outputs(x, out["x_hat"], out["z"], self.latent_, self.score_scale_)
        return -SCORES.get(self.anomaly_score)(outputs).numpy()

    def score_samples(self, X):  # noqa: N803
        """Minus the anomaly score of each row: larger is more normal (scikit-learn's convention)."""
        return self._scores(self._validated(X))

    def decision_function(self, X):  # noqa: N803
        """``score_samples - offset_``: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X):  # noqa: N803
        """+1 for inliers, -1 for outliers."""
        return np.where(self.decision_function(X) >= 0, 1, -1)
