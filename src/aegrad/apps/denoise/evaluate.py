"""Denoising measured: noisy input, the autoencoder's output and classical filters against the clean image.

``evaluate_denoising`` corrupts clean test images in [0, 1] (seeded), runs the
model (``forward(x)["x_hat"]``) and every classical filter on the same noisy
images, and reports PSNR/SSIM of each against the clean images.
``picture_grid`` writes the rows noisy / denoised / clean as one PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from aegrad.apps.denoise.classical import FILTERS, GAUSSIAN_WIDTHS, gaussian_blur
from aegrad.apps.denoise.metrics import psnr, quality
from aegrad.apps.denoise.noise import add_noise, noise_std
from aegrad.errors import UserError


def _gray(x: torch.Tensor) -> np.ndarray:
    """(N, 1, H, W) or (N, H, W) tensor -> (N, H, W) float64 numpy."""
    a = x.detach().double().numpy()
    return a.reshape(len(a), *a.shape[-2:])


def check_images(x: torch.Tensor) -> None:
    """Denoising is measured on grayscale images in [0, 1] (data.normalize: minmax)."""
    if x.ndim != 4 or x.shape[1] != 1:
        raise UserError(f"denoise needs grayscale images (N, 1, H, W); got samples of shape {tuple(x.shape[1:])}")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise UserError(f"denoise needs images in [0, 1] (data.normalize: minmax); got values in [{lo:.3g}, {hi:.3g}]")


def denoise(model: torch.nn.Module, noisy: torch.Tensor, batch: int = 2048) -> torch.Tensor:
    """The model's reconstruction of noisy images, in batches, clipped to [0, 1]."""
    with torch.no_grad():
        out = torch.cat([model(noisy[i : i + batch])["x_hat"] for i in range(0, len(noisy), batch)])
    return out.clamp(0.0, 1.0)


def classical(noisy: np.ndarray, clean: np.ndarray, sigma: float | None) -> dict[str, np.ndarray]:
    """Every classical filter's output on (N, H, W) noisy images; the Gaussian's width chosen by PSNR (oracle)."""
    blurred = {w: np.stack([gaussian_blur(im, w) for im in noisy]) for w in GAUSSIAN_WIDTHS}
    best = max(blurred, key=lambda w: psnr(clean, blurred[w]))
    out = {"gaussian": blurred[best]}
    for name in FILTERS.names():
        fn = FILTERS.get(name)
        out[name] = np.stack([fn(im, sigma) for im in noisy])
    return out


def evaluate_denoising(
    model: torch.nn.Module, clean: torch.Tensor, kind: str, level: float, seed: int = 0
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """PSNR/SSIM of noisy, autoencoder and classical outputs at one noise level, and the images themselves.

    Returns (result, images): result ``{"noise", "level", "methods": {name: {"psnr", "ssim"}}, "best_classical"}``;
    images ``{"clean", "noisy", "autoencoder"}`` as (N, H, W) arrays for ``picture_grid``.
    """
    check_images(clean)
    noisy = add_noise(clean, kind, level, torch.Generator().manual_seed(seed))
    images = {"clean": _gray(clean), "noisy": _gray(noisy), "autoencoder": _gray(denoise(model, noisy))}
    outputs = {"noisy": images["noisy"], "autoencoder": images["autoencoder"]}
    outputs.update(classical(images["noisy"], images["clean"], noise_std(kind, level)))
    methods = {name: quality(images["clean"], out) for name, out in outputs.items()}
    best = max((n for n in methods if n not in ("noisy", "autoencoder")), key=lambda n: methods[n]["psnr"])
    return {"noise": kind, "level": level, "methods": methods, "best_classical": best}, images


def picture_grid(images: dict[str, np.ndarray], path: str | Path, n: int = 10, scale: int = 3) -> Path:
    """A PNG with `n` columns and three rows: noisy, denoised (autoencoder), clean."""
    from PIL import Image

    rows = [np.clip(images[k][:n], 0.0, 1.0) for k in ("noisy", "autoencoder", "clean")]
    h, w = rows[0].shape[1:]
    pad = 2
    grid = np.ones((3 * (h + pad) + pad, len(rows[0]) * (w + pad) + pad))
    for r, row in enumerate(rows):
        for c, im in enumerate(row):
            top, left = pad + r * (h + pad), pad + c * (w + pad)
            grid[top : top + h, left : left + w] = im
    img = Image.fromarray((grid * 255).round().astype(np.uint8)).resize(
        (grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
