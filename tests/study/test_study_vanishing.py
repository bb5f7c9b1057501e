"""The built-in `vanishing` study, --quick, for real on Fashion-MNIST (about 20-40 s on 2 cores)."""

from __future__ import annotations

import csv

import pytest
from conftest import needs_fashion

from aegrad.study import load_spec, run_study


@pytest.mark.slow
@needs_fashion
def test_quick_vanishing_naive_fails_deep_and_relu_kaiming_adam_trains(tmp_path):
    out = tmp_path / "vanishing-quick"
    result = run_study(load_spec(builtin="vanishing", quick=True), out=out, jobs=2)
    assert not result.failed
    with (out / "results.csv").open(newline="") as f:
        rows = {(r["bundle"], int(r["model.depth"])): r for r in csv.DictReader(f)}
    ratio = {k: float(r["test_over_trivial"]) for k, r in rows.items()}
    assert ratio[("naive", 16)] >= 0.9  # sigmoid + default init + plain SGD: nothing learned at depth
    assert ratio[("naive", 1)] < 0.9  # ... though it does learn when shallow (at its swept lr)
    for depth in (1, 4, 16):
        assert ratio[("relu-kaiming-adam", depth)] < 0.9
    # the gradient reaching the first layer of the deep naive net has vanished; relu's has not
    assert float(rows[("naive", 16)]["grad_ratio_end"]) < 1e-6
    assert float(rows[("relu-kaiming-adam", 16)]["grad_ratio_end"]) > 1e-3
    html = (out / "report.html").read_text()
    assert "naive stops learning at model.depth 4" in html or "naive stops learning at model.depth 16" in html
    for key in rows.values():
        assert key["trial"] in html
