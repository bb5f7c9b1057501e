"""The remedy catalogue: every patch is a valid `aegrad train --set` override, ranked per finding."""

from __future__ import annotations

import shlex

import pytest

from aegrad.config import Config, parse_set_args, with_overrides
from aegrad.diagnose import REMEDIES, ConfigView, Kind, Target, format_patch, list_remedies, remedies_for
from aegrad.diagnose.patches import format_value

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
# A deep dense net (the depth remedies apply from remedies.DEEP hidden layers per side), sigmoid, no skips.
DEEP_SIGMOID = with_overrides(DEFAULT, {"model.depth": 32, "model.width": 64, "model.activation": "sigmoid"})
CONFIGS = {"default": DEFAULT, "worst": WORST, "unknown": None, "deep": DEEP_SIGMOID}

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
    assert r.why and r.treats and set(r.treats) <= set(Target)
    applied = 0
    for cfg in CONFIGS.values():
        patch = r.patch(ConfigView(cfg))
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


# A model family's own finding kinds, and a config of that family for which its remedies apply.
FAMILY_CONFIGS = {
    Kind.POSTERIOR_COLLAPSE: with_overrides(DEFAULT, {"model.variational": True, "model.vae.beta": 4.0}),
    Kind.VANISHING_THROUGH_TIME: with_overrides(DEFAULT, {"model.kind": "seq", "model.seq.cell": "rnn",
                                                          "data.source": "text", "data.text.corpus": "fortunes"}),
    Kind.CODEC_RATE_COLLAPSE: with_overrides(DEFAULT, {"model.kind": "codec"}),
}


@pytest.mark.parametrize("kind", list(Target))
def test_every_kind_has_ranked_remedies(kind):
    out = remedies_for(kind, FAMILY_CONFIGS.get(kind))
    assert len(out) >= (1 if kind in FAMILY_CONFIGS else 2)
    patches = [r["patch"] for r in out]
    assert len(patches) == len({format_patch(p) for p in patches})  # no duplicates


def test_family_remedies_are_registered_beside_the_gradient_health_ones():
    seq = FAMILY_CONFIGS[Kind.VANISHING_THROUGH_TIME]
    assert [r["name"] for r in remedies_for(Kind.VANISHING_THROUGH_TIME, seq)] == [
        "gru_cell", "lstm_cell", "shorter_sequences", "layer_norm", "clip_norm"]
    # its layer_norm is the recurrent cell's, not the gradient-health remedy of the same name
    assert remedies_for(Kind.VANISHING_THROUGH_TIME, seq)[3]["patch"] == {"model.seq.layer_norm": True}
    assert {"layer_norm", "vanishing_through_time:layer_norm"} <= set(list_remedies())
    codec = remedies_for(Kind.CODEC_RATE_COLLAPSE, FAMILY_CONFIGS[Kind.CODEC_RATE_COLLAPSE])
    assert codec == [{"patch": {"model.codec.lmbda": 0.1}, "why": REMEDIES.get("codec_raise_lambda").why,
                      "name": "codec_raise_lambda"}]
    # the gradient-health kinds' remedies are diagnose/remedies.py's, whatever the families register
    for t in Target:
        if t not in FAMILY_CONFIGS:
            for r in remedies_for(t, None):
                assert REMEDIES.get(r["name"]).patch.__module__ == "aegrad.diagnose.remedies", (t, r["name"])


def test_config_reads_are_checked_against_the_typed_config():
    view = ConfigView(None)
    assert view.model.vae.free_bits is None and not view.known  # unknown: None, not the default
    assert ConfigView({"model": {"activation": "tanh"}}).model.activation == "tanh"
    assert ConfigView({"model": {"activation": "tanh"}}).train.lr is None  # a partial config: the rest unknown
    assert ConfigView(DEFAULT).train.lr == DEFAULT.train.lr and ConfigView(DEFAULT).model.seq.cell == "gru"
    with pytest.raises(AttributeError, match="ModelConfig has no field 'activaton'; valid: kind, widths"):
        _ = view.model.activaton
    with pytest.raises(AttributeError, match="VAEConfig has no field 'freebits'"):
        _ = ConfigView(DEFAULT).model.vae.freebits
    # the view's own names are clear of every section's fields
    sections = [Config, *(f.annotation for m in (Config, type(DEFAULT.model), type(DEFAULT.data))
                          for f in m.model_fields.values() if isinstance(f.annotation, type))]
    fields = {name for m in sections if hasattr(m, "model_fields") for name in m.model_fields}
    assert not fields & {"known", "to_dict"}


def test_unknown_kind_lists_the_valid_ones():
    with pytest.raises(KeyError, match="vanishing_gradient"):
        remedies_for("bad_vibes")


def test_values_print_as_yaml_scalars():
    assert format_value(True) == "true"
    assert format_value(1e-5) == "1.0e-05"
    assert format_value("zscore") == "zscore"
    assert format_value([512, 256]) == "[512, 256]"
    assert format_patch({"model.widths": [512]}) == "--set 'model.widths=[512]'"
