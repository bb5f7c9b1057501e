"""The built-in `depth` study: its shape, the learning rate swept at every depth, and --quick for real
on Fashion-MNIST (about 60 s on 2 cores): a scaled residual branch trains at depth 16 and 32, the naive net does not."""

from __future__ import annotations

import csv

import pytest
from conftest import needs_fashion

from aegrad.study import expand_trials, expand_tune_trials, load_spec, run_study


def test_depth_builtin_shape_and_a_sweep_at_every_depth():
    spec = load_spec(builtin="depth")
    assert spec.grid == {"model.depth": [1, 2, 4, 8, 16, 32, 64, 128]}
    assert list(spec.bundles) == ["naive", "relu-kaiming-adam", "post-norm-residual", "pre-norm-zero", "rezero",
                                  "rezero-warmup", "orthogonal-tanh"]
    assert spec.seeds == [0, 1] and len(expand_trials(spec)) == 8 * 7 * 2
    sweeps = expand_tune_trials(spec)
    assert len(sweeps) == 8 * 7  # one sweep per (bundle, depth)
    assert {t.tune_value for t in sweeps["rezero@depth64"]} == {0.0003, 0.001, 0.003}
    assert all(t.point == {"model.depth": 64} and t.seed == 0 for t in sweeps["rezero@depth64"])
    quick = load_spec(builtin="depth", quick=True)
    assert quick.grid == {"model.depth": [2, 16, 32]} and quick.seeds == [0]


@pytest.mark.slow
@needs_fashion
def test_quick_depth_rezero_trains_at_16_and_32_where_naive_fails(tmp_path):
    out = tmp_path / "depth-quick"
    result = run_study(load_spec(builtin="depth", quick=True), out=out, jobs=2)
    assert not result.failed
    with (out / "results.csv").open(newline="") as f:
        rows = {(r["bundle"], int(r["model.depth"])): r for r in csv.DictReader(f)}
    assert set(rows) == {(b, d) for b in ("naive", "relu-kaiming-adam", "pre-norm-zero", "rezero") for d in (2, 16, 32)}
    ratio = {k: float(r["test_over_trivial"]) for k, r in rows.items()}
    for depth in (16, 32):
        assert ratio[("naive", depth)] >= 0.9  # sigmoid, default init, plain SGD: nothing learned
        assert ratio[("rezero", depth)] < 0.5  # the identity at init: depth costs nothing
        assert ratio[("rezero", depth)] < ratio[("relu-kaiming-adam", depth)]  # the source's advice alone is not enough
    assert ratio[("rezero", 32)] < 1.2 * ratio[("rezero", 2)]
