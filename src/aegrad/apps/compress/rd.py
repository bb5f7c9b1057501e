"""Rate-distortion evaluation: aegrad codecs beside JPEG/WebP/AVIF/PNG on the same images, same run.

Two regimes:

* ``per-image``: every image its own file (headers count, as users store images);
* ``one-file``: the whole set in one file — one ``.aeg`` stream for aegrad, one mosaic
  (images tiled on a near-square grid, or whole photographs stacked; unused area black)
  for the Pillow codecs.

Rate is always the bytes actually produced x 8 / the images' pixels (mosaic padding
not counted as pixels). Quality: PSNR of the set's mean squared error
(``skimage.metrics.peak_signal_noise_ratio`` over all images at once) and the mean
per-image SSIM (``skimage.metrics.structural_similarity``, 7x7 window, data range 255).
MS-SSIM needs sides of 161+ pixels at 5 scales, more than these images have.
Throughput: images/s and MB/s of raw pixels, encode and decode, wall clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from aegrad.apps.compress.baselines import Peer, decode, peers
from aegrad.apps.compress.bdrate import bd_quality, bd_rate
from aegrad.apps.compress.codec import ImageCodec

REGIMES = ("per-image", "one-file")


@dataclass
class Point:
    """One codec setting in one regime."""

    codec: str  # aegrad | jpeg | webp | avif | png
    setting: str  # lambda=... or q=... or lossless
    regime: str  # per-image | one-file
    bytes: int  # total bytes written
    bpp: float  # bytes * 8 / pixels
    psnr: float  # dB, of the set's mean squared error (inf if lossless)
    ssim: float  # mean per-image SSIM
    encode_s: float  # wall seconds to encode the set
    decode_s: float  # wall seconds to decode it
    images_per_s_encode: float
    images_per_s_decode: float
    mb_per_s_encode: float  # raw pixel megabytes (10^6 bytes) per second
    mb_per_s_decode: float


def quality(orig: Sequence[np.ndarray], rec: Sequence[np.ndarray]) -> tuple[float, float]:
    """(PSNR of the set's MSE, mean SSIM) of uint8 images (C, H, W), via scikit-image."""
    a = np.concatenate([o.reshape(-1) for o in orig])
    b = np.concatenate([r.reshape(-1) for r in rec])
    psnr = math.inf if np.array_equal(a, b) else float(peak_signal_noise_ratio(a, b, data_range=255))
    ssim = float(np.mean([_ssim(o, r) for o, r in zip(orig, rec)]))
    return psnr, ssim


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM with a 7x7 window (scikit-image's default), shrunk to the largest odd side that fits."""
    win = min(7, a.shape[1], a.shape[2])
    win -= 1 - win % 2
    if win < 3:
        return math.nan
    return float(structural_similarity(a, b, data_range=255, channel_axis=0, win_size=win))


Box = tuple[int, int, int, int]  # (top, left, height, width) of an image in a mosaic


def mosaic(images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[Box]]:
    """One uint8 image holding all `images` (C, H, W), unused area black; (mosaic, each image's box).

    Images of one shape are tiled row by row on ceil(sqrt(n)) columns; images of different
    shapes (whole photographs) are stacked top to bottom, left-aligned.
    """
    c = images[0].shape[0]
    if len({im.shape for im in images}) == 1:
        _, h, w = images[0].shape
        cols = math.ceil(math.sqrt(len(images)))
        boxes = [((i // cols) * h, (i % cols) * w, h, w) for i in range(len(images))]
    else:
        tops = np.cumsum([0, *[im.shape[1] for im in images]])
        boxes = [(int(tops[i]), 0, im.shape[1], im.shape[2]) for i, im in enumerate(images)]
    out = np.zeros((c, max(t + h for t, _, h, _ in boxes), max(x + w for _, x, _, w in boxes)), dtype=np.uint8)
    for (t, x, h, w), im in zip(boxes, images):
        out[:, t : t + h, x : x + w] = im
    return out, boxes


def unmosaic(m: np.ndarray, boxes: Sequence[Box]) -> list[np.ndarray]:
    return [m[:, t : t + h, x : x + w] for t, x, h, w in boxes]


def _point(codec: str, setting: str, regime: str, images: Sequence[np.ndarray], nbytes: int,
           rec: Sequence[np.ndarray], enc_s: float, dec_s: float) -> Point:
    pixels = sum(im.shape[1] * im.shape[2] for im in images)
    raw_mb = sum(im.size for im in images) / 1e6
    psnr, ssim = quality(images, rec)
    n = len(images)
    return Point(codec, setting, regime, nbytes, nbytes * 8 / pixels, psnr, ssim, enc_s, dec_s,
                 n / enc_s, n / dec_s, raw_mb / enc_s, raw_mb / dec_s)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def aegrad_points(codec: ImageCodec, label: str, images: Sequence[np.ndarray],
                  regimes: Sequence[str] = REGIMES) -> list[Point]:
    """The codec's two regimes; the bytes are the files' bytes, decoded and checked against the images' count."""
    out = []
    if "per-image" in regimes:
        files, enc_s = _timed(lambda: [codec.compress([im]) for im in images])
        rec, dec_s = _timed(lambda: [codec.decompress(f)[0] for f in files])
        out.append(_point("aegrad", label, "per-image", images, sum(len(f) for f in files), rec, enc_s, dec_s))
    if "one-file" in regimes:
        data, enc_s = _timed(lambda: codec.compress(images))
        rec, dec_s = _timed(lambda: codec.decompress(data))
        out.append(_point("aegrad", label, "one-file", images, len(data), rec, enc_s, dec_s))
    return out


def peer_points(peer: Peer, images: Sequence[np.ndarray], regimes: Sequence[str] = REGIMES,
                qualities: Sequence[int | None] | None = None) -> list[Point]:
    """A Pillow codec at each quality in both regimes."""
    ch = images[0].shape[0]
    out = []
    for q in qualities if qualities is not None else peer.qualities:
        setting = "lossless" if q is None else f"q={q}"
        if "per-image" in regimes:
            files, enc_s = _timed(lambda: [peer.encode(im, q) for im in images])
            rec, dec_s = _timed(lambda: [decode(f, ch) for f in files])
            out.append(_point(peer.name, setting, "per-image", images, sum(len(f) for f in files), rec, enc_s, dec_s))
        if "one-file" in regimes:
            m, boxes = mosaic(images)
            data, enc_s = _timed(lambda: peer.encode(m, q))
            rec, dec_s = _timed(lambda: unmosaic(decode(data, ch), boxes))
            out.append(_point(peer.name, setting, "one-file", images, len(data), rec, enc_s, dec_s))
    return out


def bd_table(points: Sequence[Point], anchors: Sequence[str] = ("jpeg", "webp", "avif")) -> list[dict[str, Any]]:
    """BD-rate (PSNR and SSIM as the quality axis) and BD-PSNR / BD-SSIM of aegrad against each anchor, per regime."""
    rows = []
    for regime in REGIMES:
        mine = [p for p in points if p.codec == "aegrad" and p.regime == regime]
        if len(mine) < 2:
            continue
        for anchor in anchors:
            theirs = [p for p in points if p.codec == anchor and p.regime == regime and math.isfinite(p.psnr)]
            if len(theirs) < 2:
                continue
            row: dict[str, Any] = {"regime": regime, "anchor": anchor}
            for metric in ("psnr", "ssim"):
                a = ([p.bpp for p in theirs], [getattr(p, metric) for p in theirs])
                t = ([p.bpp for p in mine], [getattr(p, metric) for p in mine])
                row[f"bd_rate_{metric}"] = bd_rate(a, t)
                row[f"bd_{metric}"] = bd_quality(a, t)
            rows.append(row)
    return rows


def evaluate(codecs: Sequence[tuple[str, ImageCodec]], images: Sequence[np.ndarray],
             quick: bool = False) -> dict[str, Any]:
    """Every aegrad codec and every Pillow peer on `images`: points, BD-rates (as plain data)."""
    points: list[Point] = []
    for label, codec in codecs:
        points += aegrad_points(codec, label, images)
    for peer in peers():
        qs = peer.qualities[::2] if quick and peer.qualities[0] is not None else None
        points += peer_points(peer, images, qualities=qs)
    return {"images": len(images), "shape": describe(images), "points": [asdict(p) for p in points],
            "bd_rate": bd_table(points)}


def describe(images: Sequence[np.ndarray]) -> str:
    """'1x28x28' for images of one shape, else each shape: '3x300x451, 3x427x640'."""
    shapes = list(dict.fromkeys("x".join(map(str, im.shape)) for im in images))
    return shapes[0] if len(shapes) == 1 else ", ".join(shapes)
