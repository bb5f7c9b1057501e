"""A study spec: a base config, a grid, remedy bundles, seeds, an optional lr sweep.

A spec is YAML (see ``study/specs/vanishing.yaml``)::

    name: vanishing                       # the study's name (default folder studies/<name>)
    description: one line for `aegrad study --list`
    base:
      preset: fashion-mlp                 # or  config: path/to/config.yaml (relative to the spec)
      overrides: {data.limit: 5000, train.epochs: 3}
    grid:                                 # the product of every key's values
      model.depth: [1, 2, 4, 8, 16, 32]
    bundles:                              # named sets of overrides ("remedies"), in report order
      naive:
        overrides: {model.activation: sigmoid, model.init: default, train.optimizer: sgd, train.lr: 1.0}
        tune: {key: train.lr, values: [0.1, 1, 3, 10]}
      relu-kaiming-adam: {model.activation: relu, model.init: kaiming_normal}   # shorthand: overrides only
    seeds: [0, 1]                         # or  repeats: 2  (seeds 0..n-1)
    metrics: [test_mse, trivial_mse, test_over_trivial, wall_s]
    tune: {key: train.lr, values: [...], at: {model.depth: 1}, metric: test_mse}   # default for every bundle
    threshold: 0.9                        # test_mse / trivial_mse below this counts as "trained"
    quick:                                # what --quick changes (each field has a generic default)
      overrides: {data.limit: 1500, train.epochs: 1}
      grid: {model.depth: [1, 4, 16]}
      bundles: [naive, relu-kaiming-adam]
      seeds: [0]

Override order, one layer after another through ``config.apply_overrides`` (a later
layer wins on the same key):

    1. the base preset or config file
    2. the spec's base overrides (with --quick: then the quick overrides)
    3. the bundle's overrides
    4. the bundle's tuned value (the lr the sweep picked), if it has a ``tune``
    5. the grid point
    6. the seed (``seed: s``)

Each trial also gets ``train.threads`` (cores / jobs) when it runs; that is a
runtime setting, not part of the trial's identity.

A ``tune`` block sweeps ``key`` over ``values`` once per bundle at the grid point
``at`` (grid keys it does not name take their first value) with the first seed,
and keeps the value with the lowest ``metric`` for every trial of that bundle:
each contender gets its own learning rate, chosen the same way. A bundle's own
``tune`` replaces the spec's; ``tune: null`` in a bundle opts it out. With
``every_point: true`` the sweep runs at every grid point instead, and each point's
trials use that point's best value (the depth study: the rate that suits depth 2 is
not the one for depth 64).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aegrad.config import (
    Config,
    apply_overrides,
    format_validation_error,
    load_config,
    read_yaml_mapping,
    validate,
)
from aegrad.errors import UserError

# What results.csv holds per trial when a spec names no metrics (keys of summary.json).
DEFAULT_METRICS = [
    "test_mse",
    "trivial_mse",
    "test_over_trivial",
    "epochs",
    "steps",
    "samples_per_s",
    "wall_s",
    "healthy",
    "stop_reason",
]
# --quick's defaults, merged under a spec's own `quick.overrides`.
QUICK_OVERRIDES = {"data.limit": 1500, "data.test_limit": 500, "train.epochs": 1}
_INTERNAL = ("quick_applied", "source_dir")  # Spec fields set by load_spec, never written in a spec
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tune(_Strict):
    """Sweep one key per bundle at one grid point (or at each); the bundle's trials then use the best value."""

    key: str = "train.lr"  # the config key swept
    values: list[Any] = Field(min_length=1)  # candidate values, e.g. [1e-4, 3e-4, 1e-3]
    at: dict[str, Any] = Field(default_factory=dict)  # grid point to tune at (unnamed grid keys: first value)
    every_point: bool = False  # sweep at every grid point instead (first seed): each point keeps its own best
    # value, so a learning rate that suits depth 2 is not forced on depth 64; `at` is then unused
    metric: str = "test_mse"  # summary.json key, lower is better (non-finite or failed: never chosen)


class Bundle(_Strict):
    """A named remedy: overrides applied on top of the base, and optionally its own sweep."""

    overrides: dict[str, Any] = Field(default_factory=dict)  # dotted keys, e.g. {model.norm: layer}
    tune: Tune | None = None  # replaces the spec's tune; an explicit null opts out of it
    description: str = ""  # shown in the report

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `name: {model.norm: layer}`: a mapping of dotted keys is the overrides alone.
        if data is None:
            return {}
        if isinstance(data, dict) and data and all("." in str(k) for k in data):
            return {"overrides": data}
        return data


class Base(_Strict):
    preset: str | None = None  # a built-in config (`aegrad presets`)
    config: str | None = None  # a YAML config file, relative to the spec file
    overrides: dict[str, Any] = Field(default_factory=dict)  # dotted keys applied to it

    @model_validator(mode="after")
    def _one_source(self) -> Base:
        if self.preset is not None and self.config is not None:
            raise ValueError("base takes a preset or a config file, not both")
        return self


class Quick(_Strict):
    """How --quick shrinks the spec; every field has a generic default."""

    overrides: dict[str, Any] = Field(default_factory=dict)  # merged over QUICK_OVERRIDES, after base overrides
    grid: dict[str, list[Any]] | None = None  # replacement value lists (default: first, middle and last value)
    bundles: list[str] | None = None  # the bundles kept (default: all)
    seeds: list[int] | None = None  # default: the first seed
    tune: bool = False  # run the sweeps too (default: skip them and use each bundle's own value)


class Spec(_Strict):
    name: str  # the study's name; its default folder is studies/<name> (studies/<name>-quick)
    description: str = ""  # one line, listed by `aegrad study --list`
    base: Base = Field(default_factory=Base)
    grid: dict[str, list[Any]] = Field(default_factory=dict)  # config key -> values; trials take the product
    bundles: dict[str, Bundle] = Field(default_factory=dict)  # empty: one bundle "base" with no overrides
    seeds: list[int] | None = None  # default [0]
    repeats: int | None = Field(None, ge=1)  # shorthand for seeds 0..repeats-1
    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS))  # summary.json keys to collect
    tune: Tune | None = None  # the default sweep of every bundle
    threshold: float = Field(0.9, gt=0.0)  # test/trivial below this counts as trained
    quick: Quick = Field(default_factory=Quick)
    quick_applied: bool = False  # set by load_spec(quick=True); the spec then already is the small one
    source_dir: str | None = None  # folder the spec file sits in (resolves base.config)

    @model_validator(mode="after")
    def _check(self) -> Spec:
        if self.seeds is not None and self.repeats is not None:
            raise ValueError("give seeds or repeats, not both")
        if self.seeds is None:
            self.seeds = list(range(self.repeats or 1))
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must list at least one seed, each once")
        if not self.bundles:
            self.bundles = {"base": Bundle()}
        for name in self.bundles:
            if not _NAME.match(name):
                raise ValueError(f"bundle name {name!r} may hold only letters, digits and . _ + -")
        if not _NAME.match(self.name):
            raise ValueError(f"study name {self.name!r} may hold only letters, digits and . _ + -")
        for key, values in self.grid.items():
            if not values:
                raise ValueError(f"grid key {key!r} lists no values")
        for bname, tune in self.tunes().items():
            if tune.key in self.grid:
                raise ValueError(f"bundle {bname!r} tunes {tune.key!r}, which is also a grid key")
            unknown = set(tune.at) - set(self.grid)
            if unknown and not tune.every_point:
                raise ValueError(f"tune.at names {sorted(unknown)}, which are not grid keys")
        return self

    def tunes(self) -> dict[str, Tune]:
        """Bundle name -> the sweep it runs (its own, else the spec's; none when it opted out)."""
        out = {}
        for name, b in self.bundles.items():
            tune = b.tune if "tune" in b.model_fields_set else self.tune
            if tune is not None:
                out[name] = tune
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude={"source_dir"}), sort_keys=False)


@dataclass(frozen=True)
class Trial:
    """One training of a study: its id, what it varies, and its override layers in order."""

    id: str  # folder name under trials/ (or tune/)
    bundle: str
    seed: int
    point: dict[str, Any]  # grid key -> value
    layers: tuple[tuple[str, dict[str, Any]], ...]  # (layer name, overrides), applied in order
    tune_value: Any = None  # for a sweep trial: the value tried
    kind: str = "trial"  # "trial" or "tune"
    sweep: str = ""  # the sweep whose choice this trial uses (or, for a sweep trial, belongs to); "" for none

    @property
    def overrides(self) -> dict[str, Any]:
        """Every override of this trial merged (later layers win), for the results table."""
        out: dict[str, Any] = {}
        for _, layer in self.layers:
            out.update(layer)
        return out


def _load_yaml(path: Path) -> dict[str, Any]:
    data = read_yaml_mapping(path, "study spec", "name, base, grid, bundles, seeds, ...")
    if not data:
        raise UserError(f"study spec {path} is empty")
    return data


def parse_spec(data: dict[str, Any], where: str = "study spec", source_dir: str | Path | None = None) -> Spec:
    """Validate a spec mapping; errors are one-line UserErrors naming the key."""
    data = dict(data)
    if source_dir is not None:
        data["source_dir"] = str(source_dir)
    try:
        return Spec.model_validate(data)
    except ValidationError as err:
        raise UserError(format_validation_error(err, Spec, "spec", where, hidden=_INTERNAL)) from None


def load_spec(builtin: str | None = None, path: str | Path | None = None, quick: bool = False) -> Spec:
    """A spec from a built-in name or a YAML file, shrunk by --quick when asked."""
    from aegrad.study.builtin import builtin_spec_text

    if (builtin is None) == (path is None):
        raise UserError("give a spec file or a built-in study name (one of them)")
    if builtin is not None:
        spec = parse_spec(yaml.safe_load(builtin_spec_text(builtin)), where=f"built-in study {builtin!r}")
    else:
        p = Path(path)
        spec = parse_spec(_load_yaml(p), where=str(p), source_dir=p.resolve().parent)
    return shrink(spec) if quick else spec


def _thin(values: list[Any]) -> list[Any]:
    """First, middle and last value: the generic --quick grid."""
    if len(values) <= 3:
        return list(values)
    return [values[0], values[len(values) // 2], values[-1]]


def shrink(spec: Spec) -> Spec:
    """The --quick version of a spec: fewer samples, epochs, grid values, bundles and seeds; no sweeps."""
    if spec.quick_applied:
        return spec
    q = spec.quick
    unknown = set(q.grid or {}) - set(spec.grid)
    if unknown:
        raise UserError(f"spec {spec.name!r}: quick.grid names {sorted(unknown)}, which are not grid keys")
    grid = {k: list((q.grid or {}).get(k, _thin(v))) for k, v in spec.grid.items()}
    keep = q.bundles if q.bundles is not None else list(spec.bundles)
    missing = [b for b in keep if b not in spec.bundles]
    if missing:
        raise UserError(f"spec {spec.name!r}: quick.bundles names {missing}; bundles: {', '.join(spec.bundles)}")
    bundles = {b: spec.bundles[b] for b in keep}
    if not q.tune:
        bundles = {name: b.model_copy(update={"tune": None}) for name, b in bundles.items()}
    overrides = {**spec.base.overrides, **QUICK_OVERRIDES, **q.overrides}
    return spec.model_copy(
        update={
            "base": spec.base.model_copy(update={"overrides": overrides}),
            "grid": grid,
            "bundles": bundles,
            "seeds": list(q.seeds if q.seeds is not None else spec.seeds[:1]),
            "tune": spec.tune if q.tune else None,
            "quick_applied": True,
        }
    )


def _slug(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, (list, tuple)):
        text = "x".join(_slug(v) for v in value)
    else:
        text = str(value).lower() if value is None or isinstance(value, bool) else str(value)
    return re.sub(r"[^A-Za-z0-9._+-]", "_", text)


def _short_keys(keys: list[str]) -> dict[str, str]:
    """Grid key -> its name in trial ids: the last part (model.depth -> depth) unless two keys share it."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def trial_id(bundle: str, point: dict[str, Any], seed: int, short: dict[str, str]) -> str:
    parts = [bundle] + [f"{short[k]}{_slug(v)}" for k, v in point.items()] + [f"s{seed}"]
    return "-".join(parts)


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The product of the grid's value lists, first key slowest; one empty point for an empty grid."""
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def point_part(point: dict[str, Any], short: dict[str, str]) -> str:
    """A grid point as it appears in trial ids: depth16-width256."""
    return "-".join(f"{short[k]}{_slug(v)}" for k, v in point.items())


def sweep_key(bundle: str, point: dict[str, Any], tune: Tune | None, short: dict[str, str]) -> str:
    """The sweep a bundle's trial at `point` takes its tuned value from: the bundle's own, or its point's."""
    if tune is None:
        return ""
    return f"{bundle}@{point_part(point, short)}" if tune.every_point else bundle


def _base_layers(spec: Spec, bundle: str) -> list[tuple[str, dict[str, Any]]]:
    return [("base", dict(spec.base.overrides)), ("bundle", dict(spec.bundles[bundle].overrides))]


def expand_trials(spec: Spec, tuned: dict[str, dict[str, Any]] | None = None) -> list[Trial]:
    """Every (bundle, grid point, seed) trial in report order: bundles, then grid points, then seeds.

    `tuned` maps a sweep (``sweep_key``: the bundle, or bundle@point for a sweep at every point) to the
    values it chose ({"train.lr": 0.003}); it is layer 4.
    """
    tuned = tuned or {}
    tunes = spec.tunes()
    short = _short_keys(list(spec.grid))
    trials = []
    for bundle in spec.bundles:
        for point in grid_points(spec.grid):
            sweep = sweep_key(bundle, point, tunes.get(bundle), short)
            for seed in spec.seeds:
                layers = _base_layers(spec, bundle)
                layers += [("tuned", dict(tuned.get(sweep, {}))), ("grid", dict(point)), ("seed", {"seed": seed})]
                tid = trial_id(bundle, point, seed, short)
                trials.append(Trial(tid, bundle, seed, dict(point), tuple(layers), sweep=sweep))
    return trials


def expand_tune_trials(spec: Spec) -> dict[str, list[Trial]]:
    """Sweep (``sweep_key``) -> its trials: each value at the `at` point (or at every point), first seed."""
    out: dict[str, list[Trial]] = {}
    seed = spec.seeds[0]
    short = _short_keys(list(spec.grid))
    for bundle, tune in spec.tunes().items():
        if tune.every_point:
            points = grid_points(spec.grid)
        else:
            points = [{k: tune.at.get(k, values[0]) for k, values in spec.grid.items()}]
        key_short = tune.key.rsplit(".", 1)[-1]
        for point in points:
            sweep = sweep_key(bundle, point, tune, short)
            prefix = f"{bundle}-{point_part(point, short)}" if tune.every_point else bundle
            trials = []
            for value in tune.values:
                layers = _base_layers(spec, bundle)
                layers += [("tuned", {tune.key: value}), ("grid", dict(point)), ("seed", {"seed": seed})]
                tid = f"{prefix}-{key_short}{_slug(value)}"
                trials.append(Trial(tid, bundle, seed, dict(point), tuple(layers), tune_value=value, kind="tune",
                                    sweep=sweep))
            out[sweep] = trials
    return out


def base_dict(spec: Spec) -> dict[str, Any]:
    """Layer 1: the base preset's or config file's full mapping (validated, so a bad base fails early)."""
    if spec.base.config is not None:
        p = Path(spec.base.config)
        if not p.is_absolute() and spec.source_dir is not None:
            p = Path(spec.source_dir) / p
        return load_config(path=p).to_dict()
    return load_config(preset=spec.base.preset).to_dict()


def resolve(base: dict[str, Any], trial: Trial) -> Config:
    """The trial's config: the base mapping with every layer applied in order, validated."""
    data = base
    for _, layer in trial.layers:
        data = apply_overrides(data, layer)
    return validate(data)
