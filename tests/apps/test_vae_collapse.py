"""Posterior collapse as a finding: a beta-VAE that collapses is found, its top remedy revives the code,
and a healthy VAE gets no finding (digits, latent 16, 15 epochs: ~2 s each)."""

from __future__ import annotations

import pytest

import aegrad
from aegrad.apps.vae.diagnosis import collapse_findings
from aegrad.diagnose import Kind, diagnose, remedies_for
from aegrad.models.variational.findings import posterior_collapse

KIND = Kind.POSTERIOR_COLLAPSE

BASE = {"model.variational": True, "data.binarize": "dynamic", "model.latent": 16, "train.epochs": 15}


def _train(tmp_path, name, **over):
    cfg = aegrad.load_config(overrides={**BASE, **over})
    return aegrad.train(cfg, out=tmp_path / name, report=False)


@pytest.fixture(scope="module")
def collapsed(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("collapse"), "beta4", **{"model.vae.beta": 4.0})


def test_collapsing_config_is_found_with_evidence(collapsed):
    findings = collapse_findings(collapsed.path)
    assert [f["kind"] for f in findings] == [KIND]
    f = findings[0]
    assert f["severity"] == "error"
    ev = f["evidence"]
    assert ev["active_units"] == "0/16" and len(ev["active_units_per_epoch"]) == 15
    assert len(ev["kl_per_dim_nats"]) == 16 and max(ev["kl_per_dim_nats"]) < 0.05
    assert ev["beta"] == 4.0
    assert [r["name"] for r in f["remedies"]] == ["free_bits", "lower_beta", "kl_warmup", "weaker_decoder"]
    # the same finding comes out of the diagnosis once it is given the run's metrics
    full = diagnose(collapsed.gradients, metrics=collapsed.metrics, trivial_mse=collapsed.summary["trivial_mse"],
                    test_mse=collapsed.summary["test_mse"], config=collapsed.config)
    assert KIND in [x["kind"] for x in full["findings"]] and not full["healthy"]
    # and aegrad train's own findings.json and summary say so (the loop hands the diagnosis its metrics)
    assert KIND in [x["kind"] for x in collapsed.findings["findings"]] and not collapsed.summary["healthy"]


def test_top_remedy_brings_active_units_back(collapsed, tmp_path):
    patch = collapse_findings(collapsed.path)[0]["remedies"][0]["patch"]
    fixed = aegrad.train(aegrad.with_overrides(collapsed.config, patch), out=tmp_path / "fixed", report=False)
    assert fixed.summary["test_active_units"] >= 12  # of 16; the collapsed run had 0
    assert fixed.summary["test_kl"] > 1.0
    assert collapse_findings(fixed.path) == []


def test_healthy_vae_gets_no_finding(tmp_path):
    run = _train(tmp_path, "healthy", **{"model.vae.kl_warmup_steps": 200})
    assert run.summary["test_active_units"] == 16
    assert collapse_findings(run.path) == []


def test_detector_on_synthetic_metrics_and_remedies_that_apply():
    def epochs(au, recon):
        return [{"kind": "epoch", "test_active_units": a, "test_recon": r, "test_kl": 0.1, "test_mse": 0.5}
                for a, r in zip(au, recon)]

    def detect(metrics, config, **kw):
        return [f.to_dict() for f in posterior_collapse(metrics, config, **kw)]

    cfg = {"model": {"latent": 10, "kind": "mlp", "widths": [64, 32], "vae": {"beta": 1.0, "free_bits": 0.0}}}
    stalled = epochs([3, 2, 2, 2], [100, 90, 89.9, 89.9])
    assert detect(stalled, cfg)[0]["severity"] == "warning"
    assert detect(stalled, cfg, trivial_mse=0.5)[0]["severity"] == "error"
    assert detect(epochs([3, 2, 2, 2], [100, 90, 80, 70]), cfg) == []  # still learning
    assert detect(epochs([3, 2, 2, 8], [100, 90, 89.9, 89.9]), cfg) == []  # recovered
    assert detect(None, cfg) == [] and detect(stalled, None) == []
    names = [r["name"] for r in remedies_for(KIND, cfg)]
    assert names == ["free_bits", "kl_warmup", "weaker_decoder"]  # beta is already 1
    assert remedies_for(KIND, cfg)[-1]["patch"] == {"model.vae.decoder_widths": [16, 8]}
    conv = {"model": {"latent": 10, "kind": "conv", "vae": {"beta": 2.0, "free_bits": 1.0, "kl_warmup_steps": 100}}}
    assert [r["name"] for r in remedies_for(KIND, conv)] == ["lower_beta"]
    # the finding's remedies are the catalogue's, and the registered detector is what diagnose runs
    assert detect(stalled, cfg)[0]["remedies"] == remedies_for(KIND, cfg)
    record = {"step": 1, "window_steps": 1, "layers": [], "numel": [], "grad_norm": {"mean": [], "max": [], "min": []},
              "grad_rms": [], "weight_norm": [], "update_ratio": None, "nonfinite_steps": 0, "loss": None,
              "activations": {}}
    assert diagnose([record], metrics=stalled, config=cfg)["findings"] == detect(stalled, cfg)
