"""The gradient-flow plots write non-empty PNGs, also for diverged and empty logs."""

from __future__ import annotations

from aegrad.report.gradflow import (
    GRADFLOW_LAYERS_PNG,
    GRADFLOW_PNG,
    plot_gradient_flow,
    write_gradient_plots,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _records(n: int, diverge_at: int | None = None) -> list[dict]:
    layers = ["enc.0", "enc.1", "dec.0", "dec.1"]
    out = []
    for i in range(n):
        bad = diverge_at is not None and i >= diverge_at
        rms = [None] * 4 if bad else [10.0 ** (-8 + 2 * j) for j in range(4)]
        out.append({"step": 10 * (i + 1), "window_steps": 10, "layers": layers, "grad_rms": rms})
    return out


def test_plots_write_pngs(tmp_path):
    paths = write_gradient_plots(_records(12), tmp_path)
    assert [p.name for p in paths] == [GRADFLOW_PNG, GRADFLOW_LAYERS_PNG]
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == PNG and len(data) > 2000


def test_plots_survive_divergence_and_single_windows(tmp_path):
    for i, recs in enumerate([_records(6, diverge_at=2), _records(3, diverge_at=0), _records(1)]):
        for p in write_gradient_plots(recs, tmp_path / str(i)):
            assert p.read_bytes()[:8] == PNG


def test_nothing_to_draw(tmp_path):
    assert write_gradient_plots([], tmp_path) == [None, None]
    assert plot_gradient_flow([], tmp_path / "x.png") is None
