"""One source of truth: the gradients.jsonl reader, activation families, finding kinds, error formatting."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch.nn as nn

import aegrad
from aegrad.config import format_validation_error, load_config
from aegrad.diagnose import DETECTORS, diagnose, read_records
from aegrad.diagnose.kinds import BEFORE_TRAINING, Kind, Severity, Target
from aegrad.diagnose.records import final_layout, layer_grad_rms
from aegrad.diagnose.catalogue import remedies_for
from aegrad.diagnose.remedies import BOUNDED, NEGATIVE_SLOPE
from aegrad.diagnose.stats import activation_family, activation_stats
from aegrad.errors import UserError
from aegrad.models.activations import (
    RECOGNISED_MODULES,
    activation_name,
    activation_names,
    create_activation,
    get_activation,
    list_activations,
)
from aegrad.study.results import grad_ratios
from aegrad.study.spec import Spec, parse_spec

SRC = Path(aegrad.__file__).parent


def _rec(step, layers=("a", "b"), rms=(1e-3, 2e-3)):
    return {"step": step, "window_steps": 10, "layers": list(layers), "numel": [4] * len(layers),
            "grad_norm": {"mean": [2 * r for r in rms], "max": [2 * r for r in rms], "min": [2 * r for r in rms]},
            "grad_rms": list(rms), "weight_norm": [1.0] * len(layers), "update_ratio": None,
            "nonfinite_steps": 0, "loss": {"mean": 0.1, "min": 0.1, "max": 0.1}, "activations": {}}


# ---------------------------------------------------------------- gradients.jsonl


def test_read_records_skips_blank_torn_and_foreign_lines(tmp_path):
    recs = [_rec(10), _rec(20, rms=(1e-5, 1e-3))]
    text = "".join(json.dumps(r) + "\n" for r in recs)
    path = tmp_path / "gradients.jsonl"
    path.write_text("\n" + text + '{"kind": "not a window"}\n' + '{"step": 30, "layers": ["a"', encoding="utf-8")
    assert read_records(path) == recs
    assert read_records(tmp_path / "missing.jsonl") == []


def test_layout_and_sizes_helpers():
    recs = [_rec(10, layers=("x",), rms=(1.0,)), _rec(20), _rec(30, rms=(float("nan"), 4e-3))]
    assert [r["step"] for r in final_layout(recs)] == [20, 30]
    assert layer_grad_rms(recs[1]) == [1e-3, 2e-3]
    assert layer_grad_rms(recs[2]) == [None, 4e-3]
    no_rms = dict(recs[1], grad_rms=None)
    assert layer_grad_rms(no_rms) == [2e-3, 4e-3]  # falls back to the mean norm
    assert grad_ratios(recs[1:]) == (0.5, None)


def test_gradients_jsonl_is_parsed_only_by_the_reader():
    """diagnose, study and report read gradients.jsonl through diagnose/records.py alone."""
    for folder in ("diagnose", "study", "report"):
        for path in (SRC / folder).glob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"read_jsonl\([^)]*GRADIENTS", text), path
            if path.name != "records.py":
                assert "json.loads(line" not in text, path


# ---------------------------------------------------------------- activation families


@pytest.mark.parametrize("name", list_activations())
def test_every_registered_activation_has_one_family(name):
    spec = get_activation(name)
    module = create_activation(name, 3)
    assert activation_name(module) == name
    assert activation_family(module) == spec.unit  # the monitor's statistics read the registry
    assert (name in BOUNDED) == (spec.family == "bounded") == (spec.unit in ("sigmoid", "tanh"))
    assert (name in NEGATIVE_SLOPE) == (spec.unit == "leaky")
    stats = activation_stats(module(torch_randn()), spec.unit)
    assert (stats["dead"] == stats["dead"]).item() == (spec.unit in ("relu", "leaky"))  # NaN when not measured
    assert (stats["saturated"] == stats["saturated"]).item() == (spec.unit in ("sigmoid", "tanh"))


def torch_randn():
    import torch

    return torch.randn(16, 3, generator=torch.Generator().manual_seed(0))


def test_families_unchanged_for_modules_aegrad_does_not_build():
    # the monitor recognises these in anyone's model: their families are what gradients.jsonl always held
    assert {cls: activation_family(cls()) for cls in RECOGNISED_MODULES} == {
        nn.ReLU6: "relu", nn.CELU: "leaky", nn.Mish: "leaky"}
    assert activation_family(nn.Linear(2, 2)) is None and activation_name(nn.ReLU6()) is None
    assert activation_names(family="bounded") == ("sigmoid", "tanh")
    assert set(activation_names(unit="leaky")) == {"leaky_relu", "prelu", "elu", "selu", "gelu", "silu"}


def test_remedies_follow_the_declared_families():
    for act in list_activations():
        names = [r["name"] for r in remedies_for("dead_units", {"model": {"activation": act}})]
        assert ("leaky_relu" in names) == (act not in NEGATIVE_SLOPE), act
        names = [r["name"] for r in remedies_for("vanishing_gradient", {"model": {"activation": act}})]
        assert ("relu_kaiming" in names) == (act in BOUNDED), act


# ---------------------------------------------------------------- kinds and severities


def test_kinds_are_named_once_and_serialise_as_before():
    # one catalogue: each kind has its detector, the families' too; those judged before training have no run to read
    assert set(Kind) == set(DETECTORS.names()) | set(BEFORE_TRAINING)
    assert set(BEFORE_TRAINING) == {"untrainable_at_init"} and not set(BEFORE_TRAINING) & set(DETECTORS.names())
    assert [str(k) for k in Kind] == ["exploding_gradient", "dead_units", "saturation", "vanishing_gradient",
                                      "stalled_loss", "update_ratio", "oversize_update", "undertrained",
                                      "posterior_collapse", "vanishing_through_time", "codec_rate_collapse",
                                      "untrainable_at_init"]
    # what remedies treat is derived from the kinds: update_ratio by direction, undertrained (the doctor's patch) and
    # untrainable_at_init (the vanishing or exploding gradients' remedies) not
    assert {str(t) for t in Target} == ({str(k) for k in Kind} - {"update_ratio", "undertrained", "untrainable_at_init"}
                                        | {"update_ratio_low", "update_ratio_high"})
    assert Target.UPDATE_RATIO_LOW == "update_ratio_low" and Target.POSTERIOR_COLLAPSE == Kind.POSTERIOR_COLLAPSE
    assert f"{Severity.ERROR}" == "error" and Severity.ERROR.upper() == "ERROR"
    assert {Kind.SATURATION: 1}["saturation"] == 1 and {"saturation": 1}[Kind.SATURATION] == 1
    # a vanishing-gradient run's findings.json: the same text as plain strings would give
    recs = [_rec(10 * i, layers=("a", "b", "c"), rms=(1e-9, 1e-5, 1e-3)) for i in range(1, 9)]
    found = diagnose(recs, trivial_mse=0.1, test_mse=0.1)
    text = json.dumps(found)
    assert '"kind": "vanishing_gradient"' in text and '"severity": "error"' in text
    assert json.loads(text) == found


# ---------------------------------------------------------------- validation errors


def test_one_formatter_for_configs_and_specs():
    with pytest.raises(UserError) as err:
        load_config(overrides={"model.nope": 1})
    assert str(err.value).startswith("unknown config key 'model.nope'; valid keys here: kind, widths,")
    with pytest.raises(UserError) as err:
        load_config(overrides={"train.lr": -1})
    assert str(err.value) == "invalid config value for 'train.lr': Input should be greater than 0 (got -1)"
    with pytest.raises(UserError) as err:
        parse_spec({"name": "t", "bundles": {"b": {"overrides": {}, "nope": 1}}}, where="s.yaml")
    assert str(err.value) == "s.yaml: unknown spec key 'bundles.b.nope'; valid keys here: overrides, tune, description"
    with pytest.raises(UserError) as err:
        parse_spec({"name": "t", "quick_applied": 3})
    assert "valid keys" not in str(err.value) and "\n" not in str(err.value)
    # the study spec's internal fields are never offered as keys
    try:
        Spec.model_validate({"name": "t", "oops": 1})
    except Exception as e:  # noqa: BLE001
        msg = format_validation_error(e, Spec, "spec", hidden=("quick_applied", "source_dir"))
    assert "quick_applied" not in msg and "source_dir" not in msg and "threshold" in msg


# ---------------------------------------------------------------- remedies in words for a hand-built model


def _vanishing_records():
    return [_rec(10 * i, layers=("0", "2", "4"), rms=(1e-9, 1e-5, 1e-3)) for i in range(1, 9)]


def test_remedies_in_words_when_aegrad_did_not_build_the_model():
    from aegrad.diagnose import format_findings

    words = diagnose(_vanishing_records(), trivial_mse=0.1, test_mse=0.1, patches=False)
    flags = diagnose(_vanishing_records(), trivial_mse=0.1, test_mse=0.1)
    assert [f["kind"] for f in words["findings"]] == [f["kind"] for f in flags["findings"]]  # same diagnosis
    top = words["findings"][0]["remedies"][0]
    assert "patch" not in top and top["name"] == flags["findings"][0]["remedies"][0]["name"] == "relu_kaiming"
    assert top["action"] == ("use ReLU (torch.nn.ReLU) as the hidden activation; initialise the weights with "
                             "He (Kaiming) normal initialisation (torch.nn.init.kaiming_normal_)")
    text = format_findings(words)
    assert "--set" not in text and "try: use ReLU (torch.nn.ReLU)" in text
    assert "try: --set model.activation=relu --set model.init=kaiming_normal" in format_findings(flags)


def test_the_monitor_says_remedies_in_words_unless_given_an_aegrad_config():
    from aegrad.diagnose import GradientMonitor

    net = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 4))
    for config, key in ((None, "action"), ({"model": {"activation": "sigmoid"}}, "patch")):
        mon = GradientMonitor(net, config=config)
        mon._records = _vanishing_records()  # the windows a deep sigmoid net's training syncs
        remedies = mon.findings(trivial_mse=0.1, test_mse=0.1)["findings"][0]["remedies"]
        assert all(set(r) == {key, "why", "name"} for r in remedies), remedies
        mon.close()


def test_every_remedy_patch_has_words():
    from aegrad.diagnose.catalogue import REMEDIES
    from aegrad.diagnose.configview import ConfigView
    from aegrad.diagnose.patches import KEY_WORDS, describe_patch

    cfg = ConfigView({"model": {"activation": "sigmoid", "init": "default", "depth": 8, "init_gain": 3.0,
                               "bias_init": -1.0, "norm": "none"}, "train": {"lr": 0.01, "optimizer": "sgd"},
                     "data": {"normalize": "none"}})
    deep = ConfigView(load_config(overrides={"model.activation": "sigmoid", "model.depth": 32, "model.width": 64,
                                             "train.warmup_steps": 0}))  # the depth remedies apply
    for name in REMEDIES.names():
        r = REMEDIES.get(name)
        if r.patch.__module__ != "aegrad.diagnose.remedies":
            continue  # a model family's remedy for its own config section: said as "set KEY to VALUE"
        for view in (cfg, deep):
            patch = r.patch(view)
            if patch is None:
                continue
            assert set(patch) <= set(KEY_WORDS), (name, patch)
            assert "--set" not in describe_patch(patch) and "model." not in describe_patch(patch)
    assert describe_patch({"train.lr": 0.0001, "x.y": 2}) == "set the learning rate to 0.0001; set x.y to 2"


def test_damaged_gradient_records_are_skipped_not_indexed():
    """A record missing a key, with a list of the wrong length, or of the wrong kind is skipped (no KeyError later)."""
    import json as _json

    from aegrad.diagnose.records import parse_records

    good = {"step": 50, "window_steps": 50, "layers": ["a", "b"], "numel": [4, 2],
            "grad_norm": {"mean": [1.0, 2.0], "max": [1.0, 2.0], "min": [1.0, 2.0]}, "grad_rms": [0.5, 1.0],
            "weight_norm": [1.0, 1.0], "update_ratio": None, "nonfinite_steps": 0, "loss": None, "activations": {}}
    missing = {k: v for k, v in good.items() if k != "window_steps"}
    short = {**good, "grad_rms": [0.5]}
    wrong = {**good, "step": "50"}
    lines = [_json.dumps(r) for r in (good, missing, short, wrong, [1, 2], "x")] + ['{"torn": ']
    assert parse_records(lines) == [good]
