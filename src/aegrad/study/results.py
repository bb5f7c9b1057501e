"""A study's results: one row per trial, read from its run directory, written as CSV and JSON.

Per trial: what it varied (bundle, grid point, seed, every override), the summary
metrics the spec asks for, and two gradient-health figures from gradients.jsonl —
the ratio of the first parameterised layer's weight-gradient RMS to the last's in
the first monitor window (``grad_ratio_start``) and in the last (``grad_ratio_end``);
≪ 1 means the gradient vanishes on its way back to the input, ≫ 1 that it explodes —
plus the kinds of the run's findings.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from aegrad.diagnose.records import GradientRecord, layer_grad_rms, read_records
from aegrad.run import FINDINGS, GRADIENTS, SUMMARY, atomic_write_text, read_json, write_json
from aegrad.study.layout import FAILED, RESULTS_CSV, RESULTS_JSON, SWEEP_CSV, SWEEP_JSON
from aegrad.study.spec import Spec, Trial


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def grad_ratio(record: GradientRecord) -> float | None:
    """First parameterised layer's weight-gradient RMS over the last's, in one window."""
    sizes = layer_grad_rms(record)
    if len(sizes) < 2 or sizes[0] is None or not sizes[-1]:
        return None
    return sizes[0] / sizes[-1]


def grad_ratios(records: list[GradientRecord]) -> tuple[float | None, float | None]:
    """(ratio in the first window, ratio in the last window) of a run's gradient log."""
    windows = [r for r in records if len(r.get("layers") or []) >= 2]
    if not windows:
        return None, None
    return grad_ratio(windows[0]), grad_ratio(windows[-1])


def trial_result(trial: Trial, run_dir: Path, study_dir: Path, metrics: list[str]) -> dict[str, Any]:
    """One trial's row: its status and error, metrics, gradient figures and finding kinds."""
    row: dict[str, Any] = {
        "trial": trial.id,
        "kind": trial.kind,
        "bundle": trial.bundle,
        "seed": trial.seed,
        "grid": dict(trial.point),
        "overrides": trial.overrides,
        "path": run_dir.relative_to(study_dir).as_posix(),
        "status": "failed",
        "metrics": {},
        "grad_ratio_start": None,
        "grad_ratio_end": None,
        "findings": [],
        "error": None,
    }
    if trial.kind == "tune":
        row["tune_value"] = trial.tune_value
    if not (run_dir / SUMMARY).exists():
        failed = run_dir / FAILED
        missing = "no summary.json: the trial did not finish"
        row["error"] = read_json(failed).get("error", missing) if failed.exists() else missing
        return row
    summary = read_json(run_dir / SUMMARY)
    row["status"] = "ok"
    row["metrics"] = {m: summary.get(m) for m in metrics}
    row["test_over_trivial"] = _ratio(summary)
    row["grad_ratio_start"], row["grad_ratio_end"] = grad_ratios(read_records(run_dir / GRADIENTS))
    if (run_dir / FINDINGS).exists():
        row["findings"] = [f.get("kind") for f in read_json(run_dir / FINDINGS).get("findings", [])]
    return row


def _ratio(summary: dict[str, Any]) -> float | None:
    ratio = _finite(summary.get("test_over_trivial"))
    if ratio is None:
        test, trivial = _finite(summary.get("test_mse")), _finite(summary.get("trivial_mse"))
        ratio = test / trivial if test is not None and trivial else None
    return ratio


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return ";".join(_cell(x) for x in v)
    return str(v)


def csv_text(rows: list[dict[str, Any]], grid_keys: list[str], metrics: list[str], extra: list[str] = ()) -> str:
    """results.csv: trial, bundle, seed, status, grid keys, metrics, gradient figures, findings, error."""
    header = ["trial", "bundle", "seed", *extra, "status", *grid_keys, *metrics]
    header += ["grad_ratio_start", "grad_ratio_end", "findings", "error"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        values = [r["trial"], r["bundle"], r["seed"], *(r.get(k) for k in extra), r["status"]]
        values += [r["grid"].get(k) for k in grid_keys] + [r["metrics"].get(m) for m in metrics]
        values += [r["grad_ratio_start"], r["grad_ratio_end"], r["findings"], r["error"]]
        w.writerow([_cell(v) for v in values])
    return buf.getvalue()


def write_results(
    study_dir: Path, spec: Spec, rows: list[dict[str, Any]], sweep: dict[str, Any], run_s: float | None = None
) -> None:
    """results.json and results.csv (and lr_sweep.json/csv when the study swept)."""
    grid_keys = list(spec.grid)
    doc = {
        "study": spec.name,
        "description": spec.description,
        "quick": spec.quick_applied,
        "threshold": spec.threshold,
        "grid": spec.grid,
        "bundles": {name: {"description": b.description, "overrides": b.overrides} for name, b in spec.bundles.items()},
        "seeds": spec.seeds,
        "metrics": spec.metrics,
        "tuned": sweep.get("chosen", {}),
        "run_s": run_s,  # wall time of the invocation that wrote this (a resumed study: the last part only)
        "trials": rows,
    }
    write_json(study_dir / RESULTS_JSON, doc)
    atomic_write_text(study_dir / RESULTS_CSV, csv_text(rows, grid_keys, spec.metrics))
    if sweep.get("trials"):
        write_json(study_dir / SWEEP_JSON, sweep)
        extra = ["tune_key", "tune_value", "score", "chosen"]
        atomic_write_text(study_dir / SWEEP_CSV, csv_text(sweep["trials"], grid_keys, spec.metrics, extra=extra))
