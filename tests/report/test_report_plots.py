"""The loss plot's terms, guard marks and tick labels; reconstructions.npz; the report package's imports."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import aegrad.report
from aegrad.report.common import readable_log_ticks
from aegrad.report.plots import BOOKKEEPING, loss_curves, loss_figure, loss_terms
from aegrad.run import RECONSTRUCTIONS

REPORT_DIR = Path(aegrad.report.__file__).parent


def _metrics(n_steps: int = 12) -> list[dict]:
    recs = []
    for s in range(1, n_steps + 1):
        recs.append({"kind": "step", "epoch": (s - 1) // 4, "step": 10 * s, "loss": 1.0 / s + 0.5, "mse": 1.0 / s,
                     "kl": 0.5, "bpp": 2.0 / s, "lr": 1e-3, "grad_norm": 3.0, "clipped": 0.0, "skipped_steps": 0})
        if s % 4 == 0:
            recs.append({"kind": "epoch", "epoch": s // 4, "step": 10 * s, "train_loss": 1.0 / s + 0.6,
                         "train_mse": 1.1 / s, "train_kl": 0.5, "test_mse": 1.2 / s, "test_kl": 0.55, "lr": 1e-3,
                         "clip_fraction": 0.0, "skipped_steps": 0, "rollbacks": 0, "wall_s": 1.5 * s})
    return recs


def _labels(fig) -> list[str]:
    return fig.axes[0].get_legend_handles_labels()[1]


def test_every_loss_term_is_drawn_and_bookkeeping_is_not():
    metrics = _metrics()
    assert loss_terms([r for r in metrics if r["kind"] == "step"]) == ["loss", "mse", "kl", "bpp"]
    assert loss_terms([r for r in metrics if r["kind"] == "epoch"]) == [
        "train_loss", "train_mse", "train_kl", "test_mse", "test_kl"]
    labels = _labels(loss_figure(metrics, trivial_mse=0.9))
    assert labels[:9] == [
        "train loss (logged steps)", "train mse (logged steps)", "train kl (logged steps)",
        "train bpp (logged steps)", "train loss (epoch)", "train mse (epoch)", "train kl (epoch)",
        "test mse (epoch)", "test kl (epoch)",
    ]
    assert labels[9].startswith("trivial MSE") and len(labels) == 10
    assert not any(k in " ".join(labels) for k in ("lr", "grad_norm", "wall", "clip"))
    # each drawn curve holds its record values, at the records' steps
    curves = {label: (xs, ys) for label, _, xs, ys in loss_curves(metrics)}
    assert curves["train bpp (logged steps)"] == ([10.0 * s for s in range(1, 13)], [2.0 / s for s in range(1, 13)])
    assert curves["test kl (epoch)"] == ([40.0, 80.0, 120.0], [0.55] * 3)
    assert BOOKKEEPING >= {"step", "epoch", "lr", "grad_norm", "clipped", "skipped_steps", "rollbacks", "wall_s",
                           "clip_fraction"}


def test_a_term_equal_to_the_loss_is_drawn_once():
    recs = [{"kind": "step", "step": s, "loss": 1.0 / s, "mse": 1.0 / s} for s in range(1, 5)]
    assert [c[0] for c in loss_curves(recs)] == ["train loss (logged steps)"]


def test_skipped_steps_and_rollbacks_are_marked():
    metrics = _metrics()
    metrics += [{"kind": "skip", "epoch": 2, "step": s, "loss": None, "grad_norm": None} for s in (61, 62, 63)]
    metrics += [{"kind": "rollback", "epoch": 2, "step": 63, "lr": 5e-4, "loss": None}]
    ax = loss_figure(metrics, None).axes[0]
    skips = [line for line in ax.lines if line.get_gid() == "skip"]
    rollbacks = [line for line in ax.lines if line.get_gid() == "rollback"]
    assert [line.get_xdata()[0] for line in skips] == [61, 62, 63]
    assert [line.get_xdata()[0] for line in rollbacks] == [63]
    labels = ax.get_legend_handles_labels()[1]
    assert "skipped step (non-finite loss or gradient) × 3" in labels
    assert "rollback (weights restored, lr halved) × 1" in labels
    # the guard's records are not loss curves (they carry loss: null and a grad_norm)
    assert not any("skip" in c[0] for c in loss_curves(metrics))


def test_a_run_that_stopped_before_any_loss_record_still_gets_a_plot():
    metrics = [{"kind": "skip", "epoch": 0, "step": s} for s in (1, 2, 3)]
    metrics += [{"kind": "rollback", "epoch": 0, "step": 3}, {"kind": "stop", "epoch": 0, "step": 6}]
    fig = loss_figure(metrics, None)
    assert fig is not None
    assert sum(line.get_gid() == "skip" for line in fig.axes[0].lines) == 3
    assert loss_figure([], None) is None


def _visible_labels(ax) -> list[tuple[float, str]]:
    ax.figure.canvas.draw()
    lo, hi = ax.get_ylim()
    out = []
    for tick in ax.yaxis.get_major_ticks():
        y, text = tick.get_loc(), tick.label1.get_text()
        if lo <= y <= hi and text and tick.label1.get_visible():
            out.append((y, text))
    return out


@pytest.mark.parametrize("lo,hi", [(0.13, 0.2), (0.0131, 0.0139), (0.05, 0.3), (1e-6, 2.0), (3.0, 7.0)])
def test_log_axis_labels_the_data_range(lo, hi):
    # A deep sigmoid run's loss sits between 0.13 and 0.2: matplotlib's log ticks labelled only 0.08-0.1.
    metrics = [{"kind": "step", "step": s, "loss": lo * (hi / lo) ** (s / 20)} for s in range(21)]
    ax = loss_figure(metrics, None).axes[0]
    labels = _visible_labels(ax)
    assert len(labels) >= 3, labels
    inside = [(y, t) for y, t in labels if lo * 0.999 <= y <= hi * 1.001]
    assert len(inside) >= 2, labels
    for y, text in labels:
        assert math.isclose(float(text), y, rel_tol=0.01), (y, text)  # the label says the tick's value
    ys = [y for y, _ in labels]
    assert max(ys) / min(ys) >= (hi / lo) ** 0.3  # spread over the range, not bunched at one end


def test_readable_log_ticks_choices():
    assert readable_log_ticks(1e-5, 1.0) == pytest.approx([1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    assert readable_log_ticks(0.05, 0.3) == pytest.approx([0.05, 0.1, 0.2])
    assert readable_log_ticks(0.13, 0.2) == pytest.approx([0.13, 0.14, 0.15, 0.16, 0.17, 0.18, 0.19, 0.2])
    assert readable_log_ticks(0.0, 1.0) == []


def _digits_model():
    from aegrad.config import load_config
    from aegrad.data import load_dataset
    from aegrad.models import create_model

    cfg = load_config(overrides={"data.limit": 64, "data.test_limit": 20, "model.widths": [16], "model.latent": 4})
    torch.manual_seed(0)
    ds = load_dataset(cfg.data, cfg.seed)
    return create_model(cfg.model, ds.sample_shape), ds


def test_write_reconstructions_stores_data_units(tmp_path):
    from aegrad.train.artifacts import write_reconstructions

    model, ds = _digits_model()
    model.train()
    write_reconstructions(tmp_path, model, ds, count=5)
    assert model.training  # the mode is restored
    assert sorted(p.name for p in tmp_path.iterdir()) == [RECONSTRUCTIONS]  # no temp file left
    with np.load(tmp_path / RECONSTRUCTIONS) as z:
        rec = {k: z[k] for k in z.files}
    x = ds.test_x[:5]
    with torch.no_grad():
        x_hat = model.eval()(x)["x_hat"].reshape(x.shape)
    # digits are 0..16 in data units; min-max normalised to 0..1 for training
    assert rec["original"].shape == (5, 1, 8, 8) and rec["original"].max() > 1.5
    np.testing.assert_allclose(rec["original"], (ds.normalizer.inverse(x)).numpy(), rtol=1e-6)
    np.testing.assert_allclose(rec["reconstruction"], ds.normalizer.inverse(x_hat).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rec["sample_mse"], ((x_hat - x) ** 2).flatten(1).mean(1).numpy(), rtol=1e-5)
    assert rec["sample_shape"].tolist() == [1, 8, 8] and bool(rec["is_image"])


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (lazy imports inside functions included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_report_imports_neither_models_nor_data():
    for path in REPORT_DIR.glob("*.py"):
        bad = {m for m in _imports(path) if m.split(".")[:2] in (["aegrad", "models"], ["aegrad", "data"])}
        assert not bad, (path.name, bad)


def test_report_modules_import_each_other_without_a_cycle():
    names = {p.stem for p in REPORT_DIR.glob("*.py")}
    graph = {
        p.stem: {m.split(".")[2] for m in _imports(p) if m.startswith("aegrad.report.") and m.split(".")[2] in names}
        for p in REPORT_DIR.glob("*.py") if p.stem != "__init__"
    }
    graph = {k: v - {"__init__"} for k, v in graph.items()}
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"import cycle: {' -> '.join((*path, node))}"
        if node in done:
            return
        for nxt in graph.get(node, ()):
            visit(nxt, (*path, node))
        done.add(node)

    for node in graph:
        visit(node, ())
