"""``aegrad compress`` / ``decompress`` / ``rd``: the codec's commands (cli.py adds them with two lines).

    aegrad compress RUN_DIR IMAGE... -o FILE.aeg        PNG/JPEG/NPY in, one .aeg file out
    aegrad decompress FILE.aeg --run RUN_DIR -o DIR     PNG out: DIR/image-0000.png, ...
    aegrad rd RUN_DIR... -o OUT [--limit N] [--quick]  RD curves and BD-rates vs JPEG/WebP/AVIF/PNG

The bpp printed is the written file's size x 8 / the images' pixels.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from aegrad.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compress", help="compress images into one .aeg file with a trained codec run")
    p.add_argument("run_dir", help="a run trained with model.kind=codec")
    p.add_argument("images", nargs="+", help="PNG/JPEG files, or .npy uint8 arrays (H, W), (C, H, W) or (N, C, H, W)")
    p.add_argument("-o", "--out", required=True, help="the .aeg file to write")

    p = sub.add_parser("decompress", help="decode an .aeg file to PNG images")
    p.add_argument("file", help="an .aeg file written by `aegrad compress`")
    p.add_argument("--run", required=True, help="the codec run that compressed it (its model hash must match)")
    p.add_argument("-o", "--out", required=True, help="folder for image-0000.png, ...")

    p = sub.add_parser("rd", help="rate-distortion curves and BD-rates of codec runs vs JPEG/WebP/AVIF/PNG")
    p.add_argument("runs", nargs="+",
                   help="codec run directories (e.g. one per lambda), or a study folder holding them")
    p.add_argument("-o", "--out", required=True, help="folder for rd.json, rd.csv, rd_psnr.png, rd_ssim.png")
    p.add_argument("--limit", type=int, default=None, help="evaluate on the first N test images (default: all)")
    p.add_argument("--quick", action="store_true", help="every other Pillow quality")


# ---------------------------------------------------------------- images in and out


def read_images(paths: list[str], channels: int) -> list[np.ndarray]:
    """uint8 (C, H, W) images from PNG/JPEG (converted to the model's L or RGB) or .npy files."""
    from PIL import Image, UnidentifiedImageError

    out: list[np.ndarray] = []
    for name in paths:
        p = Path(name)
        if not p.is_file():
            raise UserError(f"image not found: {p}")
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            raise UserError(f"{p}: unsupported file type; give {', '.join(IMAGE_SUFFIXES)}")
        if p.suffix.lower() == ".npy":
            try:
                a = np.load(p, allow_pickle=False)
            except (OSError, ValueError, EOFError) as err:
                raise UserError(f"cannot read {p} as a .npy array: {str(err).splitlines()[0]}") from None
            if a.dtype != np.uint8:
                raise UserError(f"{p}: .npy images must be uint8 pixels 0..255, got dtype {a.dtype}")
            a = a[None] if a.ndim == 2 else a
            batch = a[None] if a.ndim == 3 else a
            if batch.ndim != 4 or batch.shape[1] != channels:
                raise UserError(f"{p}: expected (H, W), ({channels}, H, W) or (N, {channels}, H, W), got {a.shape}")
            out.extend(batch)
            continue
        try:
            with Image.open(p) as im:
                a = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
            raise UserError(f"cannot read image {p}: {str(err).splitlines()[0]}") from None
        out.append(a[None] if channels == 1 else a.transpose(2, 0, 1))
    return out


def _png(img: np.ndarray) -> bytes:
    from aegrad.apps.compress.baselines import to_pil

    buf = io.BytesIO()
    to_pil(img).save(buf, format="PNG")
    return buf.getvalue()


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise UserError(f"file not found: {path}")
    return path.read_bytes()


# ---------------------------------------------------------------- commands


def cmd_compress(args: argparse.Namespace) -> int:
    from aegrad.apps.compress.codec import ImageCodec
    from aegrad.run import atomic_write_bytes

    codec = ImageCodec.from_run(args.run_dir)
    images = read_images(args.images, codec.channels)
    data = codec.compress(images)
    out = Path(args.out)
    atomic_write_bytes(out, data)
    size = out.stat().st_size  # the rate is the file's size, read back from disk
    pixels = sum(im.shape[1] * im.shape[2] for im in images)
    print(f"{out}: {len(images)} image(s), {size} bytes, {size * 8 / pixels:.4f} bpp")
    return 0


def cmd_decompress(args: argparse.Namespace) -> int:
    from aegrad.apps.compress.codec import ImageCodec
    from aegrad.run import atomic_write_bytes

    path = Path(args.file)
    data = _read_bytes(path)
    codec = ImageCodec.from_run(args.run)
    images = codec.decompress(data, where=str(path))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    for i, im in enumerate(images):
        atomic_write_bytes(out / f"image-{i:04d}.png", _png(im))
    print(f"{out}: {len(images)} image(s) decoded")
    return 0


def _run_dirs(paths: list[str]) -> list[Path]:
    """Run folders (those with model.safetensors), a study folder expanded to the runs under it."""
    from aegrad.run import WEIGHTS

    out: list[Path] = []
    for name in paths:
        p = Path(name)
        if (p / WEIGHTS).is_file():
            out.append(p)
        elif p.is_dir():
            found = sorted(m.parent for m in p.rglob(WEIGHTS))
            if not found:
                raise UserError(f"{p} holds no trained run (no model.safetensors under it)")
            out.extend(found)
        else:
            raise UserError(f"run directory not found: {p}")
    return out


def split_images(run_dir: Path, limit: int | None) -> list[np.ndarray]:
    """The run's test split as uint8 images (C, H, W), pixels as the data source read them
    (skimage: whole photographs)."""
    import torch

    from aegrad.data import load_dataset
    from aegrad.run import load_run

    run = load_run(run_dir)
    if run.config.data.source == "skimage":  # the held-out photographs, whole: a convolutional codec codes any size
        from aegrad.data.skimage import test_photos

        return test_photos(run.config.data.grayscale)[:limit]
    data = load_dataset(run.config.data, run.config.seed)
    x = data.test_x if limit is None else data.test_x[:limit]
    return list(data.normalizer.inverse(x).round().clamp(0, 255).to(torch.uint8).numpy())


def cmd_rd(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    main_rd(args.runs, Path(args.out), args.limit, args.quick)
    return 0


def main_rd(run_paths: list[str], out: Path, limit: int | None = None, quick: bool = False) -> dict[str, Any]:
    """Evaluate codec runs (one per lambda) against the Pillow codecs; write rd.json/csv and plots; print the table."""
    from aegrad.apps.compress import rd
    from aegrad.apps.compress.codec import ImageCodec
    from aegrad.apps.compress.plot import plot_rd
    from aegrad.run import atomic_write_text, load_run, write_json

    runs = _run_dirs(run_paths)
    configs = [load_run(r).config for r in runs]
    if len({json.dumps(c.data.model_dump(mode="json"), sort_keys=True) for c in configs}) > 1:
        raise UserError("the runs were trained on different data settings; rd compares codecs on one test set")
    if any(c.model.kind != "codec" for c in configs):
        raise UserError("every run given to rd must be trained with model.kind=codec")
    images = split_images(runs[0], limit)
    order = sorted(range(len(runs)), key=lambda i: configs[i].model.codec.lmbda)
    codecs = [(f"lambda={configs[i].model.codec.lmbda:g}", ImageCodec.from_run(runs[i])) for i in order]
    result = rd.evaluate(codecs, images, quick=quick)
    result["runs"] = [str(runs[i]) for i in order]
    write_json(out / "rd.json", result)
    atomic_write_text(out / "rd.csv", _csv(result["points"]))
    plot_rd(result, out)
    print(format_rd(result))
    print(f"wrote {out}/rd.json, rd.csv, rd_psnr.png, rd_ssim.png")
    return result


def _csv(points: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(points[0]))
    w.writeheader()
    w.writerows(points)
    return buf.getvalue()


def _pct(v: float | None) -> str:
    return "n/a" if v is None or math.isnan(v) else f"{v:+.1f}%"


def format_rd(result: dict[str, Any]) -> str:
    """The points and the BD-rate table as plain text."""
    lines = [f"{result['images']} test images of shape {result['shape']}", "",
             (f"{'codec':<7} {'setting':<14} {'regime':<10} {'bpp':>7} {'PSNR':>7} {'SSIM':>6} "
              f"{'enc img/s':>10} {'dec img/s':>10} {'enc MB/s':>9} {'dec MB/s':>9}")]
    for p in result["points"]:
        lines.append(f"{p['codec']:<7} {p['setting']:<14} {p['regime']:<10} {p['bpp']:>7.3f} "
                     f"{p['psnr']:>7.2f} {p['ssim']:>6.3f} "
                     f"{p['images_per_s_encode']:>10.0f} {p['images_per_s_decode']:>10.0f} "
                     f"{p['mb_per_s_encode']:>9.2f} {p['mb_per_s_decode']:>9.2f}")
    lines += ["", ("BD-rate of aegrad (negative: fewer bits for the same quality); "
                   "BD-PSNR (positive: more dB at the same rate)"),
              f"{'regime':<10} {'anchor':<7} {'PSNR':>9} {'SSIM':>9} {'BD-PSNR':>9}"]
    for row in result["bd_rate"]:
        db = row.get("bd_psnr")
        lines.append(f"{row['regime']:<10} {row['anchor']:<7} {_pct(row['bd_rate_psnr']):>9} "
                     f"{_pct(row['bd_rate_ssim']):>9} "
                     f"{'n/a' if db is None else f'{db:+.2f} dB':>9}")
    lines.append("(n/a: the curves share no quality (BD-rate) or rate (BD-PSNR) interval, "
                 "so no difference is defined there)")
    return "\n".join(lines)


COMMANDS = {"compress": cmd_compress, "decompress": cmd_decompress, "rd": cmd_rd}
