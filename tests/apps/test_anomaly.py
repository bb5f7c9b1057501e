"""Anomaly detection: the estimator contract, AUROC/AUPRC against references, protocols, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.distance import mahalanobis
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from aegrad import AutoencoderOutlierDetector
from aegrad.apps.anomaly.baselines import PCAReconstruction, list_baselines
from aegrad.apps.anomaly.protocol import auroc_auprc, leave_one_class_out
from aegrad.apps.anomaly.scores import LatentGaussian
from aegrad.cli import main


@parametrize_with_checks(
    [AutoencoderOutlierDetector(epochs=3), AutoencoderOutlierDetector(epochs=3, anomaly_score="combined")]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _subspace_data(seed: int = 0, n: int = 400, n_out: int = 40):
    """Normal rows on a 2-D plane in 10-D (plus small noise); anomalies off the plane."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(2, 10))
    normal = rng.normal(size=(n, 2)) @ basis + 0.05 * rng.normal(size=(n, 10))
    test_normal = rng.normal(size=(n, 2)) @ basis + 0.05 * rng.normal(size=(n, 10))
    anomalies = rng.normal(size=(n_out, 2)) @ basis + 1.0 * rng.normal(size=(n_out, 10))
    x_test = np.vstack([test_normal, anomalies])
    return normal, x_test, np.r_[np.zeros(n), np.ones(n_out)].astype(int)


def test_auroc_auprc_match_sklearn_on_known_scores():
    normality = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.6])
    is_anomaly = np.array([0, 0, 1, 0, 1, 1])
    res = auroc_auprc(normality, is_anomaly)
    # anomalies at 0.1, 0.2, 0.6; normals at 0.9, 0.8, 0.7: every anomaly below every normal
    assert res["auroc"] == 1.0 == roc_auc_score(is_anomaly, -normality)
    rng = np.random.default_rng(1)
    normality, is_anomaly = rng.normal(size=200), rng.integers(0, 2, 200)
    res = auroc_auprc(normality, is_anomaly)
    pairs = (normality[is_anomaly == 1][:, None] < normality[is_anomaly == 0][None, :]).mean()
    assert res["auroc"] == pytest.approx(pairs)  # AUROC = P(anomaly scored more anomalous than a normal row)
    assert res["auprc"] == pytest.approx(average_precision_score(is_anomaly, -normality))


def test_detector_finds_off_subspace_rows():
    x_train, x_test, is_anomaly = _subspace_data()
    det = AutoencoderOutlierDetector(latent=2, widths=(32,), epochs=60, random_state=0).fit(x_train)
    assert auroc_auprc(det.score_samples(x_test), is_anomaly)["auroc"] > 0.95
    # predict flags the contamination share of the training rows; decision_function is shifted by offset_
    flagged = (det.predict(x_train) == -1).mean()
    assert flagged == pytest.approx(det.contamination, abs=0.01)
    np.testing.assert_allclose(det.decision_function(x_test), det.score_samples(x_test) - det.offset_)
    # the fit is reproducible from random_state
    again = AutoencoderOutlierDetector(latent=2, widths=(32,), epochs=60, random_state=0).fit(x_train)
    np.testing.assert_array_equal(again.score_samples(x_test), det.score_samples(x_test))


def test_reconstruction_score_is_mean_squared_error():
    x_train, x_test, _ = _subspace_data()
    det = AutoencoderOutlierDetector(latent=2, epochs=5).fit(x_train)
    x = det._validated(x_test)
    expected = ((x - det._reconstruct(x)) ** 2).mean(1).numpy()
    np.testing.assert_allclose(-det.score_samples(x_test), expected, rtol=1e-12)


def test_latent_gaussian_matches_scipy_mahalanobis():
    import torch

    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 3)) @ np.array([[2.0, 0, 0], [0.5, 1, 0], [0, 0.3, 0.2]])
    g = LatentGaussian.fit(torch.from_numpy(z))
    vi = np.linalg.inv(np.cov(z, rowvar=False))
    ref = [mahalanobis(row, z.mean(0), vi) for row in z[:20]]
    np.testing.assert_allclose(g.distance(torch.from_numpy(z[:20])).numpy(), ref, rtol=1e-4)


def test_leave_one_class_out_holds_out_each_class():
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0], [10, 0], [0, 10]])
    y_train, y_test = np.repeat([0, 1, 2], 50), np.repeat([0, 1, 2], 20)
    x_train = centers[y_train] + rng.normal(size=(150, 2))
    x_test = centers[y_test] + rng.normal(size=(60, 2))
    seen = []

    class NearestTrainRow:  # score: minus the distance to the nearest training row
        def fit(self, x):
            self.x = x
            seen.append(len(x))
            return self

        def score_samples(self, x):
            return -np.min(np.linalg.norm(x[:, None] - self.x[None], axis=2), axis=1)

    res = leave_one_class_out(NearestTrainRow, x_train, y_train, x_test, y_test)
    assert seen == [100, 100, 100]  # each fit saw the other two classes only
    assert res["per_class"].keys() == {0, 1, 2}
    assert all(r["auroc"] == 1.0 for r in res["per_class"].values())  # held-out blob is far from the rest
    assert res["mean_auroc"] == 1.0


def test_bad_input_gives_sklearn_value_errors():
    x_train, x_test, _ = _subspace_data()
    det = AutoencoderOutlierDetector(epochs=2).fit(x_train)
    bad = x_test.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        det.score_samples(bad)
    with pytest.raises(ValueError, match="NaN"):
        AutoencoderOutlierDetector(epochs=2).fit(bad)
    with pytest.raises(ValueError, match="features"):
        det.predict(x_test[:, :5])
    with pytest.raises(ValueError, match="contamination"):
        AutoencoderOutlierDetector(contamination=0.9).fit(x_train)
    with pytest.raises(KeyError, match="valid: combined, latent, reconstruction"):
        AutoencoderOutlierDetector(anomaly_score="nope").fit(x_train)


def test_cli_breast_cancer(capsys, tmp_path):
    out = tmp_path / "bc.json"
    code = main(["anomaly", "--data", "breast-cancer", "--epochs", "30", "--baselines",
                 "isolation_forest,pca_reconstruction", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "aegrad" in text and "isolation_forest" in text
    res = json.loads(out.read_text())
    assert res["test_anomalies"] == 64 and res["train_normal_rows"] == 250  # 569 rows: 357 benign, 212 malignant
    for r in res["detectors"].values():
        assert 0.8 < r["auroc"] <= 1.0


def test_cli_unlabelled_csv_writes_scores(tmp_path, capsys):
    x_train, x_test, is_anomaly = _subspace_data(n=200, n_out=20)
    path = tmp_path / "rows.csv"
    np.savetxt(path, x_test, delimiter=",", header=",".join(f"f{i}" for i in range(10)))
    scores = tmp_path / "scores.csv"
    assert main(["anomaly", "--csv", str(path), "--epochs", "40", "--latent", "2", "--out", str(scores)]) == 0
    rows = np.loadtxt(scores, delimiter=",", skiprows=1)
    assert rows.shape == (220, 3)
    assert rows[:, 2].sum() == pytest.approx(22, abs=1)  # 10% flagged
    assert roc_auc_score(is_anomaly, rows[:, 1]) > 0.9  # fitted on contaminated rows, still ranks anomalies first


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--csv", "/nonexistent.csv"], "/nonexistent.csv"),
        (["--data", "digits", "--score", "nope"], "unknown --score 'nope'"),
        (["--data", "breast-cancer", "--baselines", "nope"], "unknown or unavailable baseline 'nope'"),
        (["--data", "breast-cancer", "--contamination", "0.7"], "--contamination"),
        (["--csv", "x.csv", "--label-column", "0"], "together"),
    ],
)
def test_cli_bad_input_is_one_line(args, needle, capsys):
    assert main(["anomaly", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_pca_reconstruction_baseline_matches_its_formula():
    from sklearn.decomposition import PCA

    x_train, x_test, _ = _subspace_data()
    pca = PCA(n_components=3).fit(x_train)
    ref = -((x_test - pca.inverse_transform(pca.transform(x_test))) ** 2).mean(1)
    np.testing.assert_allclose(PCAReconstruction(3).fit(x_train).score_samples(x_test), ref, rtol=1e-10)


def test_pyod_baseline_listed_only_when_importable():
    from aegrad.apps.anomaly.baselines import pyod_available

    assert ("pyod_autoencoder" in list_baselines()) == pyod_available()


def test_cli_images_leave_one_class_out(capsys):
    args = ["anomaly", "--data", "digits", "--classes", "0,1", "--epochs", "5", "--baselines", "pca_reconstruction",
            "--json"]
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["protocol"] == "leave-one-class-out" and set(res["detectors"]) == {"aegrad", "pca_reconstruction"}
    for r in res["detectors"].values():
        assert set(r["per_class"]) == {"0", "1"}  # JSON keys
        assert r["mean_auroc"] == pytest.approx(np.mean([c["auroc"] for c in r["per_class"].values()]))
        assert r["mean_auroc"] > 0.6  # digits 0 and 1 differ from the other eight


def test_bench_tables_render_from_results():
    """The benchmark sections' Markdown comes from their result dicts alone (bench.json -> README)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root holds benchmarks/
    from benchmarks import apps_anomaly

    per = {0: {"auroc": 0.9, "auprc": 0.5}, 1: {"auroc": 0.7, "auprc": 0.3}}
    det = {"per_class": per, "mean_auroc": 0.8, "mean_auprc": 0.4, "wall_s": 1.0}
    res = {
        "images": {"source": "digits", "train_rows": 10, "test_rows": 5,
                   "detectors": {"aegrad": det, "pca_reconstruction": det}},
        "table": {"train_normal_rows": 3, "test_rows": 4, "test_anomalies": 1, "detectors": {"aegrad": per[0]}},
        "pyod": False,
        "target": {"what": "x", "value": 0.8, "best_baseline": "pca_reconstruction", "met": True},
    }
    text = "\n".join(apps_anomaly.table(res))
    assert "| aegrad | 0.900 | 0.700 | 0.8000 | 0.4000 | 1 |" in text
    assert "pyod_autoencoder skipped" in text and ": met." in text
