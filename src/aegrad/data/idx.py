"""The IDX format of MNIST and Fashion-MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/).

A file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim``
big-endian uint32 sizes, then the values in row-major order, big-endian.
Files may be gzip-compressed; we detect that from the gzip signature, not the name.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from aegrad.errors import UserError

# IDX type byte -> big-endian numpy dtype.
IDX_DTYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == _GZIP_MAGIC else raw
    except FileNotFoundError:
        raise UserError(f"IDX file not found: {path}") from None
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f"cannot read IDX file {path}: {err} (a truncated or corrupt download?)") from None


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Decode IDX bytes (already decompressed) into an array in native byte order."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise UserError(f"{name} is not an IDX file: bad magic number {data[:4].hex() or '(empty)'}")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        valid = ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        raise UserError(f"{name}: unknown IDX value type 0x{code:02x}; valid: {valid}")
    if ndim == 0:
        raise UserError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{name}: IDX header truncated ({len(data)} bytes, {header} needed)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(IDX_DTYPES[code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise UserError(f"{name}: IDX dims {dims} need {expected} bytes of values, file has {len(data) - header}")
    values = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    # uint8 (all of MNIST) has no byte order; wider types are converted once here.
    return values if dtype.itemsize == 1 else values.astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw; malformed files raise UserError naming the file."""
    p = Path(path)
    return parse_idx(_read_bytes(p), name=str(p))


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write `array` as IDX (gzip when `compress`, default: when the name ends in .gz)."""
    p = Path(path)
    arr = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}
    native = arr.dtype.newbyteorder("=")
    if native not in codes or arr.ndim == 0 or arr.ndim > 255:
        raise ValueError(f"cannot store {arr.dtype} array of ndim {arr.ndim} as IDX")
    code = codes[native]
    body = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    body += np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()
    if compress if compress is not None else p.suffix == ".gz":
        body = gzip.compress(body, mtime=0)
    p.write_bytes(body)
    return p
