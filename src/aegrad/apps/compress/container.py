"""The ``.aeg`` container: header, one range-coded stream, CRC32. Pure bytes in, bytes out.

Layout (version 2), every integer a LEB128 varint unless sized:

    magic     3 bytes  b"AEG"
    version   1 byte   FORMAT_VERSION
    model     4 bytes  the first 4 bytes of the model's SHA-256 (weights + integer tables)
    count     varint   images in the file
    shared    1 byte   1: one (H, W) for every image follows; 0: count (H, W) pairs follow
    H, W      varints
    payload   bytes    constriction range coder words, little-endian, trailing zero bytes dropped
    crc32     4 bytes  big-endian CRC32 of every byte before it

The payload's length is what remains between the header and the CRC. Readers
check, in order: magic, version, CRC (so a truncated or corrupted file is refused
before anything is decoded), model hash, then the header's sizes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from aegrad.errors import UserError

MAGIC = b"AEG"
FORMAT_VERSION = 2  # 2: the hyperprior's table indexes come from float64 h_s (hyper.py); 1 was float32
HASH_BYTES = 4
MAX_SIDE = 1 << 16  # refuse headers that would make us allocate absurd images
MAX_PIXELS = 1 << 31


@dataclass(frozen=True)
class Header:
    model_hash: bytes  # HASH_BYTES bytes
    shapes: list[tuple[int, int]]  # (H, W) per image


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data: bytes, pos: int, where: str) -> tuple[int, int]:
    n = shift = 0
    while True:
        if pos >= len(data) or shift > 35:
            raise UserError(f"{where}: header is truncated or malformed")
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, pos


def header_bytes(header: Header) -> bytes:
    shapes = header.shapes
    shared = len(set(shapes)) == 1
    out = bytearray(MAGIC + bytes([FORMAT_VERSION]) + header.model_hash + _varint(len(shapes)) + bytes([shared]))
    for h, w in shapes[:1] if shared else shapes:
        out += _varint(h) + _varint(w)
    return bytes(out)


def pack(header: Header, words: np.ndarray) -> bytes:
    """The file's bytes: header, the coder's uint32 words (trailing zero bytes dropped), CRC32."""
    payload = np.asarray(words, dtype="<u4").tobytes().rstrip(b"\0")
    body = header_bytes(header) + payload
    return body + zlib.crc32(body).to_bytes(4, "big")


def unpack(data: bytes, expected_hash: bytes, where: str = "file") -> tuple[Header, np.ndarray]:
    """(header, uint32 words) of a file's bytes; one-line UserError for anything not a valid file of this model."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise UserError(f"{where} is not an aegrad compressed file (no {MAGIC!r} magic)")
    if len(data) < len(MAGIC) + 1 + HASH_BYTES + 4:
        raise UserError(f"{where} is truncated ({len(data)} bytes)")
    version = data[len(MAGIC)]
    if version != FORMAT_VERSION:
        raise UserError(
            f"{where} has format version {version}; this aegrad reads version {FORMAT_VERSION} "
            "(compress the images again with this aegrad)"
        )
    body, crc = data[:-4], int.from_bytes(data[-4:], "big")
    if zlib.crc32(body) != crc:
        raise UserError(f"{where} is corrupted or truncated (CRC32 mismatch)")
    pos = len(MAGIC) + 1
    model_hash = bytes(body[pos : pos + HASH_BYTES])
    if model_hash != expected_hash:
        raise UserError(
            f"{where} was written by another model (hash {model_hash.hex()}, this run's is {expected_hash.hex()}); "
            "decompress it with the run that compressed it"
        )
    pos += HASH_BYTES
    count, pos = _read_varint(body, pos, where)
    if pos >= len(body):
        raise UserError(f"{where}: header is truncated or malformed")
    shared = body[pos]
    pos += 1
    if count < 1 or shared not in (0, 1):
        raise UserError(f"{where}: header is malformed (count {count}, shared flag {shared})")
    shapes = []
    for _ in range(1 if shared else count):
        h, pos = _read_varint(body, pos, where)
        w, pos = _read_varint(body, pos, where)
        if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
            raise UserError(f"{where}: header holds an impossible image size {h}x{w}")
        shapes.append((h, w))
    shapes = shapes * count if shared else shapes
    if sum(h * w for h, w in shapes) > MAX_PIXELS:
        raise UserError(f"{where}: header asks for more than {MAX_PIXELS} pixels")
    payload = bytes(body[pos:])
    payload += b"\0" * (-len(payload) % 4)
    return Header(model_hash=model_hash, shapes=shapes), np.frombuffer(payload, dtype="<u4").astype(np.uint32)
