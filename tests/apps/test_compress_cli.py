"""The commands on a tiny trained codec: bpp from the file's bytes, PSNR by hand, one-line refusals, exit 2."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from PIL import Image

import aegrad
from aegrad.apps.compress.baselines import peers
from aegrad.apps.compress.command import split_images
from aegrad.apps.compress.rd import aegrad_points, bd_table, mosaic, peer_points, unmosaic
from tests.conftest import run_cli

TINY = {
    "data.source": "digits", "data.limit": 400, "data.test_limit": 40, "data.normalize": "minmax",
    "model.kind": "codec", "model.codec.channels": 8, "model.codec.latent_channels": 4, "model.codec.stages": 1,
    "model.codec.kernel_size": 3, "model.codec.prior_filters": [3],
    "train.epochs": 6, "train.batch_size": 32, "train.lr": 0.005, "monitor.sync_every": 5,
}


def _train(path, **over):
    cfg = aegrad.load_config(overrides={**TINY, **over})
    return aegrad.train(cfg, out=path, report=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("codec") / "run", **{"model.codec.lmbda": 1.0}).path


def _pngs(folder, images):
    paths = []
    for i, im in enumerate(images):
        p = folder / f"in{i}.png"
        Image.fromarray(im[0]).save(p)
        paths.append(str(p))
    return paths


def test_compress_prints_the_files_bpp_and_decompress_returns_the_reconstruction(tiny, tmp_path):
    imgs = split_images(tiny, 5)
    res = run_cli("compress", str(tiny), *_pngs(tmp_path, imgs), "-o", str(tmp_path / "x.aeg"))
    assert res.returncode == 0, res.stderr
    size = (tmp_path / "x.aeg").stat().st_size
    bpp = float(re.search(r"([0-9.]+) bpp", res.stdout).group(1))
    assert bpp == pytest.approx(size * 8 / (5 * 8 * 8), abs=1e-4)
    res = run_cli("decompress", str(tmp_path / "x.aeg"), "--run", str(tiny), "-o", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    got = [np.asarray(Image.open(tmp_path / "out" / f"image-{i:04d}.png"))[None] for i in range(5)]
    want = aegrad.ImageCodec.from_run(tiny).reconstruct(imgs)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_bpp_and_psnr_equal_a_recomputation_by_hand(tiny):
    imgs = split_images(tiny, 20)
    codec = aegrad.ImageCodec.from_run(tiny)
    per_image, one_file = aegrad_points(codec, "l", imgs)
    files = [codec.compress([im]) for im in imgs]
    assert per_image.bytes == sum(len(f) for f in files)
    assert per_image.bpp == pytest.approx(sum(len(f) for f in files) * 8 / (20 * 64))
    assert one_file.bpp == pytest.approx(len(codec.compress(imgs)) * 8 / (20 * 64))
    rec = np.stack(codec.reconstruct(imgs)).astype(np.float64)
    mse = np.mean((np.stack(imgs).astype(np.float64) - rec) ** 2)
    assert one_file.psnr == pytest.approx(10 * math.log10(255**2 / mse), rel=1e-9)
    assert one_file.psnr == per_image.psnr  # same reconstructions either way


def test_bad_input_is_one_line_and_exit_2(tiny, tmp_path):
    imgs = split_images(tiny, 3)
    f = tmp_path / "x.aeg"
    f.write_bytes(aegrad.ImageCodec.from_run(tiny).compress(imgs))
    data = f.read_bytes()
    (tmp_path / "trunc.aeg").write_bytes(data[: len(data) - 5])
    other = _train(tmp_path / "other", seed=1)
    cases = [
        (("decompress", str(tmp_path / "trunc.aeg"), "--run", str(tiny), "-o", str(tmp_path / "o")), "truncated"),
        (("decompress", str(f), "--run", str(other.path), "-o", str(tmp_path / "o")), "another model"),
        (("decompress", str(tmp_path / "missing.aeg"), "--run", str(tiny), "-o", str(tmp_path / "o")), "not found"),
        (("compress", str(tiny), str(tmp_path / "nope.png"), "-o", str(f)), "not found"),
        (("compress", str(tmp_path), str(f), "-o", str(f)), "not found"),
    ]
    for args, needle in cases:
        res = run_cli(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert needle in res.stderr and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr


def test_rate_collapse_is_a_finding_with_the_lambda_remedy(tiny, tmp_path):
    run = _train(tmp_path / "collapsed", **{"model.codec.lmbda": 1e-7, "train.epochs": 4})
    kinds = {f["kind"]: f for f in run.findings["findings"]}
    assert "codec_rate_collapse" in kinds, run.findings
    top = kinds["codec_rate_collapse"]["remedies"][0]
    assert top["patch"] == {"model.codec.lmbda": 1e-6}
    assert "codec_rate_collapse" not in {f["kind"] for f in aegrad.load_run(tiny).findings["findings"]}


def test_mosaic_round_trip_and_peer_bpp_from_bytes():
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (3, 6, 5), dtype=np.uint8) for _ in range(7)]
    m, boxes = mosaic(imgs)
    assert m.shape == (3, 3 * 6, 3 * 5)
    for a, b in zip(unmosaic(m, boxes), imgs):
        np.testing.assert_array_equal(a, b)
    mixed = [imgs[0], rng.integers(0, 256, (3, 4, 9), dtype=np.uint8)]  # whole photographs: stacked
    m, boxes = mosaic(mixed)
    assert m.shape == (3, 10, 9) and boxes == [(0, 0, 6, 5), (6, 0, 4, 9)]
    for a, b in zip(unmosaic(m, boxes), mixed):
        np.testing.assert_array_equal(a, b)
    png = next(p for p in peers() if p.name == "png")
    pts = peer_points(png, imgs)
    assert [p.regime for p in pts] == ["per-image", "one-file"]
    assert pts[0].bytes == sum(len(png.encode(im, None)) for im in imgs)
    assert pts[0].bpp == pytest.approx(pts[0].bytes * 8 / (7 * 30))
    assert pts[0].psnr == math.inf and pts[1].ssim == pytest.approx(1.0)
    jpeg = next(p for p in peers() if p.name == "jpeg")
    rows = bd_table(pts + peer_points(jpeg, imgs, qualities=(20, 50, 80)))
    assert rows == []  # no aegrad curve: nothing to compare
