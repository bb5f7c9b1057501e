"""IDX reader: bytes written by hand (the format as LeCun's page defines it), gzipped and raw."""

import gzip
import struct

import numpy as np
import pytest

from aegrad.data import read_idx, write_idx
from aegrad.errors import UserError


def _idx_bytes(code: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


@pytest.mark.parametrize("gz", [False, True])
def test_reads_hand_written_label_and_image_files(tmp_path, gz):
    labels = bytes([3, 1, 4, 1, 5])
    pixels = bytes(range(2 * 3 * 4))
    raw_labels = _idx_bytes(0x08, (5,), labels)
    raw_images = _idx_bytes(0x08, (2, 3, 4), pixels)
    wrap = gzip.compress if gz else (lambda b: b)
    (tmp_path / "labels").write_bytes(wrap(raw_labels))
    (tmp_path / "images").write_bytes(wrap(raw_images))

    y = read_idx(tmp_path / "labels")
    x = read_idx(tmp_path / "images")
    assert y.shape == (5,) and y.tolist() == [3, 1, 4, 1, 5]
    assert x.shape == (2, 3, 4) and x.dtype == np.uint8
    assert x[1, 2, 3] == 23 and x[0, 1, 0] == 4  # row-major order


def test_big_endian_wide_types(tmp_path):
    # 0x0B is int16, big-endian: 0x0102 = 258, 0xFFFE = -2.
    (tmp_path / "s").write_bytes(_idx_bytes(0x0B, (2,), b"\x01\x02\xff\xfe"))
    assert read_idx(tmp_path / "s").tolist() == [258, -2]
    # 0x0D is float32: 1.5 big-endian.
    (tmp_path / "f").write_bytes(_idx_bytes(0x0D, (1,), struct.pack(">f", 1.5)))
    assert read_idx(tmp_path / "f").tolist() == [1.5]


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_write_read_round_trip(tmp_path, dtype):
    a = (np.arange(60).reshape(3, 4, 5) - 7).astype(dtype) if dtype != "uint8" else np.arange(60, dtype=np.uint8)
    for name in ("a.gz", "a"):
        back = read_idx(write_idx(tmp_path / name, a))
        assert back.dtype == a.dtype and np.array_equal(back, a)
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x08\x03\x00\x00" + b"\0" * 16, "bad magic"),
        (b"", "bad magic"),
        (_idx_bytes(0x07, (2,), b"ab"), "unknown IDX value type"),
        (_idx_bytes(0x08, (2, 2), b"abc"), "need 4 bytes"),
        (_idx_bytes(0x08, (2,), b"abc"), "need 2 bytes"),
        (b"\x00\x00\x08\x03\x00\x00", "header truncated"),
    ],
)
def test_malformed_files_raise_user_error(tmp_path, data, match):
    path = tmp_path / "bad-idx"
    path.write_bytes(data)
    with pytest.raises(UserError, match=match) as info:
        read_idx(path)
    assert "bad-idx" in str(info.value) and "\n" not in str(info.value)


def test_truncated_gzip_and_missing_file(tmp_path):
    good = gzip.compress(_idx_bytes(0x08, (100,), bytes(100)))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(UserError, match=r"cut\.gz"):
        read_idx(tmp_path / "cut.gz")
    with pytest.raises(UserError, match="not found"):
        read_idx(tmp_path / "nope")
