"""aegrad through its public API, as a user calls it: load_config + train.

Three contestants: ``aegrad`` (monitor on, the default users get),
``aegrad_monitor_off``, and ``aegrad_bf16`` (monitor on, ``train.precision:
bf16``). The task's fields become config overrides on the fashion-mlp preset
(the scaling runs vary widths and batch size the same way); the preset's kind,
activation and output must match the task or the run is refused, so a preset
edit cannot silently change what is compared. samples/s and test MSE come from
the run's summary (training time only).
"""

from __future__ import annotations

import inspect
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import data
from benchmarks.contestants import Measurement, register
from benchmarks.spec import AEGRAD, AEGRAD_BF16, AEGRAD_MONITOR_OFF, Task

PRESET = "fashion-mlp"


def overrides_for(task: Task, monitor: bool, precision: str = "fp32") -> dict[str, Any]:
    out: dict[str, Any] = {
        "seed": task.seed,
        "model.widths": list(task.widths),
        "model.latent": task.latent,
        "train.epochs": task.epochs,
        "train.batch_size": task.batch_size,
        "train.lr": task.lr,
        "train.threads": task.threads,
        "monitor.enabled": monitor,
        "train.precision": precision,
        "data.limit": task.n_train,
        "data.test_limit": task.n_test,
    }
    if task.data_dir is not None:
        out["data.path"] = task.data_dir
    return out


def _run(task: Task, monitor: bool, precision: str) -> Measurement:
    import aegrad

    cfg = aegrad.load_config(preset=PRESET, overrides=overrides_for(task, monitor, precision))
    # What the overrides leave to the preset must still be RT1 (pixels / 255 via a global minmax).
    got = {
        "data.source": cfg.data.source,
        "data.normalize": cfg.data.normalize,
        "model.kind": cfg.model.kind,
        "model.depth": cfg.model.depth,
        "model.activation": cfg.model.activation,
        "model.output": cfg.model.output,
        "train.optimizer": cfg.train.optimizer,
    }
    want = dict(zip(got, ("fashion-mnist", "minmax", "mlp", None, "relu", "sigmoid", "adam")))
    if got != want:
        diff = {k: got[k] for k in got if got[k] != want[k]}
        raise RuntimeError(f"preset {PRESET} no longer matches the benchmark task: {diff}, expected {want}")
    # `quiet` is the documented way to silence the run's console output; pass it where train() takes it.
    kwargs = {"quiet": True} if "quiet" in inspect.signature(aegrad.train).parameters else {}
    with tempfile.TemporaryDirectory() as tmp:
        run = aegrad.train(cfg, out=Path(tmp) / "run", **kwargs)
        summary = dict(run.summary)
    sps = float(summary["samples_per_s"])
    if summary.get("train_s"):
        train_s = float(summary["train_s"])
    else:
        train_s = (task.n_train or data.TRAIN_SIZE) * float(summary.get("epochs", task.epochs)) / sps
    keep = ("steps", "epochs", "wall_s", "trivial_mse", "findings", "train_samples", "stop_reason")
    return Measurement(sps, train_s, float(summary["test_mse"]), {k: summary[k] for k in keep if k in summary})


@register(AEGRAD, requires=("aegrad",), options={"monitor": True}, install_hint="pip install -e .")
@register(AEGRAD_MONITOR_OFF, requires=("aegrad",), options={"monitor": False}, install_hint="pip install -e .")
@register(
    AEGRAD_BF16, requires=("aegrad",), options={"monitor": True, "precision": "bf16"}, install_hint="pip install -e ."
)
def run(task: Task, monitor: bool, precision: str = "fp32") -> Measurement:
    return _run(task, monitor, precision)
