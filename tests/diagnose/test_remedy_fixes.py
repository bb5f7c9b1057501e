"""Truthful in both directions, end to end through `aegrad.train`: each constructed failure gets
the right finding, and applying its top remedy as printed makes the same run train."""

from __future__ import annotations

import pytest

import aegrad
from conftest import needs_fashion
from aegrad.config import parse_set_args
from aegrad.diagnose import format_patch

# (name, overrides that build the failure, the finding kind it must produce)
FAILURES = [
    ("vanishing", {"model.depth": 8, "model.width": 64, "model.activation": "sigmoid", "model.init": "default",
                   "train.optimizer": "sgd", "train.lr": 0.1}, "vanishing_gradient"),
    ("dead", {"model.bias_init": -5.0}, "dead_units"),
    ("exploding", {"model.init_gain": 20.0}, "exploding_gradient"),
    ("saturation", {"data.normalize": "none", "model.activation": "sigmoid"}, "saturation"),
]


def _train(tmp_path, name, overrides, epochs=15):
    cfg = aegrad.load_config(overrides={"train.epochs": epochs, **overrides})
    return aegrad.train(cfg, out=tmp_path / name, report=False)


def test_healthy_default_has_no_finding(tmp_path):
    run = _train(tmp_path, "healthy", {})
    assert run.findings == {"healthy": True, "findings": []}
    assert run.summary["test_mse"] < 0.5 * run.summary["trivial_mse"]


@pytest.mark.parametrize(("name", "overrides", "kind"), FAILURES, ids=[f[0] for f in FAILURES])
def test_failure_found_and_top_remedy_fixes_it(tmp_path, name, overrides, kind):
    broken = _train(tmp_path, name, overrides)
    kinds = [f["kind"] for f in broken.findings["findings"]]
    assert kind in kinds, kinds
    assert broken.summary["test_mse"] >= 0.9 * broken.summary["trivial_mse"], broken.summary
    finding = next(f for f in broken.findings["findings"] if f["kind"] == kind)
    top = finding["remedies"][0]["patch"]
    # the patch as printed for the terminal is accepted by --set as is
    printed = format_patch(top).replace("--set ", "").split()
    patch = parse_set_args(printed)
    fixed = _train(tmp_path, name + "-fixed", {**overrides, **patch}, epochs=30)
    assert fixed.summary["test_mse"] < 0.5 * fixed.summary["trivial_mse"], (top, fixed.summary)


@needs_fashion
@pytest.mark.parametrize("preset", ["fashion-mlp", "fashion-conv"])
def test_healthy_fashion_presets_have_no_finding(tmp_path, preset):
    cfg = aegrad.load_config(preset=preset, overrides={"data.limit": 6000, "data.test_limit": 1000, "train.epochs": 2})
    run = aegrad.train(cfg, out=tmp_path / preset, report=False)
    assert run.findings == {"healthy": True, "findings": []}, run.findings
    assert run.summary["test_mse"] < 0.5 * run.summary["trivial_mse"]
