"""Probe section: logistic regression and k-NN on a Fashion-MNIST autoencoder's 32-d codes vs pixels and PCA-32.

Trains the fashion-mlp preset (784-512-256-32, `EPOCHS` epochs on `TRAIN_LIMIT`
seeded training images), then fits the probes on `PROBE_LIMIT` training images (a
seeded subset, for 2 shared cores) and scores the full test set.
``--quick``: digits.

    python -m benchmarks --sections probe              (inside make bench)
    python -m benchmarks.apps_probe [--quick] [--out probe.json]
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

PRESET = "fashion-mlp"
EPOCHS = 10
TRAIN_LIMIT = 20_000  # training images for the autoencoder (2 shared cores)
PROBE_LIMIT = 10_000


def run(quick: bool, log: Callable[[str], None], data_dir: str | None = None) -> dict[str, Any]:
    import aegrad
    from aegrad.apps.probe.probe import probe_run

    preset, overrides, limit = (("digits-mlp", {"train.epochs": 5}, None) if quick
                                else (PRESET, {"train.epochs": EPOCHS, "data.limit": TRAIN_LIMIT}, PROBE_LIMIT))
    if data_dir:
        overrides["data.path"] = data_dir
    cfg = aegrad.load_config(preset=preset, overrides=overrides)
    with tempfile.TemporaryDirectory(prefix="aegrad-probe-") as tmp:
        run_ = aegrad.train(cfg, out=Path(tmp) / "run", report=False)
        log(f"[probe] trained {preset}: test MSE {run_.summary['test_mse']:.5f}")
        res = probe_run(run_.path, limit=limit)
    res.pop("run")
    feats = res["features"]
    return {**res, "preset": preset, "overrides": overrides, "test_mse": run_.summary["test_mse"],
            "target": {"what": f"latent-{feats['latent']['dims']} logistic probe above PCA-{feats['pca']['dims']}",
                       "met": feats["latent"]["logistic"] > feats["pca"]["logistic"]}}


def table(res: dict[str, Any]) -> list[str]:
    lines = [
        f"Features for classification, {res['data']}: `{res['preset']}` "
        f"({', '.join(f'{k}={v}' for k, v in res['overrides'].items()) or 'as is'}; "
        f"test MSE {res['test_mse']:.5f}); probes fitted on {res['train_samples']} training images, scored on "
        f"{res['test_samples']} test images (majority class {res['chance']:.3f}).",
        "",
        f"| features | dims | logistic regression | {res['neighbors']}-NN |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {n} | {r['dims']} | {r['logistic']:.4f} | {r['knn']:.4f} |" for n, r in res["features"].items()]
    t = res["target"]
    lines += ["", f"Target ({t['what']}): {'met' if t['met'] else 'not met'}.", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    from benchmarks.apps import standalone

    return standalone("probe", argv, "digits")


if __name__ == "__main__":
    raise SystemExit(main())
