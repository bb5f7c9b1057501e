"""``data.source: skimage``: square patches of scikit-image's bundled colour photographs.

The split is by photograph, so no test pixel is ever seen in training:

    train: every other photograph scikit-image ships without a download — the colour ones
           (astronaut, coffee, immunohistochemistry, hubble_deep_field, retina) and the grey
           ones (camera, brick, grass, gravel, moon, coins, clock, cell; as R = G = B in colour)
           — as patches at half-patch stride
    test:  chelsea (the cat), rocket: non-overlapping tiles in raster order (the data split),
           and whole (``test_photos``: what ``aegrad rd`` codes, one stream per photograph)

(Its synthetic images — colorwheel, logo, text, page, horse — are left out.)
``data.image_size`` is the patch side; ``data.grayscale`` converts with ITU-R 601 luma
(Pillow's "L"). The photographs ship inside scikit-image, so nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

from aegrad.config import DataConfig
from aegrad.data.base import SourceData, register_source
from aegrad.errors import UserError

TRAIN_PHOTOS = ("astronaut", "coffee", "immunohistochemistry", "hubble_deep_field", "retina",
                "camera", "brick", "grass", "gravel", "moon", "coins", "clock", "cell")
TEST_PHOTOS = ("chelsea", "rocket")


def photo(name: str, grayscale: bool) -> np.ndarray:
    """One bundled photograph as uint8 (C, H, W)."""
    import skimage.data  # imported here: only this source needs scikit-image
    from PIL import Image

    a = np.asarray(getattr(skimage.data, name)(), dtype=np.uint8)
    rgb = np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a[..., :3]
    if grayscale:
        return np.asarray(Image.fromarray(rgb).convert("L"))[None]
    return rgb.transpose(2, 0, 1)


def patches(img: np.ndarray, side: int, stride: int) -> np.ndarray:
    """Every side x side patch of `img` (C, H, W) at `stride`, in raster order: (N, C, side, side)."""
    _, h, w = img.shape
    if h < side or w < side:
        raise UserError(f"data.image_size={side} is larger than a photograph ({h}x{w})")
    return np.stack([img[:, i : i + side, j : j + side]
                     for i in range(0, h - side + 1, stride) for j in range(0, w - side + 1, stride)])


def test_photos(grayscale: bool) -> list[np.ndarray]:
    """The held-out photographs, whole, uint8 (C, H, W)."""
    return [photo(n, grayscale) for n in TEST_PHOTOS]


@register_source("skimage")
def skimage_photos(cfg: DataConfig, seed: int) -> SourceData:
    """Patches of scikit-image's photographs; its own train/test split (disjoint photographs)."""
    s = cfg.image_size
    train = np.concatenate([patches(photo(n, cfg.grayscale), s, max(1, s // 2)) for n in TRAIN_PHOTOS])
    test = np.concatenate([patches(photo(n, cfg.grayscale), s, s) for n in TEST_PHOTOS])
    return SourceData(x=train, y=None, is_image=True, test_x=test, test_y=None)
