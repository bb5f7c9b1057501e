"""Decoding is deterministic across processes: the hyperprior's table indexes do not depend on threads or batches."""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from aegrad.apps.compress.container import FORMAT_VERSION
from aegrad.models.codec.hyper import scale_indexes
from aegrad.errors import UserError

# One process builds the same seeded hyperprior codec as the other, sets its torch thread count
# and, when decoding, its transform batch size (codec.BATCH), then writes what it saw as .npz.
SCRIPT = """
import sys
import numpy as np
import torch
from aegrad.apps.compress import codec as C
from aegrad.config import ModelConfig
from aegrad.data.normalize import Normalizer
from aegrad.models import create_model

mode, threads, batch, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
C.BATCH = batch
torch.manual_seed(0)
cfg = ModelConfig(kind="codec", codec={"channels": 16, "latent_channels": 8, "stages": 2, "kernel_size": 3,
                                      "prior": "hyper", "hyper_channels": 16, "prior_filters": [3]})
model = create_model(cfg, (1, 24, 24))
with torch.no_grad():  # spread y over many integers and scales over many tables
    model.encoder_blocks[-1].layer.weight.mul_(30.0)
    model.hyper.h_a[-1].weight.mul_(10.0)
    model.hyper.h_s[-1].weight.mul_(20.0)
codec = C.ImageCodec(model, Normalizer("minmax").fit(torch.tensor([0.0, 255.0])))
rng = np.random.default_rng(1)
base = np.linspace(0, 255, 24 * 24).reshape(1, 24, 24)
x = [np.clip(base + rng.normal(0, 60, (1, 24, 24)), 0, 255).astype(np.uint8) for _ in range(40)]
if mode == "encode":
    data = codec.compress(x)
    parts = codec.analyse(x)
    np.savez(path, data=np.frombuffer(data, np.uint8), rec=np.stack(codec.reconstruct(x)),
             y=np.stack([p["y"] for p in parts]), index=np.stack([p["y_index"] for p in parts]))
else:
    data = np.load(sys.argv[5])["data"].tobytes()
    _shapes, latents = codec.decode_symbols(data)
    np.savez(path, out=np.stack(codec.decompress(data)), y=np.stack(latents))
"""


def _run(*args: str) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_encode_with_two_threads_decode_with_one_and_other_batches(tmp_path: Path):
    enc = tmp_path / "enc.npz"
    _run("encode", "2", "256", str(enc))  # all 40 images in one transform batch, 2 threads
    e = np.load(enc)
    assert len(np.unique(e["index"])) >= 10 and len(np.unique(e["y"])) >= 10  # many tables, a real alphabet
    for threads, batch in (("1", "256"), ("1", "3")):
        dec = tmp_path / f"dec{threads}-{batch}.npz"
        _run("decode", threads, batch, str(dec), str(enc))
        d = np.load(dec)
        np.testing.assert_array_equal(d["y"], e["y"])  # every symbol, as the encoder quantised it
        if batch == "256":  # same batches: the decoded pixels are the encoder's quantised reconstruction
            np.testing.assert_array_equal(d["out"], e["rec"])
        else:  # other batches: float32 synthesis may differ in the last bit, a pixel by at most 1
            assert np.abs(d["out"].astype(int) - e["rec"].astype(int)).max() <= 1


def test_table_indexes_are_float64_and_independent_of_the_batch_split():
    from aegrad.models.codec.hyper import ScaleHyperprior

    torch.manual_seed(0)
    hyper = ScaleHyperprior(latent=8, hidden=16, stages=2, kernel=3)
    with torch.no_grad():
        hyper.h_s[-1].weight.mul_(20.0)
    z = torch.randint(-6, 7, (24, 16, 3, 3)).float()
    ref = hyper.double().scales(z.double(), (6, 6))  # the whole scale path in float64, by hand
    hyper.float()
    whole = hyper.table_indexes(z, (6, 6))
    assert whole.dtype == torch.int64 and torch.equal(whole, scale_indexes(ref))
    assert len(whole.unique()) >= 10
    parts = torch.cat([hyper.table_indexes(z[i : i + 5], (6, 6)) for i in range(0, 24, 5)])
    assert torch.equal(parts, whole)
    assert all(p.dtype == torch.float32 for p in hyper.parameters())  # the module itself is left as it was


def test_a_version_1_file_is_refused_with_one_line():
    from aegrad.apps.compress.container import unpack

    assert FORMAT_VERSION == 2
    body = b"AEG" + bytes([1]) + b"\0\0\0\0" + bytes([1, 1, 12, 12]) + b"\x01\x02"
    with pytest.raises(UserError, match=r"format version 1; this aegrad reads version 2") as err:
        unpack(body + zlib.crc32(body).to_bytes(4, "big"), b"\0\0\0\0")
    assert "\n" not in str(err.value)


def test_scales_on_the_table_boundaries_get_the_float64_index():
    """h_s outputs placed on the 62 boundaries above SCALE_MIN (float32 rounding puts them either side):
    the float64 answer wins.

    Here float32 scales pick another table for about a third of them (measured: 20 of 62);
    an encoder and a decoder that disagreed by one float32 rounding would pick differently too.
    """
    from aegrad.models.codec.hyper import SCALE_MIN, ScaleHyperprior, scale_table

    hyper = ScaleHyperprior(latent=62, hidden=4, stages=1, kernel=3)
    t = torch.tensor(scale_table()[1:-1], dtype=torch.float64) - SCALE_MIN  # the first is SCALE_MIN: the next test
    with torch.no_grad():  # a constant output per channel: softplus^-1(boundary - SCALE_MIN)
        hyper.h_s[-1].weight.zero_()
        hyper.h_s[-1].bias.copy_(t + torch.log(-torch.expm1(-t)))
    z = torch.zeros(1, 4, 1, 1)
    got = hyper.table_indexes(z, (2, 2))
    ref = scale_indexes(hyper.double().scales(z.double(), (2, 2)))
    hyper.float()
    assert torch.equal(got, ref)
    with torch.no_grad():
        assert not torch.equal(scale_indexes(hyper.scales(z, (2, 2))), ref)  # the float32 path would not agree


def test_a_vanishing_scale_gets_the_second_table_not_the_first():
    """sigma = SCALE_MIN + softplus(h) > SCALE_MIN = table[0] for every h, also where softplus(h) rounds to 0."""
    from aegrad.models.codec.hyper import ScaleHyperprior, scale_table

    hyper = ScaleHyperprior(latent=4, hidden=4, stages=1, kernel=3)
    with torch.no_grad():
        hyper.h_s[-1].weight.zero_()
        hyper.h_s[-1].bias.copy_(torch.tensor([-200.0, -30.0, -1.0, 0.0]))
    got = hyper.table_indexes(torch.zeros(1, 4, 1, 1), (1, 1)).flatten().tolist()
    # by hand: the smallest table scale >= 0.11 + softplus(h), softplus(h) = log1p(exp(h)) in exact terms
    expect = [int(np.searchsorted(scale_table(), 0.11 + np.log1p(np.exp(h)), side="left"))
              for h in (-200.0, -30.0, -1.0, 0.0)]
    expect[:2] = [1, 1]  # log1p(exp(-200)) is 0 in float64; exactly it is > 0, so table 1
    assert got == expect and expect[2] > 1
