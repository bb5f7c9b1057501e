"""Config: presets, overrides, validation messages, round trip through YAML."""

from __future__ import annotations

import typing

import pytest
import yaml

from aegrad.config import (
    Config,
    apply_overrides,
    dump_yaml,
    list_presets,
    load_config,
    parse_set_args,
    with_overrides,
)
from aegrad.errors import UserError


def test_presets_listed_and_valid():
    presets = list_presets()
    assert {"digits-mlp", "fashion-mlp", "fashion-conv", "seed-reference"} <= set(presets)
    for name in presets:
        cfg = load_config(preset=name)
        assert cfg.name == name
        assert presets[name]  # a one-line description


def test_default_is_digits():
    assert load_config().data.source == "digits"


def test_overrides_parse_yaml_scalars():
    cfg = load_config(overrides=parse_set_args(["model.depth=8", "train.lr=1e-2", "model.residual=true",
                                                "train.clip_norm=null", "model.widths=[64, 32]"]))
    assert cfg.model.depth == 8 and cfg.train.lr == 0.01 and cfg.model.residual is True
    assert cfg.train.clip_norm is None and cfg.model.widths == [64, 32]
    assert cfg.model.hidden_widths() == [256] * 8


def test_apply_overrides_does_not_mutate():
    base = {"model": {"depth": 2}}
    out = apply_overrides(base, {"model.depth": 4, "train.lr": 0.5})
    assert base == {"model": {"depth": 2}} and out == {"model": {"depth": 4}, "train": {"lr": 0.5}}


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"model.activaton": "relu"}, "unknown config key 'model.activaton'"),
        ({"model.activation": "relux"}, "'model.activation'"),
        ({"train.lr": -1}, "'train.lr'"),
        ({"train.epochs": "many"}, "'train.epochs'"),
        ({"data.source": "npy"}, "data.path is required"),
    ],
)
def test_bad_values_are_one_line_user_errors(override, needle):
    with pytest.raises(UserError) as err:
        load_config(overrides=override)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg


def test_bad_choice_lists_valid_values():
    with pytest.raises(UserError) as err:
        load_config(overrides={"model.activation": "relux"})
    assert "leaky_relu" in str(err.value) and "prelu" in str(err.value)


def test_unknown_key_lists_valid_keys():
    with pytest.raises(UserError) as err:
        load_config(overrides={"train.optimiser": "sgd"})
    assert "optimizer" in str(err.value)


def test_missing_file_and_preset():
    with pytest.raises(UserError, match="not found"):
        load_config(path="/nonexistent/x.yaml")
    with pytest.raises(UserError, match="unknown preset"):
        load_config(preset="nope")
    with pytest.raises(UserError, match="--set expects key=value"):
        parse_set_args(["model.depth"])


def test_yaml_round_trip(tmp_path):
    cfg = with_overrides(load_config(preset="fashion-mlp"), {"model.depth": 3, "train.optimizer": "nesterov"})
    p = tmp_path / "config.yaml"
    p.write_text(dump_yaml(cfg))
    again = load_config(path=p)
    assert again == cfg
    assert yaml.safe_load(p.read_text())["model"]["depth"] == 3


def test_every_field_has_a_comment():
    """STYLE: a comment on every config field (the source line carries a `#`)."""
    import inspect

    from aegrad import config as mod

    src = inspect.getsource(mod)
    for section in (mod.DataConfig, mod.ModelConfig, mod.TrainConfig, mod.MonitorConfig):
        for name in section.model_fields:
            line = next(ln for ln in src.splitlines() if ln.strip().startswith(f"{name}:"))
            assert "#" in line, f"{section.__name__}.{name} has no comment"


def test_literals_match_registries():
    """Each Literal choice list in config equals its registry (no second table drifting)."""
    import aegrad.config as c
    from aegrad.data import list_sources
    from aegrad.models import list_activations, list_inits, list_models
    from aegrad.train.optim import list_optimizers
    from aegrad.train.schedules import list_schedules

    assert sorted(typing.get_args(c.DataSource)) == sorted(list_sources())
    assert sorted(typing.get_args(c.Activation)) == sorted(list_activations())
    assert sorted(typing.get_args(c.Init)) == sorted(list_inits())
    assert sorted(typing.get_args(c.Optimizer)) == sorted(list_optimizers())
    assert sorted(typing.get_args(c.Schedule)) == sorted(list_schedules())
    kind = Config.model_fields["model"].annotation.model_fields["kind"].annotation
    assert sorted(typing.get_args(kind)) == sorted(list_models())


def test_zscore_targets_under_a_sigmoid_output_are_refused():
    from aegrad.config import list_presets

    with pytest.raises(UserError) as err:
        load_config(overrides={"data.normalize": "zscore"})  # the default output is sigmoid
    msg = str(err.value)
    assert "\n" not in msg and "model.output=identity" in msg and "data.normalize=minmax" in msg
    assert load_config(overrides={"data.normalize": "zscore", "model.output": "identity"}).data.normalize == "zscore"
    assert load_config(overrides={"data.normalize": "minmax"}).model.output == "sigmoid"
    for name in list_presets():  # every preset is a valid pairing
        load_config(preset=name)
