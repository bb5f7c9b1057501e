"""The bitstream: decode(encode(x)) is the model's quantised reconstruction; sizes add up; bad files are refused."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from aegrad.apps.compress.codec import ImageCodec
from aegrad.apps.compress.container import FORMAT_VERSION, MAGIC, Header, header_bytes, pack, unpack
from aegrad.config import ModelConfig
from aegrad.data.normalize import Normalizer
from aegrad.errors import UserError
from aegrad.models import create_model


def make_codec(channels: int = 1, side: int = 12, prior: str = "channel", seed: int = 0) -> ImageCodec:
    torch.manual_seed(seed)
    cfg = ModelConfig(kind="codec", codec={"channels": 8, "latent_channels": 4, "stages": 2, "kernel_size": 3,
                                          "prior": prior, "prior_filters": [3]})
    model = create_model(cfg, (channels, side, side))
    with torch.no_grad():  # spread the latents over several integers
        model.encoder_blocks[-1].layer.weight.mul_(30.0)
    norm = Normalizer("minmax").fit(torch.tensor([0.0, 255.0]))
    return ImageCodec(model, norm)


def images(n: int, channels: int = 1, side: int = 12, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, side * side).reshape(side, side)
    return [np.clip(base + rng.normal(0, 40, (channels, side, side)), 0, 255).astype(np.uint8) for _ in range(n)]


@pytest.mark.parametrize("prior", ["channel", "position", "hyper"])
def test_decode_of_encode_is_the_quantised_reconstruction(prior):
    codec = make_codec(prior=prior)
    x = images(5)
    data = codec.compress(x)
    out = codec.decompress(data)
    rec = codec.reconstruct(x)
    assert len(out) == 5
    for a, b in zip(out, rec):
        assert a.dtype == np.uint8 and a.shape == (1, 12, 12)
        np.testing.assert_array_equal(a, b)
    # and the reconstruction is the model's own forward pass in eval mode, rounded to pixels
    with torch.no_grad():
        t = codec.normalizer.transform(torch.from_numpy(np.stack(x).astype(np.float32)))
        x_hat = codec.normalizer.inverse(codec.model(t)["x_hat"]).round().clamp(0, 255).to(torch.uint8).numpy()
    np.testing.assert_array_equal(np.stack(rec), x_hat)
    assert len({int(v) for y in codec.latents(x) for v in np.unique(y)}) > 3  # a real alphabet was coded


@pytest.mark.parametrize("prior", ["channel", "hyper"])
def test_any_size_and_colour_round_trip(prior):
    codec = make_codec(channels=3, side=16, prior=prior)
    x = images(2, channels=3, side=16) + [images(1, channels=3, side=16)[0][:, :13, :9]]
    out = codec.decompress(codec.compress(x))
    assert [o.shape for o in out] == [(3, 16, 16), (3, 16, 16), (3, 13, 9)]
    for a, b in zip(out, codec.reconstruct(x)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("prior", ["channel", "hyper"])
def test_file_size_is_header_plus_stream_plus_crc(prior):
    codec = make_codec(prior=prior)
    x = images(4)
    data = codec.compress(x)
    head = header_bytes(Header(codec.hash, [(12, 12)] * 4))
    assert data[: len(head)] == head
    header, words = unpack(data, codec.hash)
    payload = words.astype("<u4").tobytes().rstrip(b"\0")
    assert len(data) == len(head) + len(payload) + 4
    assert int.from_bytes(data[-4:], "big") == zlib.crc32(data[:-4])
    # one shared shape costs one (H, W) pair: 3 magic + 1 version + 4 hash + 1 count + 1 flag + 2 sides
    assert len(head) == 12


def test_per_position_prior_refuses_other_sizes():
    codec = make_codec(prior="position")
    with pytest.raises(UserError, match="12x12"):
        codec.compress([images(1, side=20)[0]])


def _flip(data: bytes, i: int) -> bytes:
    b = bytearray(data)
    b[i] ^= 0x55
    return bytes(b)


def test_bad_files_are_refused_with_one_line():
    codec = make_codec()
    data = codec.compress(images(3))
    body = data[:-4]
    wrong_version = body[:3] + bytes([FORMAT_VERSION + 1]) + body[4:]
    cases = {
        "truncated": data[:-7],
        "corrupted": _flip(data, len(data) // 2),
        "wrong version": wrong_version + zlib.crc32(wrong_version).to_bytes(4, "big"),
        "not ours": b"\x89PNG\r\n\x1a\n" + data[8:],
        "empty": b"",
    }
    for name, bad in cases.items():
        with pytest.raises(UserError) as err:
            codec.decompress(bad)
        assert "\n" not in str(err.value), name
    with pytest.raises(UserError, match="another model"):
        make_codec(seed=1).decompress(data)
    with pytest.raises(UserError, match="version"):
        codec.decompress(cases["wrong version"])
    with pytest.raises(UserError, match="corrupted or truncated"):
        codec.decompress(cases["truncated"])


def test_pack_unpack_header_fields():
    h = Header(b"\x01\x02\x03\x04", [(300, 7), (5, 1000)])
    data = pack(h, np.array([1, 2, 0xFFFFFFFF], dtype=np.uint32))
    assert data.startswith(MAGIC)
    got, words = unpack(data, h.model_hash)
    assert got == h
    assert list(words) == [1, 2, 0xFFFFFFFF]
