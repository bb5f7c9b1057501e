"""Image quality against the clean image: PSNR and SSIM, per image then averaged, on [0, 1] images."""

from __future__ import annotations

import numpy as np


def psnr(clean: np.ndarray, other: np.ndarray) -> float:
    """Mean over images of 10 log10(1 / MSE) (peak 1); images (N, H, W), other clipped to [0, 1] first."""
    mse = np.square(clean - np.clip(other, 0.0, 1.0)).reshape(len(clean), -1).mean(1)
    return float(np.mean(10.0 * np.log10(1.0 / np.maximum(mse, 1e-12))))


def ssim(clean: np.ndarray, other: np.ndarray) -> float:
    """Mean over images of SSIM (Wang et al. 2004; scikit-image, 7x7 window, data range 1)."""
    from skimage.metrics import structural_similarity

    other = np.clip(other, 0.0, 1.0)
    return float(np.mean([structural_similarity(c, o, data_range=1.0) for c, o in zip(clean, other)]))


def quality(clean: np.ndarray, other: np.ndarray) -> dict[str, float]:
    return {"psnr": psnr(clean, other), "ssim": ssim(clean, other)}
