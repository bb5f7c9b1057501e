"""Anomaly section: aegrad's AutoencoderOutlierDetector beside PyOD, IsolationForest and PCA, same splits.

Fashion-MNIST, leave-one-class-out: for each class c the detectors are fitted
on `TRAIN_LIMIT` training images (a seeded subset; class c removed) and score
the full 10,000-image test set, class c being the anomaly. Breast cancer:
benign as normal, 30% stratified test split. ``--quick``: digits, one class, 3 epochs, no PyOD.

    python -m benchmarks --sections anomaly            (inside make bench)
    python -m benchmarks.apps_anomaly [--quick] [--out anomaly.json]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

TRAIN_LIMIT = 3_000  # Fashion-MNIST training images per run (before removing the anomaly class): 2 shared cores
IMAGE_PARAMS = {"latent": 16, "widths": (256, 64), "epochs": 10, "batch_size": 128, "normalize": "none"}
TABLE_PARAMS = {"latent": 8, "widths": (64,), "epochs": 100, "batch_size": 32, "normalize": "zscore"}
SEED = 0


def _detectors(params: dict[str, Any], quick: bool) -> dict[str, Callable[[], Any]]:
    """aegrad's detector and every available baseline (--quick: without PyOD, minutes on 2 shared cores)."""
    from aegrad.apps.anomaly.baselines import create_baseline, list_baselines
    from aegrad.apps.anomaly.detector import AutoencoderOutlierDetector

    if quick:
        params = {**params, "epochs": 3}
    out: dict[str, Callable[[], Any]] = {"aegrad": lambda: AutoencoderOutlierDetector(**params, random_state=SEED)}
    for name in (n for n in list_baselines() if not (quick and n == "pyod_autoencoder")):
        out[name] = lambda name=name: create_baseline(name, params["latent"], SEED)
    return out


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    return fn(), time.perf_counter() - t0


def run(quick: bool, log: Callable[[str], None], data_dir: str | None = None) -> dict[str, Any]:
    """Both cases, every available detector; the dict stored under bench.json's apps.anomaly."""
    import os

    from aegrad.apps.anomaly.baselines import pyod_available
    from aegrad.apps.anomaly.cases import breast_cancer, compare, image_classes, novelty_split, summary
    from aegrad.apps.anomaly.protocol import leave_one_class_out

    if data_dir:
        os.environ["AEGRAD_DATA"] = data_dir
    source, limit, classes = ("digits", None, [0]) if quick else ("fashion-mnist", TRAIN_LIMIT, None)
    x_tr, y_tr, x_te, y_te = image_classes(source, limit, None, SEED)
    images: dict[str, Any] = {"source": source, "train_rows": len(x_tr), "test_rows": len(x_te), "detectors": {}}
    for name, make in _detectors(IMAGE_PARAMS, quick).items():
        note = lambda c, r, name=name: log(f"[anomaly] {source} {name} class {c}: AUROC {r['auroc']:.4f}")
        res, wall = _timed(
            lambda make=make, note=note: leave_one_class_out(make, x_tr, y_tr, x_te, y_te, classes, on_class=note))
        images["detectors"][name] = {**res, "wall_s": wall}
    split = novelty_split(breast_cancer(), seed=SEED)
    table = {"source": "breast-cancer", **summary(split), "detectors": compare(_detectors(TABLE_PARAMS, quick), split)}
    aegrad_auroc = images["detectors"]["aegrad"]["mean_auroc"]
    baselines = {n: r["mean_auroc"] for n, r in images["detectors"].items() if n != "aegrad"}
    return {
        "images": images,
        "table": table,
        "params": {"images": {**IMAGE_PARAMS, "widths": list(IMAGE_PARAMS["widths"])},
                   "table": {**TABLE_PARAMS, "widths": list(TABLE_PARAMS["widths"])}},
        "pyod": pyod_available(),
        "target": {"what": f"aegrad mean AUROC >= every baseline's on {source}", "value": aegrad_auroc,
                   "best_baseline": max(baselines, key=baselines.get) if baselines else None,
                   "met": all(aegrad_auroc >= v for v in baselines.values())},
    }


def table(res: dict[str, Any]) -> list[str]:
    img, tab = res["images"], res["table"]
    dets = img["detectors"]
    classes = list(next(iter(dets.values()))["per_class"])
    lines = [
        f"Anomaly detection, {img['source']} leave-one-class-out ({img['train_rows']} training images minus the "
        f"held-out class, {img['test_rows']} test images): AUROC per anomaly class, mean AUROC and AUPRC.",
        "",
        "| detector | " + " | ".join(str(c) for c in classes) + " | mean AUROC | mean AUPRC | wall s |",
        "|---|" + "---:|" * (len(classes) + 3),
    ]
    for name, r in dets.items():
        per = " | ".join(f"{r['per_class'][c]['auroc']:.3f}" for c in classes)
        lines.append(f"| {name} | {per} | {r['mean_auroc']:.4f} | {r['mean_auprc']:.4f} | {r['wall_s']:.0f} |")
    t = res["target"]
    lines += ["", f"Target ({t['what']}): {t['value']:.4f}, best baseline {t['best_baseline']}: "
              f"{'met' if t['met'] else 'not met'}.", ""]
    lines += [
        f"Breast cancer (benign normal; {tab['train_normal_rows']} benign training rows, {tab['test_anomalies']} "
        f"malignant among {tab['test_rows']} test rows):",
        "",
        "| detector | AUROC | AUPRC |",
        "|---|---:|---:|",
    ]
    lines += [f"| {n} | {r['auroc']:.4f} | {r['auprc']:.4f} |" for n, r in tab["detectors"].items()]
    if not res["pyod"]:
        lines += ["", "PyOD not installed: pyod_autoencoder skipped (pip install -e '.[bench]')."]
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    from benchmarks.apps import standalone

    return standalone("anomaly", argv, "digits, one anomaly class, no PyOD")


if __name__ == "__main__":
    raise SystemExit(main())
