"""Detectors on constructed record sequences, the findings.json shape, and the terminal format."""

from __future__ import annotations

import json

import pytest

from aegrad.diagnose import DETECTORS, Finding, Kind, Severity, diagnose, format_findings, list_detectors
from aegrad.diagnose.view import RunView

LAYERS = ["enc.0", "enc.1", "dec.0", "dec.1"]
KINDS = {"vanishing_gradient", "exploding_gradient", "dead_units", "saturation", "stalled_loss", "update_ratio"}


def rec(step, rms=(1e-3, 1e-3, 1e-3, 1e-3), update=1e-3, loss=0.05, nonfinite=0, acts=None, norm_max=None):
    """One gradients.jsonl window in the monitor's format (numel 100 per layer)."""
    norm = [None if r is None else r * 10 for r in rms]
    return {
        "step": step,
        "window_steps": 50,
        "layers": LAYERS,
        "numel": [100] * 4,
        "grad_norm": {"mean": norm, "max": norm_max or norm, "min": norm},
        "grad_rms": list(rms),
        "weight_norm": [1.0] * 4,
        "update_ratio": None if update is None else [update] * 4,
        "nonfinite_steps": nonfinite,
        "loss": {"mean": loss, "min": loss, "max": loss},
        "activations": acts or {},
    }


def act(family, dead=None, saturated=None, mean=0.5, std=0.5, output=False):
    return {"family": family, "mean": mean, "std": std, "dead": dead, "saturated": saturated, "output": output}


def run(n=8, **kw):
    return [rec(50 * (i + 1), **kw) for i in range(n)]


def kinds(obj):
    return [f["kind"] for f in obj["findings"]]


def test_healthy_records_give_no_finding():
    acts = {"a1": act("relu", dead=0.3), "a2": act("sigmoid", saturated=0.3, output=True)}
    obj = diagnose(run(acts=acts), trivial_mse=0.1, test_mse=0.03)
    assert obj == {"healthy": True, "findings": []}
    assert format_findings(obj).startswith("healthy")


def test_vanishing_needs_the_loss_to_stall_when_the_baseline_is_known():
    records = run(rms=(1e-9, 1e-7, 1e-6, 1e-3))
    stalled = diagnose(records, trivial_mse=0.1, test_mse=0.1)
    assert kinds(stalled) == ["vanishing_gradient"]
    f = stalled["findings"][0]
    assert f["severity"] == "error"
    assert f["evidence"]["first_last_rms_ratio"] == pytest.approx(1e-6)
    assert f["evidence"]["per_layer_factor"] == pytest.approx(0.01)
    assert f["layers"] == ["enc.0", "enc.1", "dec.0"]
    assert diagnose(records, trivial_mse=0.1, test_mse=0.02)["healthy"]  # it learns: depth is not a finding
    unknown = diagnose(records)
    assert kinds(unknown) == ["vanishing_gradient"] and unknown["findings"][0]["severity"] == "warning"


def test_vanishing_must_be_sustained():
    records = [rec(50 * (i + 1), rms=(1e-9, 1e-3, 1e-3, 1e-3)) for i in range(4)] + run(4)
    assert "vanishing_gradient" not in kinds(diagnose(records, trivial_mse=0.1, test_mse=0.1))


def test_stalled_loss_with_healthy_gradients_is_not_vanishing():
    records = run(update=3e-5, loss=0.1)
    cfg = {"train": {"optimizer": "momentum", "lr": 0.1}}
    obj = diagnose(records, trivial_mse=0.1, test_mse=0.1, config=cfg)
    assert kinds(obj) == ["stalled_loss"]  # the low update ratio is its evidence, not a second finding
    f = obj["findings"][0]
    assert f["evidence"]["median_update_ratio"] == pytest.approx(3e-5)
    assert "too small" in f["explanation"]
    patches = [r["patch"] for r in f["remedies"]]
    assert patches[:3] == [
        {"train.optimizer": "adam", "train.lr": 0.001},
        {"train.lr": 1.0},
        {"train.optimizer": "nesterov"},
    ]


def test_stalled_without_a_baseline_means_no_improvement():
    assert kinds(diagnose(run(loss=0.2))) == ["stalled_loss"]
    improving = [rec(50 * (i + 1), loss=0.2 - 0.01 * i) for i in range(8)]
    assert diagnose(improving)["healthy"]


def test_test_mse_is_read_from_metrics():
    metrics = [{"kind": "epoch", "epoch": 1, "test_mse": 0.2}, {"kind": "epoch", "epoch": 2, "test_mse": 0.1}]
    obj = diagnose(run(), metrics=metrics, trivial_mse=0.1)
    assert kinds(obj) == ["stalled_loss"] and obj["findings"][0]["evidence"]["test_mse"] == 0.1


def test_nonfinite_is_an_exploding_error_and_hides_later_noise():
    records = run(2) + [rec(150, rms=(None, None, None, None), loss=None, nonfinite=50, update=None)]
    records += [
        rec(200 + 50 * i, rms=(None,) * 4, loss=None, nonfinite=50, acts={"a": act("relu", dead=1.0)}) for i in range(5)
    ]
    obj = diagnose(records, trivial_mse=0.1)
    assert kinds(obj) == ["exploding_gradient"]
    f = obj["findings"][0]
    assert f["severity"] == "error" and f["evidence"]["nonfinite_steps"] == 300
    assert f["evidence"]["first_nonfinite_window_step"] == 150
    json.dumps(obj, allow_nan=False)


def test_exploding_from_growth_and_from_huge_updates():
    growing = [rec(50 * (i + 1), rms=(10.0**i,) * 4) for i in range(6)]
    assert kinds(diagnose(growing)) == ["exploding_gradient"]
    assert diagnose(growing)["findings"][0]["evidence"]["grad_norm_growth"] >= 100
    spike = run(update=1e-3)
    spike[0]["update_ratio"] = [3.0, 1e-3, 1e-3, 1e-3]
    obj = diagnose(spike)  # one huge step with flat gradients: the learning rate, not an exploding gradient
    assert kinds(obj) == ["oversize_update"] and obj["findings"][0]["layers"] == ["enc.0"]


def test_exploding_activations():
    acts = {"a1": act("relu", mean=1.0, std=1.0, dead=0.1), "a2": act("relu", mean=5e4, std=5e4, dead=0.1)}
    obj = diagnose(run(acts=acts), config={"model": {"init_gain": 20.0}, "train": {"lr": 0.01}})
    assert kinds(obj) == ["exploding_gradient"]
    f = obj["findings"][0]
    assert f["evidence"]["activation_growth"] == pytest.approx(5e4)
    assert "a2" in f["layers"]
    assert [r["patch"] for r in f["remedies"][:2]] == [{"model.init_gain": 1.0}, {"train.lr": 0.001}]


def test_dead_units_only_for_relu_and_hidden():
    dead = {"a1": act("relu", dead=0.99), "a2": act("leaky", dead=1.0)}
    obj = diagnose(run(acts=dead), trivial_mse=0.1, test_mse=0.05)
    assert kinds(obj) == ["dead_units"]
    f = obj["findings"][0]
    assert f["layers"] == ["a1"] and f["severity"] == "error"
    assert f["remedies"][0]["patch"] == {"model.activation": "leaky_relu"}
    warn = diagnose(run(acts={"a1": act("relu", dead=0.75)}), trivial_mse=0.1, test_mse=0.05)
    assert warn["findings"][0]["severity"] == "warning"
    cfg = {"model": {"activation": "leaky_relu", "bias_init": -5.0}}
    patches = [r["patch"] for r in diagnose(run(acts=dead), config=cfg)["findings"][0]["remedies"]]
    assert patches[0] == {"model.bias_init": 0.0}
    assert {"model.activation": "leaky_relu"} not in patches  # already set


def test_saturation_hidden_and_output():
    hidden = {"s1": act("sigmoid", saturated=0.95), "out": act("sigmoid", saturated=1.0, output=True)}
    obj = diagnose(run(acts=hidden), trivial_mse=0.1, test_mse=0.05)
    assert kinds(obj) == ["saturation"] and obj["findings"][0]["layers"] == ["s1"]
    output_only = {"t1": act("tanh", saturated=0.1), "out": act("sigmoid", saturated=1.0, output=True)}
    assert diagnose(run(acts=output_only), trivial_mse=0.1, test_mse=0.05)["healthy"]  # learning: fine
    stuck = diagnose(run(acts=output_only), trivial_mse=0.1, test_mse=0.3)
    assert kinds(stuck) == ["saturation"] and stuck["findings"][0]["layers"] == ["out"]
    # deep saturation does not blame the input scale
    names = [r["name"] for r in stuck["findings"][0]["remedies"]]
    assert "normalize_inputs" not in names


def test_update_ratio_far_from_the_heuristic():
    low = diagnose(run(update=1e-7), trivial_mse=0.1, test_mse=0.05, config={"train": {"lr": 1e-4}})
    assert kinds(low) == ["update_ratio"]
    assert low["findings"][0]["remedies"][0]["patch"] == {"train.lr": 0.001}
    high = diagnose(run(update=0.3), trivial_mse=0.1, test_mse=0.05, config={"train": {"lr": 1.0}})
    assert kinds(high) == ["update_ratio"]
    assert high["findings"][0]["remedies"][0]["patch"] == {"train.lr": 0.1}


def test_findings_json_shape_and_terminal_format():
    records = run(rms=(1e-9, 1e-7, 1e-5, 1e-3), acts={"s1": act("sigmoid", saturated=0.95)})
    obj = diagnose(records, trivial_mse=0.1, test_mse=0.1)
    assert set(obj) == {"healthy", "findings"} and obj["healthy"] is False
    for f in obj["findings"]:
        assert f["kind"] in KINDS and f["severity"] in ("warning", "error")
        assert isinstance(f["layers"], list) and isinstance(f["evidence"], dict) and f["explanation"]
        assert all(set(r) >= {"patch", "why"} and r["patch"] for r in f["remedies"])
    json.dumps(obj, allow_nan=False)
    text = format_findings(obj)
    assert "ERROR saturation" in text and "ERROR vanishing_gradient" in text
    assert "try: --set " in text
    assert len(text.splitlines()) == 4 * len(obj["findings"])


@pytest.mark.parametrize("name", list_detectors())
def test_every_detector_is_registered_and_quiet_on_nothing(name):
    assert name in Kind and DETECTORS.get(name).name == name
    assert DETECTORS.get(name).fn(RunView([], None, None, None, None)) == []


def test_core_kinds_have_their_detectors():
    assert KINDS <= set(list_detectors())


def test_a_finding_is_typed_and_writes_the_findings_json_entry():
    remedies = [{"patch": {}, "why": "w", "name": "n"}]
    f = Finding(Kind.STALLED_LOSS, Severity.ERROR, [], {"test_mse": 0.1}, "why", remedies)
    assert list(f.to_dict()) == ["kind", "severity", "layers", "evidence", "explanation", "remedies"]
    assert json.dumps(f.to_dict()) == json.dumps({"kind": "stalled_loss", "severity": "error", "layers": [],
                                                  "evidence": {"test_mse": 0.1}, "explanation": "why",
                                                  "remedies": [{"patch": {}, "why": "w", "name": "n"}]})
    obj = diagnose(run(loss=0.2))
    assert all(isinstance(x, dict) for x in obj["findings"])  # diagnose returns the findings.json object


def test_empty_records_are_healthy():
    assert diagnose([]) == {"healthy": True, "findings": []}
