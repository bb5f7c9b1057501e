"""The codecs users would pick instead, through Pillow: JPEG, WebP, AVIF (when Pillow has it) and PNG.

Each is a pair of pure functions on uint8 images (C, H, W) with C = 1 or 3:
``encode(img, quality) -> bytes`` and ``decode(bytes) -> img``. Settings favour the
peers: JPEG with optimised Huffman tables, WebP at method 6 (its slowest, best),
PNG at compression level 9.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, features

JPEG_QUALITIES = (5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 95)
WEBP_QUALITIES = (0, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)
AVIF_QUALITIES = (10, 30, 50, 70, 90)


def to_pil(img: np.ndarray) -> Image.Image:
    return Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0))


def from_pil(im: Image.Image, channels: int) -> np.ndarray:
    a = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    return a[None] if channels == 1 else a.transpose(2, 0, 1)


def _saver(fmt: str, **fixed: object) -> Callable[[np.ndarray, int | None], bytes]:
    def encode(img: np.ndarray, quality: int | None) -> bytes:
        buf = io.BytesIO()
        opts = dict(fixed)
        if quality is not None:
            opts["quality"] = quality
        to_pil(img).save(buf, format=fmt, **opts)
        return buf.getvalue()

    return encode


def decode(data: bytes, channels: int) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return from_pil(im, channels)


@dataclass(frozen=True)
class Peer:
    """A Pillow codec: its name, its quality settings (None: lossless, one point) and its encoder."""

    name: str
    qualities: tuple[int | None, ...]
    encode: Callable[[np.ndarray, int | None], bytes]


def peers() -> list[Peer]:
    """JPEG, WebP, PNG, and AVIF when this Pillow was built with it."""
    out = [
        Peer("jpeg", JPEG_QUALITIES, _saver("JPEG", optimize=True)),
        Peer("webp", WEBP_QUALITIES, _saver("WEBP", method=6)),
        Peer("png", (None,), _saver("PNG", optimize=True, compress_level=9)),
    ]
    if features.check("avif"):
        out.append(Peer("avif", AVIF_QUALITIES, _saver("AVIF", speed=6)))
    return out
