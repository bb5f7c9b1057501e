"""Generation from a trained VAE: prior samples and latent interpolations, as arrays and image files.

A VAE is a generator: z ~ N(0, I) decoded gives a new sample (the decoder's mean,
pixel probabilities for a Bernoulli model). Between two test images the
posterior means mu_a and mu_b are joined by a straight line and decoded at even
steps. Both are seeded and deterministic, and written into the run directory
(``samples.png``/``.npz``, ``interpolation.png``/``.npz``) for the report to embed.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from aegrad.errors import UserError
from aegrad.run import INTERPOLATION, SAMPLES, atomic_write_bytes  # noqa: F401 (the file stems, re-exported)

PAD = 2  # pixels of background between tiles


def require_variational(model: torch.nn.Module) -> None:
    if not hasattr(model, "posterior"):
        raise UserError("this run's model is not variational: train one with --set model.variational=true")


@torch.no_grad()
def sample_prior(model: torch.nn.Module, n: int, latent: int, seed: int = 0) -> Tensor:
    """`n` decoded prior draws z ~ N(0, I) (the decoder's mean), (n, *sample_shape); seeded."""
    require_variational(model)
    if n < 1:
        raise UserError(f"-n must be at least 1, got {n}")
    model.eval()
    z = torch.randn(n, latent, generator=torch.Generator().manual_seed(seed))
    return model.decode(z)


@torch.no_grad()
def interpolate(model: torch.nn.Module, a: Tensor, b: Tensor, steps: int = 8) -> Tensor:
    """[a, decode(mu_a + t (mu_b - mu_a)) for `steps` t evenly in [0, 1], b]: (steps + 2, *sample_shape)."""
    require_variational(model)
    if steps < 2:
        raise UserError(f"--steps must be at least 2, got {steps}")
    model.eval()
    mu, _ = model.posterior(torch.stack([a, b]))
    t = torch.linspace(0.0, 1.0, steps).unsqueeze(1)
    return torch.cat([a[None], model.decode(mu[:1] + t * (mu[1:] - mu[:1])), b[None]])


def tile(images: np.ndarray, cols: int) -> np.ndarray:
    """(n, C, H, W) values -> one uint8 image (rows x cols tiles, PAD apart), (H', W') or (H', W', 3).

    Values inside [0, 1] (pixel probabilities, minmax data) are shown as they are; others are
    stretched to the grid's range.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise UserError(f"image grids need (C, H, W) samples with 1 or 3 channels, got sample shape {images.shape[1:]}")
    lo, hi = float(images.min()), float(images.max())
    if lo < -0.05 or hi > 1.05:
        images = (images - lo) / (hi - lo if hi > lo else 1.0)
    images = np.clip(images, 0.0, 1.0)
    n, c, h, w = images.shape
    rows = math.ceil(n / cols)
    grid = np.ones((c, rows * (h + PAD) + PAD, cols * (w + PAD) + PAD), dtype=np.float32)
    for i, img in enumerate(images):
        r, q = divmod(i, cols)
        y, x = PAD + r * (h + PAD), PAD + q * (w + PAD)
        grid[:, y : y + h, x : x + w] = img
    out = (grid * 255.0 + 0.5).astype(np.uint8)
    return out[0] if c == 1 else out.transpose(1, 2, 0)


def png_bytes(pixels: np.ndarray, scale: int = 1) -> bytes:
    """A PNG of uint8 `pixels`, each pixel drawn `scale` x `scale` (nearest neighbour)."""
    from PIL import Image

    img = Image.fromarray(pixels)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_images(path: Path, images: Tensor, cols: int, **arrays: np.ndarray) -> Path:
    """`path` (a .png) as a grid of `images` in `cols` columns, and `images` (+ `arrays`) in the .npz beside it."""
    x = images.detach().float().cpu().numpy()
    scale = max(1, 112 // x.shape[-1]) if x.ndim == 4 else 1  # tiles at least ~112 px: 8x8 digits drawn 14x
    atomic_write_bytes(path, png_bytes(tile(x, cols), scale))
    buf = io.BytesIO()
    np.savez(buf, images=x, **arrays)
    atomic_write_bytes(path.with_suffix(".npz"), buf.getvalue())
    return path
