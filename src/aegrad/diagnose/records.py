"""The one reader of gradients.jsonl: typed window records, as the monitor writes them.

diagnose (findings), study (results) and report (gradflow) all read the file through
`read_records` and pick windows and per-layer sizes through the helpers here, so the format
(documented in monitor.py) is parsed in one place. Records stay plain dicts (JSON as written);
the TypedDicts say what each holds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypedDict


class WindowStats(TypedDict):
    """Mean, max and min over a window's steps, one value per layer (None: non-finite or missing)."""

    mean: list[float | None]
    max: list[float | None]
    min: list[float | None]


class LossStats(TypedDict):
    mean: float | None
    min: float | None
    max: float | None


class ActivationEntry(TypedDict):
    family: str  # models.activations.Unit's value: relu | leaky | sigmoid | tanh
    mean: float | None
    std: float | None
    dead: float | None  # relu/leaky only
    saturated: float | None  # sigmoid/tanh only
    output: bool  # after the last parameterised layer (the reconstruction's activation)


class GradientRecord(TypedDict):
    """One line of gradients.jsonl: a monitor window (see diagnose/monitor.py)."""

    step: int
    window_steps: int
    layers: list[str]
    numel: list[int]
    grad_norm: WindowStats
    grad_rms: list[float | None]
    weight_norm: list[float | None]
    update_ratio: list[float | None] | None
    nonfinite_steps: int
    loss: LossStats | None
    activations: dict[str, ActivationEntry]


def parse_records(lines: list[str]) -> list[GradientRecord]:
    """The window records among `lines` (blank lines, a torn last line from a kill, non-records skipped)."""
    out: list[GradientRecord] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if _well_formed(rec):
            out.append(rec)  # type: ignore[arg-type]
    return out


def _well_formed(rec: Any) -> bool:
    """A window record with every key the readers index, each of the right kind, lists as long as `layers`
    (a damaged or foreign line is skipped like a torn one, never a KeyError in a reader)."""
    if not isinstance(rec, dict) or not GradientRecord.__annotations__.keys() <= rec.keys():
        return False
    layers, gn = rec["layers"], rec["grad_norm"]
    if not isinstance(layers, list) or not isinstance(gn, dict) or not isinstance(rec["activations"], dict):
        return False
    if not all(isinstance(rec[k], int) and not isinstance(rec[k], bool)
               for k in ("step", "window_steps", "nonfinite_steps")):
        return False
    lists = [rec["numel"], rec["grad_rms"], rec["weight_norm"], *(gn.get(k) for k in ("mean", "max", "min"))]
    if rec["update_ratio"] is not None:
        lists.append(rec["update_ratio"])
    return all(isinstance(v, list) and len(v) == len(layers) for v in lists)


def read_records(path: str | Path) -> list[GradientRecord]:
    """Every window record of a gradients.jsonl file; [] when the file does not exist."""
    p = Path(path)
    if not p.exists():
        return []
    return parse_records(p.read_text(encoding="utf-8").splitlines())


def final_layout(records: list[GradientRecord]) -> list[GradientRecord]:
    """The windows whose layers are the last window's (a run's statistics compare like with like)."""
    if not records:
        return []
    layers = records[-1]["layers"]
    return [r for r in records if r["layers"] == layers]


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def layer_grad_rms(record: GradientRecord) -> list[float | None]:
    """Per-layer weight-gradient RMS of one window, in forward order (None where missing or non-finite).

    ``grad_rms`` is the window's mean ‖∂L/∂W‖/√numel per layer; a record without it falls back
    to the mean norm.
    """
    rms = record.get("grad_rms")
    if rms is None:
        rms = (record.get("grad_norm") or {}).get("mean") or []
    return [_finite(v) for v in rms]
