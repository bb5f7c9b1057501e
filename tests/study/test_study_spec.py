"""Study specs: parsing, grid expansion, override order, --quick, the built-in studies."""

from __future__ import annotations

import pytest

from aegrad.errors import UserError
from aegrad.study import expand_trials, expand_tune_trials, list_builtin, load_spec, parse_spec, shrink
from aegrad.study.spec import base_dict, resolve


def _spec(**extra):
    data = {
        "name": "t",
        "base": {"preset": "digits-mlp", "overrides": {"train.epochs": 1}},
        "grid": {"model.depth": [1, 2, 3], "model.width": [8, 16]},
        "bundles": {"a": {"train.optimizer": "sgd"}, "b": {"overrides": {"model.norm": "layer"}}},
        "seeds": [0, 7],
    }
    data.update(extra)
    return parse_spec(data)


def test_grid_expands_keys_bundles_and_seeds():
    trials = expand_trials(_spec())
    assert len(trials) == 3 * 2 * 2 * 2
    assert len({t.id for t in trials}) == len(trials)
    # report order: bundles, then grid points (first key slowest), then seeds
    assert [t.id for t in trials[:5]] == [
        "a-depth1-width8-s0",
        "a-depth1-width8-s7",
        "a-depth1-width16-s0",
        "a-depth1-width16-s7",
        "a-depth2-width8-s0",
    ]
    assert trials[-1].id == "b-depth3-width16-s7"
    assert trials[-1].point == {"model.depth": 3, "model.width": 16}
    assert {t.bundle for t in trials} == {"a", "b"} and {t.seed for t in trials} == {0, 7}


def test_no_grid_no_bundles_is_one_trial_per_seed():
    spec = parse_spec({"name": "one", "repeats": 3})
    assert [t.id for t in expand_trials(spec)] == ["base-s0", "base-s1", "base-s2"]


def test_override_order_base_spec_bundle_tuned_grid_seed():
    # Every layer sets train.lr and seed; each later layer must win over the earlier ones.
    spec = parse_spec(
        {
            "name": "order",
            "base": {"preset": "digits-mlp", "overrides": {"train.lr": 0.1, "seed": 99, "model.latent": 5,
                                                           "train.epochs": 2, "model.activation": "tanh"}},
            "grid": {"train.epochs": [3]},
            "bundles": {"x": {"overrides": {"train.lr": 0.2, "train.epochs": 4, "model.activation": "elu"},
                              "tune": {"key": "train.lr", "values": [0.5]}}},
            "seeds": [11],
        }
    )
    base = base_dict(spec)
    assert base["train"]["lr"] == 0.003 and base["model"]["widths"] == [128, 64]  # the preset (layer 1)
    untuned = resolve(base, expand_trials(spec)[0])
    assert untuned.model.widths == [128, 64]  # preset kept where nothing overrides it
    assert untuned.model.latent == 5  # spec base overrides beat the preset
    assert untuned.model.activation == "elu"  # bundle beats spec base
    assert untuned.train.lr == 0.2  # bundle beats spec base (no tuned value given)
    assert untuned.train.epochs == 3  # grid beats bundle
    assert untuned.seed == 11  # seed beats everything
    tuned = resolve(base, expand_trials(spec, {"x": {"train.lr": 0.5}})[0])
    assert tuned.train.lr == 0.5  # the tuned value beats the bundle
    layers = [name for name, _ in expand_trials(spec)[0].layers]
    assert layers == ["base", "bundle", "tuned", "grid", "seed"]


def test_tune_trials_sit_at_the_at_point_with_the_first_seed():
    spec = _spec(tune={"key": "train.lr", "values": [0.01, 0.1], "at": {"model.depth": 2}})
    sweeps = expand_tune_trials(spec)
    assert set(sweeps) == {"a", "b"}
    a = sweeps["a"]
    assert [t.id for t in a] == ["a-lr0.01", "a-lr0.1"]
    assert all(t.point == {"model.depth": 2, "model.width": 8} and t.seed == 0 for t in a)
    cfg = resolve(base_dict(spec), a[1])
    assert cfg.train.lr == 0.1 and cfg.train.optimizer == "sgd" and cfg.model.depth == 2


def test_every_point_sweeps_at_each_grid_point_and_each_point_takes_its_own_value():
    spec = _spec(tune={"key": "train.lr", "values": [0.01, 0.1], "every_point": True})
    sweeps = expand_tune_trials(spec)
    assert set(sweeps) == {f"{b}@depth{d}-width{w}" for b in "ab" for d in (1, 2, 3) for w in (8, 16)}
    a = sweeps["a@depth2-width16"]
    assert [t.id for t in a] == ["a-depth2-width16-lr0.01", "a-depth2-width16-lr0.1"]
    assert all(t.point == {"model.depth": 2, "model.width": 16} and t.seed == 0 for t in a)
    chosen = {"a@depth2-width16": {"train.lr": 0.1}, "a@depth3-width8": {"train.lr": 0.01}}
    trials = {t.id: t for t in expand_trials(spec, chosen)}
    base = base_dict(spec)
    assert trials["a-depth2-width16-s7"].sweep == "a@depth2-width16"
    assert resolve(base, trials["a-depth2-width16-s7"]).train.lr == 0.1
    assert resolve(base, trials["a-depth3-width8-s0"]).train.lr == 0.01
    assert resolve(base, trials["a-depth1-width8-s0"]).train.lr == resolve(base, trials["b-depth1-width8-s0"]).train.lr


def test_bundle_can_opt_out_of_the_spec_tune():
    spec = _spec(
        tune={"key": "train.lr", "values": [0.01]},
        bundles={"a": {"train.optimizer": "sgd"}, "b": {"overrides": {}, "tune": None}},
    )
    assert set(spec.tunes()) == {"a"}


def test_tuning_a_grid_key_is_an_error():
    with pytest.raises(UserError, match="also a grid key"):
        _spec(tune={"key": "model.depth", "values": [1]})


def test_spec_errors_are_one_line():
    with pytest.raises(UserError) as err:
        parse_spec({"name": "t", "gird": {}})
    assert "unknown spec key 'gird'" in str(err.value) and "grid" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="bundle name"):
        parse_spec({"name": "t", "bundles": {"a b": {}}})
    with pytest.raises(UserError, match="seeds or repeats"):
        parse_spec({"name": "t", "seeds": [0], "repeats": 2})


def test_spec_file_and_relative_config(tmp_path):
    (tmp_path / "cfg.yaml").write_text("data: {source: digits}\nmodel: {widths: [8], latent: 2}\n")
    (tmp_path / "s.yaml").write_text("name: f\nbase: {config: cfg.yaml, overrides: {train.epochs: 1}}\n")
    spec = load_spec(path=tmp_path / "s.yaml")
    cfg = resolve(base_dict(spec), expand_trials(spec)[0])
    assert cfg.model.widths == [8] and cfg.train.epochs == 1
    with pytest.raises(UserError, match="not found"):
        load_spec(path=tmp_path / "missing.yaml")


def test_quick_shrinks_any_spec():
    spec = _spec(grid={"model.depth": [1, 2, 4, 8, 16, 32]}, tune={"key": "train.lr", "values": [0.1, 1.0]})
    q = shrink(spec)
    assert q.grid == {"model.depth": [1, 8, 32]}  # first, middle, last
    assert q.seeds == [0] and q.quick_applied and not q.tunes()
    cfg = resolve(base_dict(q), expand_trials(q)[0])
    assert cfg.data.limit == 1500 and cfg.data.test_limit == 500 and cfg.train.epochs == 1
    assert shrink(q) is q


def test_builtin_studies_expand_to_valid_configs():
    assert {"vanishing", "optimizers"} <= set(list_builtin())
    for name in list_builtin():
        for quick in (False, True):
            spec = load_spec(builtin=name, quick=quick)
            base = base_dict(spec)
            trials = expand_trials(spec) + [t for ts in expand_tune_trials(spec).values() for t in ts]
            for t in trials:
                resolve(base, t)  # every override names a real key with a valid value


def test_vanishing_builtin_shape():
    spec = load_spec(builtin="vanishing")
    assert spec.grid == {"model.depth": [1, 2, 4, 8, 16, 32]}
    assert len(spec.bundles) == 9 and spec.seeds == [0, 1]
    assert len(expand_trials(spec)) == 6 * 9 * 2
    tunes = spec.tunes()
    assert set(tunes) == set(spec.bundles) and all(t.at == {"model.depth": 1} for t in tunes.values())
    assert max(tunes["naive"].values) >= 10  # the sweep reaches large lrs for plain SGD on sigmoids
    naive = resolve(base_dict(spec), expand_trials(spec)[0])
    assert (naive.model.activation, naive.model.init, naive.train.optimizer) == ("sigmoid", "default", "sgd")
    quick = load_spec(builtin="vanishing", quick=True)
    assert [t.id for t in expand_trials(quick)] == [
        f"{b}-depth{d}-s0" for b in ("naive", "tanh-xavier-momentum", "relu-kaiming-adam") for d in (1, 4, 16)
    ]


def test_unknown_builtin():
    with pytest.raises(UserError, match="valid: .*vanishing"):
        load_spec(builtin="nope")
