"""Classical image denoisers from scikit-image, each ``(noisy (H, W) in [0, 1], sigma) -> (H, W)``.

``sigma`` is the noise's standard deviation when known (Gaussian noise; the
filters are then given the true value, which favours them), else None and the
filter estimates it with ``skimage.restoration.estimate_sigma`` (Donoho &
Johnstone's wavelet MAD estimator).

- ``gaussian``: Gaussian blur; its width is picked per noise level from
  ``GAUSSIAN_WIDTHS`` by the best PSNR on the evaluated images themselves
  (an oracle choice: again in the filter's favour).
- ``median``: 3x3 median filter (the textbook remedy for impulse noise).
- ``nl_means``: non-local means (Buades et al. 2005), h = 0.8 sigma as
  scikit-image's guide recommends, 5x5 patches searched within 6 pixels.
- ``wavelet``: BayesShrink wavelet thresholding (Chang et al. 2000).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aegrad.registry import Registry

Filter = Callable[[np.ndarray, float | None], np.ndarray]
FILTERS: Registry[Filter] = Registry("classical denoiser")
GAUSSIAN_WIDTHS = (0.5, 0.7, 1.0, 1.5)


def _sigma(img: np.ndarray, sigma: float | None) -> float:
    from skimage.restoration import estimate_sigma

    return float(sigma) if sigma is not None else float(estimate_sigma(img))


def gaussian_blur(img: np.ndarray, width: float) -> np.ndarray:
    from skimage.filters import gaussian

    return gaussian(img, sigma=width, preserve_range=True)


@FILTERS.register("median")
def median(img: np.ndarray, sigma: float | None) -> np.ndarray:
    from scipy.ndimage import median_filter

    return median_filter(img, size=3, mode="reflect")


@FILTERS.register("nl_means")
def nl_means(img: np.ndarray, sigma: float | None) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    s = _sigma(img, sigma)
    return denoise_nl_means(img, h=0.8 * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True)


@FILTERS.register("wavelet")
def wavelet(img: np.ndarray, sigma: float | None) -> np.ndarray:
    from skimage.restoration import denoise_wavelet

    return denoise_wavelet(img, sigma=sigma, method="BayesShrink", mode="soft", rescale_sigma=True)


def list_filters() -> list[str]:
    """Every classical denoiser: ``gaussian`` (width chosen per level) and the registered ones."""
    return sorted(["gaussian", *FILTERS.names()])
