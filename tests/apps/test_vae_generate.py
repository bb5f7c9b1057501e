"""`aegrad sample`, `aegrad interpolate` and `aegrad nll` on a small trained VAE: files, shapes, ranges, seeds,
errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import aegrad
from aegrad.models.variational.generate import interpolate, sample_prior, tile
from aegrad.cli import main
from aegrad.errors import UserError

OVERRIDES = {
    "model.variational": True, "data.binarize": "dynamic", "model.latent": 4, "model.widths": [32],
    "train.epochs": 2, "monitor.enabled": False,
}


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae") / "run"
    aegrad.train(aegrad.load_config(overrides=OVERRIDES), out=out, report=False)
    return out


def test_sample_is_seeded_and_images_are_probabilities(vae_run, capsys):
    assert main(["sample", str(vae_run), "-n", "10", "--seed", "3"]) == 0
    png = vae_run / "samples.png"
    assert capsys.readouterr().out.strip() == str(png)
    first, arr = png.read_bytes(), np.load(vae_run / "samples.npz")["images"]
    assert arr.shape == (10, 1, 8, 8) and 0.0 <= arr.min() and arr.max() <= 1.0
    assert main(["sample", str(vae_run), "-n", "10", "--seed", "3"]) == 0
    assert png.read_bytes() == first  # same seed, same file
    assert main(["sample", str(vae_run), "-n", "10", "--seed", "4", "--out", str(vae_run / "other.png")]) == 0
    assert not np.array_equal(np.load(vae_run / "other.npz")["images"], arr)
    with Image.open(png) as img:  # 4 x 3 grid of 8x8 tiles drawn 14x, 2 px apart
        assert img.size == (14 * (4 * 10 + 2), 14 * (3 * 10 + 2))


def test_interpolation_strip_has_the_endpoints(vae_run):
    run = aegrad.load_run(vae_run)
    test_x = aegrad.load_dataset(run.config.data, run.config.seed).test_x
    assert main(["interpolate", str(vae_run), "--between", "0", "7", "--steps", "5"]) == 0
    npz = np.load(vae_run / "interpolation.npz")
    strip = npz["images"]
    assert strip.shape == (7, 1, 8, 8) and npz["between"].tolist() == [0, 7]
    assert np.array_equal(strip[0], test_x[0].numpy()) and np.array_equal(strip[-1], test_x[7].numpy())
    model = run.model
    with torch.no_grad():
        ends = model.decode(model.encode(test_x[[0, 7]]))
    np.testing.assert_allclose(strip[1], ends[0].numpy(), atol=1e-6)  # t = 0 decodes mu_a
    np.testing.assert_allclose(strip[-2], ends[1].numpy(), atol=1e-6)


def test_nll_prints_bounds(vae_run, capsys):
    assert main(["nll", str(vae_run), "-k", "1", "5", "--limit", "20"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["test_samples"] == 20 and out["k"] == 5
    assert out["nll_nats"] == -out["bounds_nats"]["5"] and out["bounds_nats"]["1"] <= out["bounds_nats"]["5"]


def test_bad_input_is_one_line(vae_run, tmp_path, capsys):
    plain = tmp_path / "plain"
    aegrad.train(aegrad.load_config(overrides={"train.epochs": 1, "monitor.enabled": False}), out=plain, report=False)
    cases = [
        ["sample", str(plain)],
        ["sample", str(tmp_path / "missing")],
        ["sample", str(vae_run), "-n", "0"],
        ["sample", str(vae_run), "--out", str(vae_run / "x.jpg")],
        ["interpolate", str(vae_run), "--between", "0", "100000"],
        ["nll", str(vae_run), "-k", "3", "10"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("aegrad: error:") and err.count("\n") == 1, err


def test_library_functions_and_tile():
    model = aegrad.create_model(aegrad.load_config(overrides=OVERRIDES).model, (1, 8, 8))
    a = sample_prior(model, 3, 4, seed=1)
    assert torch.equal(a, sample_prior(model, 3, 4, seed=1)) and a.shape == (3, 1, 8, 8)
    assert interpolate(model, a[0], a[1], steps=3).shape == (5, 1, 8, 8)
    grid = tile(np.full((5, 3, 2, 2), 0.5, dtype=np.float32), cols=2)
    assert grid.shape == (3 * 4 + 2, 2 * 4 + 2, 3) and grid[2, 2, 0] == 128
    with pytest.raises(UserError, match="image grids"):
        tile(np.zeros((2, 10), dtype=np.float32).reshape(2, 10, 1, 1)[:, :, 0], cols=1)


def test_generation_artifacts_callback_writes_what_the_commands_write(tmp_path):
    from aegrad.models.variational.artifacts import GenerationArtifacts

    out = tmp_path / "run"
    aegrad.train(aegrad.load_config(overrides=OVERRIDES), out=out, report=False,
                 callbacks=[GenerationArtifacts(out, n=9)])
    made = {p.name for p in out.iterdir()}
    assert {"samples.png", "samples.npz", "interpolation.png", "interpolation.npz"} <= made
    grid = np.load(out / "samples.npz")["images"]
    assert main(["sample", str(out), "-n", "9", "--out", str(tmp_path / "cli.png")]) == 0
    assert np.array_equal(np.load(tmp_path / "cli.npz")["images"], grid)


def test_a_vae_runs_report_shows_its_samples_and_interpolation(tmp_path):
    """aegrad.train writes samples.png and interpolation.png for a VAE; the report embeds both."""
    import aegrad as ag

    cfg = ag.load_config(preset="digits-mlp", overrides={"model.variational": True, "model.vae.likelihood": "gaussian",
                                                          "model.output": "identity", "train.epochs": 1})
    run = ag.train(cfg, out=tmp_path / "vae")
    assert (run.path / "samples.png").is_file() and (run.path / "interpolation.png").is_file()
    html = (run.path / "report.html").read_text()
    assert "<h2>Generation</h2>" in html and 'alt="samples.png"' in html and 'alt="interpolation.png"' in html
