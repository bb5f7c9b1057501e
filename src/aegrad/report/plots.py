"""Plots of one run directory: files in, PNGs out.

Everything is drawn from what `aegrad train` left on disk (metrics.jsonl,
summary.json, model.safetensors, gradients.jsonl), so any run can be
re-plotted and the training loop never imports matplotlib. Figures are built as
``matplotlib.figure.Figure`` on an Agg canvas, never through pyplot: no global
backend or figure registry is touched, and matplotlib is imported only when a
plot is drawn. Each plot is skipped (returns None) when its input is missing.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aegrad.config import Config
from aegrad.errors import UserError
from aegrad.run import GRADIENTS, METRICS, PLOTS, WEIGHTS, atomic_write_bytes, load_run, read_jsonl

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LOSS_PNG = "loss.png"
LR_PNG = "lr.png"
RECONSTRUCTIONS_PNG = "reconstructions.png"
RECONSTRUCTION_COUNT = 8  # test samples shown, the first ones of the seeded test split
DPI = 110


def new_figure(width: float, height: float) -> Figure:
    """A Figure on its own Agg canvas (no pyplot, so no global state and no GUI backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def log_axis(ax: Any, axis: str = "y") -> None:
    """A base-10 log scale whose tick labels are plain numbers (0.001, 0.01, 1, 20).

    matplotlib's default labels on a log axis are mathtext (10^-3), laid out by its
    TeX-like parser: that was ~0.1 s of the ~0.6 s a run report takes to draw.
    """
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        # LogFormatter decides which ticks get a label (minor ones too when the axis spans
        # under a decade or so); only the text differs from the default's.
        def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
            return f"{x:.3g}"

    getattr(ax, f"set_{axis}scale")("log")
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(PlainLogFormatter(base=10))
    target.set_minor_formatter(PlainLogFormatter(base=10, labelOnlyBase=False))


def save_figure(fig: Figure, path: Path) -> Path:
    """Render `fig` to PNG and write it atomically. No 'Software' tag: the file names no URL."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    atomic_write_bytes(path, buf.getvalue())
    return path


def _positive(xs: Sequence[float], ys: Sequence[Any]) -> tuple[list[float], list[float]]:
    """The points a log axis can show: finite, strictly positive y (a diverged step logs NaN)."""
    keep = [(x, float(y)) for x, y in zip(xs, ys) if _is_num(y) and math.isfinite(float(y)) and float(y) > 0]
    return [x for x, _ in keep], [y for _, y in keep]


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _x(record: dict[str, Any]) -> float:
    # The optimizer step is the common x axis of step and epoch records; fall back to the epoch.
    return float(record["step"]) if _is_num(record.get("step")) else float(record.get("epoch", 0))


def plot_loss(metrics: list[dict[str, Any]], trivial_mse: float | None, path: Path) -> Path | None:
    """Train loss per logged step and per epoch, test MSE per epoch, the trivial MSE dashed; log y.

    Layer-wise pretraining records, when present, get a second panel (loss per
    stage and epoch). Returns None when there is nothing to draw.
    """
    steps = [r for r in metrics if r.get("kind") == "step"]
    epochs = [r for r in metrics if r.get("kind") == "epoch"]
    pretrain = [r for r in metrics if r.get("kind") == "pretrain"]
    curves = [
        ("train loss (logged steps)", steps, "loss", {"lw": 1.0, "alpha": 0.55, "color": "tab:blue"}),
        ("train loss (epoch)", epochs, "train_loss", {"marker": "o", "ms": 3, "color": "tab:blue"}),
        ("test MSE (epoch)", epochs, "test_mse", {"marker": "s", "ms": 3, "color": "tab:orange"}),
    ]
    drawn = []
    for label, recs, key, kw in curves:
        xs, ys = _positive([_x(r) for r in recs], [r.get(key) for r in recs])
        if xs:
            drawn.append((label, xs, ys, kw))
    stages = _pretrain_stages(pretrain)
    if not drawn and not stages:
        return None

    fig = new_figure(9.0 if stages else 7.5, 4.2)
    axes = fig.subplots(1, 2, width_ratios=[3, 1.3]) if stages else [fig.subplots()]
    ax = axes[0]
    for label, xs, ys, kw in drawn:
        # A curve of one point (a run shorter than log_every) is invisible as a line: mark it.
        ax.plot(xs, ys, label=label, **({"marker": "o", "ms": 3} | kw if len(xs) == 1 else kw))
    if _is_num(trivial_mse) and math.isfinite(trivial_mse) and trivial_mse > 0:
        label = f"trivial MSE (predict the mean) = {trivial_mse:.4g}"
        ax.axhline(trivial_mse, ls="--", color="0.35", lw=1.2, label=label)
    log_axis(ax)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("MSE (normalised units)")
    ax.set_title("Loss")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8)
    if stages:
        pax = axes[1]
        for stage, (xs, ys) in stages.items():
            pax.plot(xs, ys, marker="o", ms=3, label=f"stage {stage}")
        log_axis(pax)
        pax.set_xlabel("epoch")
        pax.set_title("Layer-wise pretraining")
        pax.grid(True, which="both", alpha=0.25)
        pax.legend(fontsize=8)
    return save_figure(fig, path)


def _pretrain_stages(records: list[dict[str, Any]]) -> dict[Any, tuple[list[float], list[float]]]:
    by_stage: dict[Any, list[dict[str, Any]]] = {}
    for r in records:
        by_stage.setdefault(r.get("stage", 0), []).append(r)
    out = {}
    for stage, recs in by_stage.items():
        xs, ys = _positive([float(r.get("epoch", i)) for i, r in enumerate(recs)], [r.get("loss") for r in recs])
        if xs:
            out[stage] = (xs, ys)
    return out


def plot_lr(metrics: list[dict[str, Any]], path: Path) -> Path | None:
    """The learning rate per optimizer step, drawn only when it varies (a schedule or a rollback)."""
    recs = [r for r in metrics if r.get("kind") == "step" and _is_num(r.get("lr"))]
    recs = recs or [r for r in metrics if r.get("kind") == "epoch" and _is_num(r.get("lr"))]
    lrs = [float(r["lr"]) for r in recs]
    if len(lrs) < 2 or max(lrs) - min(lrs) <= 1e-12 * max(abs(v) for v in lrs):
        return None
    fig = new_figure(7.5, 2.8)
    ax = fig.subplots()
    ax.plot([_x(r) for r in recs], lrs, color="tab:green", lw=1.5)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.set_title("Learning rate")
    ax.grid(True, alpha=0.25)
    return save_figure(fig, path)


def plot_reconstructions(
    run_dir: Path, cfg: Config, path: Path, count: int = RECONSTRUCTION_COUNT
) -> Path | None:
    """The first `count` test images (top row) over their reconstructions (bottom row), in data units.

    Needs model.safetensors and image data (C, H, W); C=1 is drawn gray, C=3 RGB.
    Both rows share one intensity range (the shown inputs' min..max), so a
    washed-out reconstruction looks washed out. Skipped when the weights are
    missing, the data is not images, or the dataset can no longer be read.
    """
    weights = Path(run_dir) / WEIGHTS
    if not weights.exists():
        return None
    import torch

    from aegrad.data import load_dataset
    from aegrad.models import load_model

    model, _model_cfg, sample_shape, _extra = load_model(weights)
    if len(sample_shape) != 3:
        return None
    try:
        ds = load_dataset(cfg.data, cfg.seed)
    except UserError:
        return None  # the data moved or is offline: the report goes on without this plot
    if not ds.is_image or len(ds.test_x) == 0:
        return None
    x = ds.test_x[:count]
    with torch.no_grad():
        x_hat = model.eval()(x)["x_hat"].reshape(x.shape).float()
    per_sample_mse = ((x_hat - x) ** 2).flatten(1).mean(1).tolist()
    inputs, recons = ds.normalizer.inverse(x), ds.normalizer.inverse(x_hat)
    lo, hi = float(inputs.min()), float(inputs.max())
    span = hi - lo if hi > lo else 1.0

    def shown(img: torch.Tensor) -> Any:
        # (C, H, W) in data units -> [0, 1] array imshow takes: (H, W) gray or (H, W, 3) RGB.
        unit = ((img - lo) / span).clamp(0.0, 1.0)
        return unit.permute(1, 2, 0).numpy() if unit.shape[0] == 3 else unit[0].numpy()

    n = len(x)
    fig = new_figure(1.25 * n + 0.9, 3.0)
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        for row, imgs in enumerate((inputs, recons)):
            ax = axes[row][i]
            ax.imshow(shown(imgs[i]), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[1][i].set_xlabel(f"mse {per_sample_mse[i]:.3g}", fontsize=7)
    axes[0][0].set_ylabel("input", fontsize=9)
    axes[1][0].set_ylabel("reconstruction", fontsize=9)
    fig.suptitle("First test samples and their reconstructions", fontsize=10)
    return save_figure(fig, path)


def plot_gradients(gradients: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """The gradient-flow heatmap and per-layer chart from report/gradflow.py, when there are records."""
    if not gradients:
        return []
    from aegrad.report import gradflow  # imported here: gradflow.py imports this module

    return [p for p in gradflow.write_gradient_plots(gradients, out_dir) if p is not None]


def write_plots(run_dir: str | Path) -> list[Path]:
    """Draw every plot the run directory has the inputs for into RUN_DIR/plots; returns the files written."""
    run = load_run(run_dir)
    out = run.path / PLOTS
    metrics = read_jsonl(run.path / METRICS)
    written = [
        plot_loss(metrics, run.summary.get("trivial_mse"), out / LOSS_PNG),
        plot_lr(metrics, out / LR_PNG),
        plot_reconstructions(run.path, run.config, out / RECONSTRUCTIONS_PNG),
        *plot_gradients(read_jsonl(run.path / GRADIENTS), out),
    ]
    return [p for p in written if p is not None]
