"""Fashion-MNIST for the peers, read with numpy alone.

The peers may run from a separate virtual environment without aegrad, so this
does not import aegrad; it searches the same folders aegrad's data source does
($AEGRAD_DATA/fashion-mnist, $AEGRAD_DATA, ~/.cache/aegrad/fashion-mnist, then
Debian's /usr/share/datasets/fashion-mnist) and never downloads.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

NAME = "fashion-mnist"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
TRAIN_SIZE = 60_000  # Fashion-MNIST's own split: 60k train, 10k test
FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}


def candidate_dirs() -> list[Path]:
    dirs = []
    if root := os.environ.get("AEGRAD_DATA"):
        dirs += [Path(root).expanduser() / NAME, Path(root).expanduser()]
    dirs += [Path.home() / ".cache" / "aegrad" / NAME, SYSTEM_DIR]
    return dirs


def _image_file(folder: Path, split: str) -> Path | None:
    for name in (f"{FILES[split]}.gz", FILES[split]):
        if (folder / name).is_file():
            return folder / name
    return None


def find_dir(explicit: str | None = None) -> Path | None:
    """The first folder holding both image files, or None."""
    for folder in [Path(explicit)] if explicit else candidate_dirs():
        if all(_image_file(folder, s) for s in FILES):
            return folder
    return None


def read_images(path: Path) -> np.ndarray:
    """An IDX3 uint8 file (gzipped or raw) -> (N, rows*cols) uint8."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if raw[:4] != b"\x00\x00\x08\x03":
        raise ValueError(f"{path} is not an IDX3 uint8 image file")
    n, rows, cols = (int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(3))
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)


def _subset(x: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    if n is None or n >= len(x):
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))]


def load(data_dir: str | None, n_train: int | None, n_test: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) float32 (N, 784) with pixels / 255 in [0, 1] (aegrad's fitted minmax gives the same)."""
    folder = find_dir(data_dir)
    if folder is None:
        looked = ", ".join(str(d) for d in ([Path(data_dir)] if data_dir else candidate_dirs()))
        raise FileNotFoundError(f"Fashion-MNIST not found (looked in {looked}); apt-get install dataset-fashion-mnist")
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        x = _subset(read_images(_image_file(folder, split)), n, seed)
        out.append(x.astype(np.float32) / np.float32(255.0))
    return out[0], out[1]
