"""Features for classification: AutoencoderTransformer's contract and pipelines, and the probe of a run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import aegrad
from aegrad import AutoencoderTransformer
from aegrad.cli import main


@parametrize_with_checks([AutoencoderTransformer(epochs=3)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x[:600] / 16.0, y[:600], x[600:900] / 16.0, y[600:900]


def test_transform_shapes_and_inverse_beats_the_mean(digits):
    x, _, x_test, _ = digits
    ae = AutoencoderTransformer(latent=8, widths=(64,), epochs=60, normalize="minmax").fit(x)
    z = ae.transform(x_test)
    assert z.shape == (len(x_test), 8) and z.dtype == np.float64
    x_hat = ae.inverse_transform(z)
    assert x_hat.shape == x_test.shape
    mse = np.mean((x_hat - x_test) ** 2)
    trivial = np.mean((x.mean(0) - x_test) ** 2)
    assert mse < 0.5 * trivial  # the codes carry the images, in the units of the data
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]
    with pytest.raises(ValueError, match="latent"):
        ae.inverse_transform(z[:, :3])


def test_pipeline_and_grid_search_round_trip(digits):
    x, y, x_test, y_test = digits
    pipe = Pipeline([("ae", AutoencoderTransformer(epochs=30, normalize="minmax")),
                     ("clf", LogisticRegression(max_iter=500))])
    search = GridSearchCV(pipe, {"ae__latent": [4, 16]}, cv=2).fit(x, y)
    assert search.best_params_["ae__latent"] in (4, 16)
    assert search.best_estimator_.named_steps["ae"].latent == search.best_params_["ae__latent"]
    assert search.score(x_test, y_test) > 0.7  # chance is 0.1
    # the refitted pipeline's codes are the transformer's own
    ae = search.best_estimator_.named_steps["ae"]
    np.testing.assert_array_equal(search.best_estimator_[:-1].transform(x_test), ae.transform(x_test))


def test_bad_input_gives_sklearn_value_errors(digits):
    x, *_ = digits
    ae = AutoencoderTransformer(epochs=1).fit(x)
    bad = x[:10].copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        ae.transform(bad)
    with pytest.raises(ValueError, match="features"):
        ae.transform(x[:, :10])
    with pytest.raises(ValueError, match="model.activation|activation"):
        AutoencoderTransformer(activation="nope").fit(x)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    cfg = aegrad.load_config(preset="digits-mlp", overrides={"train.epochs": 15, "monitor.enabled": False})
    return aegrad.train(cfg, out=tmp_path_factory.mktemp("probe") / "run", report=False).path


def test_probe_on_digits_beats_chance_widely(digits_run):
    from aegrad.apps.probe.probe import probe_run

    res = probe_run(digits_run)
    assert res["chance"] < 0.15 and res["classes"] == 10
    feats = res["features"]
    assert feats["latent"]["dims"] == feats["pca"]["dims"] == 16 and feats["pixels"]["dims"] == 64
    assert feats["latent"]["logistic"] > 0.8  # chance ~0.1
    assert feats["latent"]["knn"] > 0.8
    assert feats["pixels"]["logistic"] > 0.9  # digits are nearly linearly separable in pixels


def test_probe_cli(digits_run, capsys):
    assert main(["probe", str(digits_run), "--json", "--test-limit", "200"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["test_samples"] == 200 and set(res["features"]) == {"latent", "pixels", "pca"}


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["/nonexistent-run"], "run directory not found"), (["/tmp", "--neighbors", "0"], "--neighbors")],
)
def test_probe_cli_bad_input(args, needle, capsys):
    assert main(["probe", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
