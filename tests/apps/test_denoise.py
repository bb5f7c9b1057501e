"""Denoising: metrics against scikit-image's, noises, classical filters, a briefly trained denoiser, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import aegrad
from aegrad.apps.denoise.classical import FILTERS, list_filters
from aegrad.apps.denoise.evaluate import classical, evaluate_denoising, picture_grid
from aegrad.apps.denoise.metrics import psnr, ssim
from aegrad.apps.denoise.noise import add_noise, list_eval_noises
from aegrad.cli import main


def _smooth_images(n: int = 6, side: int = 28) -> np.ndarray:
    """Blobs in [0, 1]: smooth enough that every classical filter should help."""
    yy, xx = np.mgrid[:side, :side] / side
    rng = np.random.default_rng(0)
    ims = [np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.05) for cx, cy in rng.uniform(0.3, 0.7, size=(n, 2))]
    return np.stack(ims)


def test_psnr_and_ssim_match_skimage():
    clean = _smooth_images()
    noisy = np.clip(clean + 0.1 * np.random.default_rng(1).normal(size=clean.shape), 0, 1)
    ref_psnr = np.mean([peak_signal_noise_ratio(c, o, data_range=1.0) for c, o in zip(clean, noisy)])
    ref_ssim = np.mean([structural_similarity(c, o, data_range=1.0) for c, o in zip(clean, noisy)])
    assert psnr(clean, noisy) == pytest.approx(ref_psnr, rel=1e-10)
    assert ssim(clean, noisy) == pytest.approx(ref_ssim, rel=1e-10)
    assert psnr(clean, clean + 0.0) > 100  # identical images: the MSE floor, not inf


def test_noises():
    x = torch.full((4, 1, 28, 28), 0.5, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    sp = add_noise(x, "salt_pepper", 0.2, gen)
    hit = sp != 0.5
    assert hit.double().mean().item() == pytest.approx(0.2, abs=0.02)
    assert set(sp[hit].unique().tolist()) == {0.0, 1.0}
    g = add_noise(x, "gaussian", 0.1, gen)
    assert (g - x).std().item() == pytest.approx(0.1, rel=0.05)
    m = add_noise(x, "masking", 0.3, gen)
    assert (m == 0).double().mean().item() == pytest.approx(0.3, abs=0.03)
    assert list_eval_noises() == ["gaussian", "masking", "salt_pepper"]
    with pytest.raises(aegrad.UserError, match="valid: gaussian, masking, salt_pepper"):
        add_noise(x, "speckle", 0.1, gen)


@pytest.mark.parametrize("name", list_filters())
def test_every_classical_filter_removes_gaussian_noise(name):
    clean = _smooth_images()
    noisy = clean + 0.2 * np.random.default_rng(2).normal(size=clean.shape)
    out = classical(noisy, clean, 0.2)
    assert set(out) == set(list_filters()) == {"gaussian", *FILTERS.names()}
    assert psnr(clean, out[name]) > psnr(clean, noisy) + 1.0


@pytest.fixture(scope="module")
def denoiser_run(tmp_path_factory):
    cfg = aegrad.load_config(
        preset="digits-mlp",
        overrides={"train.epochs": 30, "train.noise": "gaussian", "train.noise_level": 0.3, "monitor.enabled": False},
    )
    return aegrad.train(cfg, out=tmp_path_factory.mktemp("denoise") / "run", report=False).path


def test_briefly_trained_denoiser_raises_psnr(denoiser_run, tmp_path):
    run = aegrad.load_run(denoiser_run)
    clean = aegrad.load_dataset(run.config.data, run.config.seed).test_x[:100]
    res, images = evaluate_denoising(run.model, clean, "gaussian", 0.3, seed=0)
    m = res["methods"]
    assert set(m) == {"noisy", "autoencoder", *list_filters()}
    assert m["autoencoder"]["psnr"] > m["noisy"]["psnr"] + 2.0
    assert m["autoencoder"]["ssim"] > m["noisy"]["ssim"]
    np.testing.assert_array_equal(images["clean"], clean.double().numpy()[:, 0])
    from PIL import Image

    png = picture_grid(images, tmp_path / "grid.png", n=5, scale=2)
    w, h = Image.open(png).size
    assert (w, h) == (2 * (5 * 10 + 2), 2 * (3 * 10 + 2))  # 8x8 digits, 2-pixel gutters


def test_denoise_cli_measures_a_run(denoiser_run, tmp_path, capsys):
    out = tmp_path / "den"
    assert main(["denoise", str(denoiser_run), "--levels", "0.2,0.3", "--test-limit", "50", "--out", str(out)]) == 0
    res = json.loads((out / "denoise.json").read_text())
    assert [r["level"] for r in res["results"]] == [0.2, 0.3] and not res["trained_per_level"]
    assert (out / "grid-gaussian-0.3.png").is_file()
    assert "autoencoder" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--noise", "speckle"], "unknown --noise 'speckle'"),
        (["--levels", "a,b"], "--levels"),
        (["/nonexistent-run", "--preset", "digits-mlp"], "RUN_DIR is measured as trained"),
    ],
)
def test_denoise_cli_bad_input(args, needle, capsys, tmp_path):
    assert main(["denoise", *args, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_default_denoiser_is_a_unet_predicting_the_noise(tmp_path):
    """`aegrad denoise`'s default (fashion-denoise's model: no bottleneck, x_hat = x - r), briefly on digits."""
    from aegrad.apps.denoise import DEFAULT_PRESET, denoise_study
    from aegrad.config import with_overrides

    base = aegrad.load_config(preset=DEFAULT_PRESET)
    assert (base.model.kind, base.model.predict_noise, base.train.noise) == ("unet", True, "gaussian")
    cfg = with_overrides(base, {"data.source": "digits", "data.limit": None, "model.channels": [8, 16],
                                "train.epochs": 10, "train.batch_size": 64, "monitor.enabled": False})
    res = denoise_study("gaussian", [0.3], tmp_path, cfg=cfg, test_limit=100)
    m = res["results"][0]["methods"]
    assert m["autoencoder"]["psnr"] > m["noisy"]["psnr"] + 1.0, m  # measured: 15.0 dB vs 13.1
    assert aegrad.load_run(tmp_path / "gaussian-0.3").config.train.noise_level == 0.3
