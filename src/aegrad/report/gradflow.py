"""Gradient-flow plots from a run's gradients.jsonl records (diagnose/monitor.py documents the format).

Two PNGs, drawn from the records alone:

* ``gradflow.png`` — heatmap, layer (forward order, top to bottom) × training step, colour =
  log10 of the window's mean weight-gradient RMS ‖∂L/∂W‖/√numel. A vanishing gradient shows as
  rows that darken toward the input; an explosion as columns that brighten (non-finite windows
  are grey).
* ``gradflow_layers.png`` — gradient RMS per layer (log scale) at the start, middle and end of
  training: the profile's slope across layers is the per-layer gain of the backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aegrad.diagnose.records import final_layout, layer_grad_rms
from aegrad.report.common import (
    GRADFLOW_LAYERS_PNG,
    GRADFLOW_PNG,
    log_axis,
    new_figure,
    save_figure,
)


def _rms_matrix(records: Sequence[dict[str, Any]]) -> tuple[list[str], list[int], list[list[float]]]:
    """(layers, window end steps, log10 RMS rows per layer — NaN where missing, zero or non-finite)."""
    windows = final_layout(list(records))
    layers = list(windows[-1]["layers"])
    steps = [int(r["step"]) for r in windows]
    sizes = [layer_grad_rms(r) or [None] * len(layers) for r in windows]
    rows = [[math.log10(v) if v is not None and v > 0 else math.nan for v in (s[j] for s in sizes)]
            for j in range(len(layers))]
    return layers, steps, rows


def plot_gradient_flow(records: Sequence[dict[str, Any]], path: str | Path) -> Path | None:
    """Heatmap of log10 gradient RMS, layer × step; None when there is nothing to draw."""
    if not records or not records[-1].get("layers"):
        return None
    import numpy as np

    layers, steps, rows = _rms_matrix(records)
    z = np.ma.masked_invalid(np.array(rows, dtype=float))
    fig = new_figure(max(6.0, min(12.0, 4.0 + 0.08 * len(steps))), max(3.0, min(12.0, 1.2 + 0.28 * len(layers))))
    ax = fig.add_subplot(1, 1, 1)
    starts = [s - int(r["window_steps"]) for s, r in zip(steps, final_layout(list(records)))]
    edges = [*starts, steps[-1]] if steps else [0, 1]
    y_edges = np.arange(len(layers) + 1) - 0.5
    if z.count() == 0:
        ax.text(0.5, 0.5, "no finite, nonzero gradient", ha="center", va="center", transform=ax.transAxes)
    else:
        from matplotlib import colormaps

        cmap = colormaps["viridis"].with_extremes(bad="lightgrey")  # grey: zero or non-finite window
        mesh = ax.pcolormesh(edges, y_edges, z, cmap=cmap, shading="flat")
        cb = fig.colorbar(mesh, ax=ax)
        cb.set_label("log10 gradient RMS")
    ax.set_yticks(range(len(layers)))
    ax.set_yticklabels(layers, fontsize=7)
    ax.set_ylim(len(layers) - 0.5, -0.5)  # first layer on top
    ax.set_xlabel("step")
    ax.set_ylabel("layer (forward order)")
    ax.set_title("Gradient flow: weight-gradient RMS per layer", fontsize=10)
    return save_figure(fig, Path(path))


def plot_layer_gradients(records: Sequence[dict[str, Any]], path: str | Path) -> Path | None:
    """Gradient RMS per layer at the first, middle and last window; None when there is nothing to draw."""
    if not records or not records[-1].get("layers"):
        return None
    layers, steps, rows = _rms_matrix(records)
    n = len(steps)
    picks = sorted({0, n // 2, n - 1})
    names = {0: "start", n // 2: "middle", n - 1: "end"}
    fig = new_figure(max(5.0, min(12.0, 2.0 + 0.35 * len(layers))), 3.6)
    ax = fig.add_subplot(1, 1, 1)
    drawn = False
    for w, style in zip(picks, ("o-", "s--", "^-")):
        xs = [j for j in range(len(layers)) if math.isfinite(rows[j][w])]
        if not xs:
            continue
        ax.plot(xs, [10 ** rows[j][w] for j in xs], style, label=f"{names[w]} (step {steps[w]})", markersize=4)
        drawn = True
    if drawn:
        log_axis(ax)
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no finite, nonzero gradient", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(layers, rotation=60, ha="right", fontsize=7)
    ax.set_xlabel("layer (forward order)")
    ax.set_ylabel("gradient RMS")
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title("Weight-gradient RMS per layer at the start, middle and end of training", fontsize=10)
    return save_figure(fig, Path(path))


def write_gradient_plots(records: Sequence[dict[str, Any]], out_dir: str | Path) -> list[Path | None]:
    """Both gradient plots into `out_dir` (gradflow.png, gradflow_layers.png); None for a skipped one."""
    out = Path(out_dir)
    return [plot_gradient_flow(records, out / GRADFLOW_PNG), plot_layer_gradients(records, out / GRADFLOW_LAYERS_PNG)]
