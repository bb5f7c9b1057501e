"""The remedy catalogue: every patch is a valid `aegrad train --set` override, ranked per finding."""

from __future__ import annotations

import shlex

import pytest

from aegrad.config import Config, parse_set_args, with_overrides
from aegrad.diagnose import REMEDIES, format_patch, list_remedies, remedies_for
from aegrad.diagnose.remedies import TREATABLE, RunConfig, format_value

DEFAULT = Config()
WORST = with_overrides(
    DEFAULT,
    {
        "model.activation": "sigmoid",
        "model.init": "default",
        "model.bias_init": -5.0,
        "model.init_gain": 20.0,
        "model.depth": 8,
        "data.normalize": "none",
        "train.optimizer": "sgd",
        "train.lr": 0.1,
    },
)
CONFIGS = {"default": DEFAULT, "worst": WORST, "unknown": None}

# The source document's remedies (DESIGN.md) and the catalogue names that carry them.
SOURCE_REMEDIES = {
    "network structure / skip connections": ("residual", "shallower"),
    "ReLU / Leaky ReLU / PReLU": ("relu_kaiming", "leaky_relu", "prelu"),
    "L1 / L2 regularisation": ("l1", "l2"),
    "Momentum / Nesterov / Adam": ("momentum", "nesterov", "adam"),
    "gradient accumulation and clipping": ("accumulate", "clip_norm", "clip_value"),
    "layer-wise pretraining": ("pretrain_layerwise",),
}


@pytest.mark.parametrize("topic", sorted(SOURCE_REMEDIES))
def test_source_document_remedies_are_catalogued(topic):
    for name in SOURCE_REMEDIES[topic]:
        assert name in list_remedies()


@pytest.mark.parametrize("name", REMEDIES.names())
def test_every_patch_validates_through_set(name):
    r = REMEDIES.get(name)
    assert r.why and r.treats and set(r.treats) <= set(TREATABLE)
    applied = 0
    for cfg in CONFIGS.values():
        patch = r.patch(RunConfig(cfg))
        if patch is None:
            continue
        applied += 1
        base = cfg or DEFAULT
        direct = with_overrides(base, patch)
        flags = shlex.split(format_patch(patch))
        assert flags[0::2] == ["--set"] * len(patch)
        via_cli = with_overrides(base, parse_set_args(flags[1::2]))  # values parsed as YAML, like --set
        assert via_cli == direct
        for key, value in patch.items():
            node = direct.to_dict()
            for part in key.split("."):
                node = node[part]
            assert node == value
    assert applied, f"remedy {name} applies to none of {list(CONFIGS)}"


def test_remedies_skip_what_the_run_already_does():
    cfg = with_overrides(DEFAULT, {"model.residual": True, "model.norm": "layer", "train.pretrain": "layerwise"})
    names = [r["name"] for r in remedies_for("vanishing_gradient", cfg)]
    assert not {"residual", "layer_norm", "batch_norm", "pretrain_layerwise"} & set(names)
    assert "relu_kaiming" not in names  # relu is the default activation
    worst = [r["name"] for r in remedies_for("vanishing_gradient", WORST)]
    # the values set away from the standard init first (the cause), then the structural fixes
    assert worst[:6] == ["reset_init_gain", "zero_bias", "modern_recipe", "relu_kaiming", "residual", "layer_norm"]


def test_an_init_set_away_from_the_standard_is_the_first_remedy_for_what_it_causes():
    small = with_overrides(DEFAULT, {"model.init_gain": 0.2})
    for kind in ("vanishing_gradient", "stalled_loss", "saturation", "exploding_gradient"):
        assert remedies_for(kind, small)[0]["patch"] == {"model.init_gain": 1.0}, kind
    assert all(r["name"] != "reset_init_gain" for r in remedies_for("stalled_loss", DEFAULT))  # gain 1: not proposed
    sig = with_overrides(DEFAULT, {"model.activation": "sigmoid", "model.bias_init": 2.0})
    assert remedies_for("saturation", sig)[0]["patch"] == {"model.bias_init": 0.0}  # any bias moves sigmoid units
    relu_up = with_overrides(DEFAULT, {"model.bias_init": 0.5})
    assert all(r["name"] != "zero_bias" for r in remedies_for("dead_units", relu_up))  # a positive bias kills no ReLU
    leaky = with_overrides(DEFAULT, {"model.activation": "leaky_relu", "model.bias_init": -3.0})
    assert remedies_for("vanishing_gradient", leaky)[0]["patch"] == {"model.bias_init": 0.0}


def test_learning_rate_remedies_follow_the_runs_lr():
    cfg = with_overrides(DEFAULT, {"train.lr": 0.003})
    assert {"train.lr": 0.03} in [r["patch"] for r in remedies_for("stalled_loss", cfg)]
    assert {"train.lr": 0.0003} in [r["patch"] for r in remedies_for("exploding_gradient", cfg)]
    assert all("train.lr" not in r["patch"] or r["name"] == "adam" for r in remedies_for("stalled_loss", None))


@pytest.mark.parametrize("kind", TREATABLE)
def test_every_kind_has_ranked_remedies(kind):
    out = remedies_for(kind, None)
    assert len(out) >= 2
    patches = [r["patch"] for r in out]
    assert len(patches) == len({format_patch(p) for p in patches})  # no duplicates


def test_unknown_kind_lists_the_valid_ones():
    with pytest.raises(KeyError, match="vanishing_gradient"):
        remedies_for("bad_vibes")


def test_values_print_as_yaml_scalars():
    assert format_value(True) == "true"
    assert format_value(1e-5) == "1.0e-05"
    assert format_value("zscore") == "zscore"
    assert format_value([512, 256]) == "[512, 256]"
    assert format_patch({"model.widths": [512]}) == "--set 'model.widths=[512]'"
