"""Sources for the user's own data: .npy/.csv arrays, a folder of images (text files: data/text/source.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aegrad.config import DataConfig
from aegrad.data.base import SourceData, check_samples, register_source, require_path
from aegrad.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
CSV_DELIMITERS = (",", "\t", ";")


# ---------------------------------------------------------------- arrays


def _open_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    return path


def _load_npy(path: Path) -> np.ndarray:
    with open(_open_file(path, "npy file"), "rb") as f:
        # Without this check numpy would try the file as a pickle and suggest allow_pickle.
        if f.read(6) != b"\x93NUMPY":
            raise UserError(f"{path} is not a .npy file (no NumPy header); save arrays with np.save(path, x)")
        _check_npy_size(f, path)
    try:
        # allow_pickle=False: a .npy of Python objects could run code when loaded.
        arr: np.ndarray = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise UserError(f"cannot read {path} as a .npy array: {str(err).splitlines()[0]}") from None
    return arr


def _check_npy_size(f, path: Path) -> None:
    """Refuse a header whose shape needs more bytes than the file holds (before numpy allocates them)."""
    f.seek(0)
    try:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _fortran, dtype = read(f)  # the header only, no data
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as err:
        raise UserError(f"cannot read {path} as a .npy array: {str(err).splitlines()[0][:120]}") from None
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    have = path.stat().st_size - f.tell()
    if not dtype.hasobject and need > have:
        raise UserError(f"{path}: its header claims shape {shape} ({need:,} bytes) but the file holds {have:,}")


def _check_float32(x: np.ndarray, where: str) -> None:
    """Values finite in float64 may still overflow float32, in which the model trains; features must exist."""
    if x.ndim >= 2 and 0 in x.shape[1:]:
        raise UserError(f"{where}: samples have no values (shape {x.shape}); each sample needs at least one")
    if np.issubdtype(x.dtype, np.floating) and x.size and np.abs(x).max() > np.finfo(np.float32).max:
        bad = int(np.argwhere(np.abs(x) > np.finfo(np.float32).max)[0][0])
        raise UserError(f"{where}: sample {bad} holds a value beyond float32's range (|x| <= 3.4e38)")


def _csv_layout(path: Path) -> tuple[str, int]:
    """(delimiter, lines to skip): a first row that is not all numbers is a header."""
    try:
        with open(_open_file(path, "csv file"), encoding="utf-8-sig") as f:  # -sig: a byte-order mark is no data
            numbered = ((n, line) for n, line in enumerate(f, 1) if line.strip())
            n, first = next(numbered, (0, ""))
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a UTF-8 text CSV file") from None
    if not first:
        raise UserError(f"{path} is empty; a CSV needs one sample per row")
    delimiter = next((d for d in CSV_DELIMITERS if d in first), ",")
    try:
        [float(v) for v in first.strip().split(delimiter)]
        return delimiter, 0
    except ValueError:
        return delimiter, n  # skip through the header line (blank lines before it included)


def _load_csv(path: Path) -> np.ndarray:
    delimiter, skip = _csv_layout(path)
    try:
        arr = np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=2, dtype=np.float64, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{path} is not a numeric CSV: {_first_bad_line(path, delimiter, skip)}") from None
    return arr


def _first_bad_line(path: Path, delimiter: str, skip: int) -> str:
    """Why np.loadtxt failed, with a 1-based line number a text editor shows (error path only)."""
    width = None
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if n <= skip or not line.strip() or line.lstrip().startswith("#"):  # as np.loadtxt skips
                continue
            fields = line.strip().split(delimiter)
            width = width or len(fields)
            if len(fields) != width:
                return f"line {n} has {len(fields)} values, earlier lines {width}"
            for value in fields:
                try:
                    float(value)
                except ValueError:
                    return f"line {n} holds {value.strip()!r}, not a number"
    return "values numpy cannot parse"


def _load_array(path: Path) -> np.ndarray:
    """.npy by its suffix, anything else as CSV."""
    return _load_npy(path) if path.suffix.lower() == ".npy" else _load_csv(path)


def _labels(values: np.ndarray, n: int, where: str) -> np.ndarray:
    """Validate labels: one integer per sample."""
    y = values.reshape(-1) if values.ndim == 2 and 1 in values.shape else values
    if y.ndim != 1:
        raise UserError(f"{where}: labels must be 1-D (one per sample), got shape {values.shape}")
    if len(y) != n:
        raise UserError(f"{where}: {len(y)} labels for {n} samples; lengths must match")
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise UserError(f"{where}: labels must be integers, got dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.floating) and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise UserError(f"{where}: labels must be integers; found non-integer or NaN values")
    return y.astype(np.int64)


def _with_labels(cfg: DataConfig, x: np.ndarray, y: np.ndarray | None) -> SourceData:
    if cfg.labels_path is not None:
        if y is not None:
            raise UserError("give data.label_column or data.labels_path, not both")
        lpath = Path(cfg.labels_path).expanduser()
        y = _labels(_load_array(lpath), len(x), str(lpath))
    return SourceData(x=x, y=y, is_image=x.ndim == 4)


@register_source("npy")
def npy(cfg: DataConfig, seed: int) -> SourceData:
    """A .npy array: (N, D) vectors, (N, H, W) grayscale or (N, C, H, W) images."""
    path = require_path(cfg, "a .npy file of shape (N, D), (N, H, W) or (N, C, H, W)")
    x = _load_npy(path)
    if x.ndim not in (2, 3, 4):
        raise UserError(f"{path}: array must be (N, D), (N, H, W) or (N, C, H, W), got shape {x.shape}")
    check_samples(x, str(path))
    _check_float32(x, str(path))
    if x.ndim == 3:
        x = x[:, None]  # one channel
    if cfg.label_column is not None:
        raise UserError("data.label_column applies to csv files; for npy give data.labels_path")
    return _with_labels(cfg, x, None)


@register_source("csv")
def csv(cfg: DataConfig, seed: int) -> SourceData:
    """A CSV of numbers, one sample per row (an optional header row is skipped); labels optional."""
    path = require_path(cfg, "a CSV file, one sample per row")
    x = _load_csv(path)
    y = None
    if cfg.label_column is not None:
        cols = x.shape[1]
        if not -cols <= cfg.label_column < cols or cols < 2:
            raise UserError(f"data.label_column={cfg.label_column} is out of range for {path}'s {cols} columns")
        col = cfg.label_column % cols
        y = _labels(x[:, col], len(x), f"{path} column {cfg.label_column}")
        x = np.delete(x, col, axis=1)
    check_samples(x, str(path))
    _check_float32(x, str(path))
    return _with_labels(cfg, x, y)


# ---------------------------------------------------------------- images


def _read_image(path: Path, mode: str, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError  # imported here: only this source needs Pillow

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert(mode).resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise UserError(f"cannot read image {path}: {str(err).splitlines()[0]}") from None


@register_source("images")
def images(cfg: DataConfig, seed: int) -> SourceData:
    """A folder of png/jpg/jpeg/bmp/gif files (searched recursively), resized to image_size square.

    When every image sits in a subfolder, the top-level subfolder names are the
    classes: sorted by name, they become labels 0, 1, 2, ...
    """
    folder = require_path(cfg, "a folder of image files")
    if not folder.is_dir():
        raise UserError(f"image folder not found: {folder}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise UserError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder} or its subfolders")
    mode = "L" if cfg.grayscale else "RGB"
    x = np.stack([_read_image(p, mode, cfg.image_size) for p in paths])
    x = x[:, None] if cfg.grayscale else x.transpose(0, 3, 1, 2)  # (N, C, S, S)
    rel = [p.relative_to(folder).parts for p in paths]
    y = None
    if all(len(parts) > 1 for parts in rel):
        classes = sorted({parts[0] for parts in rel})
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[parts[0]] for parts in rel], dtype=np.int64)
    check_samples(x, str(folder))
    return SourceData(x=x, y=y, is_image=True)
