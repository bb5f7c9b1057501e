"""Plots of one run directory: files in, PNGs out.

Everything is drawn from what training left on disk (metrics.jsonl, summary.json,
reconstructions.npz, gradients.jsonl), so any run can be re-plotted, the training loop
never imports matplotlib, and the report never loads a model or a dataset. Each plot is
skipped (returns None) when its input is missing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aegrad.diagnose.records import read_records
from aegrad.report.common import (
    LOSS_PNG,
    LR_PNG,
    RECONSTRUCTIONS_PNG,
    log_axis,
    new_figure,
    save_figure,
)
from aegrad.report.gradflow import write_gradient_plots
from aegrad.run import GRADIENTS, METRICS, PLOTS, RECONSTRUCTIONS, load_run, read_jsonl

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Numeric keys of metrics.jsonl records that are not loss terms: every other number is drawn.
BOOKKEEPING = frozenset({
    "step", "epoch", "stage", "lr", "grad_norm", "clipped", "clip_fraction", "skipped_steps", "rollbacks",
    "wall_s", "train_s", "samples_per_s",
})
# Records the NaN guard writes as it acts, marked on the loss plot: kind -> (label, line style).
GUARD_MARKS: dict[str, tuple[str, dict[str, Any]]] = {
    "skip": ("skipped step (non-finite loss or gradient)", {"color": "tab:red", "ls": ":", "lw": 0.9, "alpha": 0.7}),
    "rollback": ("rollback (weights restored, lr halved)", {"color": "tab:purple", "ls": "-", "lw": 1.4}),
    "stop": ("run stopped", {"color": "black", "ls": "-", "lw": 1.8}),
}
# The loop's names for the overall loss in step and epoch records; other terms keep their names.
_LOSS_NAMES = {"step": {"loss": "loss"}, "epoch": {"train_loss": "loss", "test_mse": "test mse"}}


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _positive(xs: Sequence[float], ys: Sequence[Any]) -> tuple[list[float], list[float]]:
    """The points a log axis can show: finite, strictly positive y (a diverged step logs NaN)."""
    keep = [(x, float(y)) for x, y in zip(xs, ys) if _is_num(y) and math.isfinite(float(y)) and float(y) > 0]
    return [x for x, _ in keep], [y for _, y in keep]


def _x(record: dict[str, Any]) -> float:
    # The optimizer step is the common x axis of step and epoch records; fall back to the epoch.
    return float(record["step"]) if _is_num(record.get("step")) else float(record.get("epoch", 0))


def loss_terms(records: list[dict[str, Any]]) -> list[str]:
    """The loss keys of `records` in first-seen order: every numeric key that is not bookkeeping."""
    keys: dict[str, None] = {}
    for r in records:
        for k, v in r.items():
            if k != "kind" and k not in BOOKKEEPING and _is_num(v):
                keys.setdefault(k)
    return list(keys)


def _term(kind: str, key: str) -> tuple[str, str]:
    """(term, role) of a record key: ("loss", "train") for train_loss, ("kl", "test") for test_kl."""
    if key in _LOSS_NAMES[kind]:
        name = _LOSS_NAMES[kind][key]
        return (name.removeprefix("test "), "test") if name.startswith("test ") else (name, "train")
    if kind == "epoch" and key.startswith("test_"):
        return key.removeprefix("test_"), "test"
    return key.removeprefix("train_") if kind == "epoch" else key, "train"


def loss_curves(metrics: list[dict[str, Any]]) -> list[tuple[str, str, list[float], list[float]]]:
    """(label, term, xs, ys) per logged loss term: step records' terms, epoch records' train and test terms.

    A term whose points equal an already listed curve's (an MSE objective's "mse" beside its
    "loss") is left out: it would draw the same line twice.
    """
    out: list[tuple[str, str, list[float], list[float]]] = []
    for kind, what in (("step", "logged steps"), ("epoch", "epoch")):
        recs = [r for r in metrics if r.get("kind") == kind]
        for key in loss_terms(recs):
            term, role = _term(kind, key)
            xs, ys = _positive([_x(r) for r in recs], [r.get(key) for r in recs])
            if not xs or any(c[2] == xs and c[3] == ys for c in out):
                continue
            label = f"{role} {term} ({what})" if role == "test" or term != "loss" else f"train loss ({what})"
            out.append((label, term, xs, ys))
    return out


def _guard_marks(metrics: list[dict[str, Any]]) -> dict[str, list[float]]:
    """kind -> the steps at which the NaN guard skipped, rolled back or stopped."""
    out: dict[str, list[float]] = {}
    for r in metrics:
        if r.get("kind") in GUARD_MARKS:
            out.setdefault(r["kind"], []).append(_x(r))
    return out


def loss_figure(metrics: list[dict[str, Any]], trivial_mse: float | None) -> Figure | None:
    """Every loss term per logged step and epoch (log y), the trivial MSE dashed, the guard's actions marked.

    Layer-wise pretraining records, when present, get a second panel (loss per stage and epoch).
    None when there is nothing to draw.
    """
    curves = loss_curves(metrics)
    marks = _guard_marks(metrics)
    stages = _pretrain_stages([r for r in metrics if r.get("kind") == "pretrain"])
    if not curves and not stages and not marks:
        return None

    fig = new_figure(9.0 if stages else 7.5, 4.2)
    axes = fig.subplots(1, 2, width_ratios=[3, 1.3]) if stages else [fig.subplots()]
    ax = axes[0]
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    colors: dict[str, Any] = {}
    for label, term, xs, ys in curves:
        color = colors.setdefault(term, palette(len(colors) % palette.N))
        kw: dict[str, Any] = {"color": color}
        if "logged steps" in label:
            kw |= {"lw": 1.0, "alpha": 0.55}
        else:
            kw |= {"marker": "s" if label.startswith("test") else "o", "ms": 3}
            kw |= {"ls": "--"} if label.startswith("test") else {}
        # A curve of one point (a run shorter than log_every) is invisible as a line: mark it.
        ax.plot(xs, ys, label=label, **({"marker": "o", "ms": 3} | kw if len(xs) == 1 else kw))
    if _is_num(trivial_mse) and math.isfinite(trivial_mse) and trivial_mse > 0:
        ax.axhline(trivial_mse, ls="--", color="0.35", lw=1.2,
                   label=f"trivial MSE (predict the mean) = {trivial_mse:.4g}")
    for kind, steps in marks.items():
        label, style = GUARD_MARKS[kind]
        for i, s in enumerate(steps):
            ax.axvline(s, gid=kind, label=f"{label} × {len(steps)}" if i == 0 else None, **style)
    if curves or (_is_num(trivial_mse) and trivial_mse > 0):
        log_axis(ax)
    else:
        ax.text(0.5, 0.5, "no finite loss was logged", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss terms (normalised units)")
    ax.set_title("Loss")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7)
    if stages:
        pax = axes[1]
        for stage, (xs, ys) in stages.items():
            pax.plot(xs, ys, marker="o", ms=3, label=f"stage {stage}")
        log_axis(pax)
        pax.set_xlabel("epoch")
        pax.set_title("Layer-wise pretraining")
        pax.grid(True, which="major", alpha=0.3)
        pax.legend(fontsize=8)
    return fig


def plot_loss(metrics: list[dict[str, Any]], trivial_mse: float | None, path: Path) -> Path | None:
    """`loss_figure` written to `path`; None when there is nothing to draw."""
    fig = loss_figure(metrics, trivial_mse)
    return None if fig is None else save_figure(fig, path)


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


def read_reconstructions(path: Path) -> dict[str, Any] | None:
    """reconstructions.npz's arrays (train/artifacts.py writes it), or None when absent or unreadable."""
    import zipfile

    import numpy as np

    if not Path(path).is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # a torn or foreign file: the report goes on without this plot


def plot_reconstructions(npz: Path, path: Path) -> Path | None:
    """The saved test images (top row) over their reconstructions (bottom row), in data units.

    Draws RUN_DIR/reconstructions.npz: images (C, H, W), C=1 gray, C=3 RGB. Both rows share
    one intensity range (the shown inputs' min..max), so a washed-out reconstruction looks
    washed out. Skipped when the file is missing or the data is not images.
    """
    import numpy as np

    rec = read_reconstructions(npz)
    if rec is None or not bool(rec.get("is_image", False)):
        return None
    inputs, recons = rec["original"].astype(np.float64), rec["reconstruction"].astype(np.float64)
    if inputs.ndim != 4 or len(inputs) == 0 or inputs.shape != recons.shape:
        return None
    mse = rec.get("sample_mse")
    lo, hi = float(inputs.min()), float(inputs.max())
    span = hi - lo if hi > lo else 1.0

    def shown(img: np.ndarray) -> np.ndarray:
        # (C, H, W) in data units -> [0, 1] array imshow takes: (H, W) gray or (H, W, 3) RGB.
        unit = np.clip((img - lo) / span, 0.0, 1.0)
        return unit.transpose(1, 2, 0) if unit.shape[0] == 3 else unit[0]

    n = len(inputs)
    fig = new_figure(1.25 * n + 0.9, 3.0)
    axes = fig.subplots(2, n, squeeze=False)
    for i in range(n):
        for row, imgs in enumerate((inputs, recons)):
            ax = axes[row][i]
            ax.imshow(shown(imgs[i]), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        if mse is not None and i < len(mse):
            axes[1][i].set_xlabel(f"mse {float(mse[i]):.3g}", fontsize=7)
    axes[0][0].set_ylabel("input", fontsize=9)
    axes[1][0].set_ylabel("reconstruction", fontsize=9)
    fig.suptitle("First test samples and their reconstructions", fontsize=10)
    return save_figure(fig, path)


def write_plots(run_dir: str | Path) -> list[Path]:
    """Draw every plot the run directory has the inputs for into RUN_DIR/plots; returns the files written."""
    run = load_run(run_dir)
    out = run.path / PLOTS
    metrics = read_jsonl(run.path / METRICS)
    written = [
        plot_loss(metrics, run.summary.get("trivial_mse"), out / LOSS_PNG),
        plot_lr(metrics, out / LR_PNG),
        plot_reconstructions(run.path / RECONSTRUCTIONS, out / RECONSTRUCTIONS_PNG),
        *write_gradient_plots(read_records(run.path / GRADIENTS), out),
    ]
    return [p for p in written if p is not None]
