"""``aegrad anomaly``: an autoencoder outlier detector beside IsolationForest, PCA and PyOD on the same split.

Cases: ``--data breast-cancer`` (benign normal), ``--data digits|fashion-mnist|mnist``
(leave-one-class-out), ``--csv FILE --label-column N --normal-label L`` (your
labelled table), or ``--csv FILE`` alone (unlabelled: fit on every row, write
each row's score and flag to ``--out``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

IMAGE_SOURCES = ("digits", "fashion-mnist", "mnist")
DATASETS = ("breast-cancer", *IMAGE_SOURCES)


def add_parser(sub) -> None:
    p = sub.add_parser("anomaly", help="autoencoder anomaly detection vs IsolationForest, PCA and PyOD (AUROC/AUPRC)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--data", choices=DATASETS, help="a built-in case (images: leave-one-class-out)")
    what.add_argument("--csv", help="your CSV, one row per sample (header optional)")
    p.add_argument("--label-column", type=int, help="csv: the column holding integer labels")
    p.add_argument("--normal-label", type=int, help="csv: the label of normal rows (others are anomalies)")
    p.add_argument("--latent", type=int, default=None, help="code size (default 8 for tables, 16 for images)")
    p.add_argument("--widths", default=None, help="encoder hidden widths, e.g. 64 or 256,64")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 100 for tables, 20 for images)")
    p.add_argument("--score", default="reconstruction", help="reconstruction | latent | combined")
    p.add_argument("--contamination", type=float, default=0.1, help="share flagged as outliers (unlabelled csv)")
    p.add_argument("--baselines", default=None, help="comma-separated baselines (default: all available)")
    p.add_argument("--classes", default=None, help="images: anomaly classes to run (default all)")
    p.add_argument("--limit", type=int, help="images: at most this many training images")
    p.add_argument("--test-limit", type=int, help="images: at most this many test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the result JSON (labelled) or the per-row scores CSV (unlabelled csv)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _ints(text: str | None, what: str) -> list[int] | None:
    from aegrad.errors import UserError

    if text is None:
        return None
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"{what} expects comma-separated integers such as 256,64, got {text!r}") from None


def detector_params(args: argparse.Namespace, images: bool) -> dict[str, Any]:
    """AutoencoderOutlierDetector's parameters: per-case defaults, then the flags given."""
    params: dict[str, Any] = (
        {"latent": 16, "widths": (256, 64), "epochs": 20, "batch_size": 128, "normalize": "none"}
        if images
        else {"latent": 8, "widths": (64,), "epochs": 100, "batch_size": 32, "normalize": "zscore"}
    )
    if args.latent is not None:
        params["latent"] = args.latent
    if (widths := _ints(args.widths, "--widths")) is not None:
        params["widths"] = tuple(widths)
    if args.epochs is not None:
        params["epochs"] = args.epochs
    return {**params, "anomaly_score": args.score, "contamination": args.contamination, "random_state": args.seed}


def detectors(params: dict[str, Any], baselines: list[str] | None, seed: int) -> dict[str, Any]:
    """name -> factory: aegrad's detector first, then the baselines (their latent/components = params' latent)."""
    from aegrad.apps.anomaly.baselines import BASELINES, create_baseline, list_baselines
    from aegrad.apps.anomaly.detector import AutoencoderOutlierDetector
    from aegrad.errors import UserError

    names = baselines if baselines is not None else list_baselines()
    for n in names:
        if n not in list_baselines():
            raise UserError(f"unknown or unavailable baseline {n!r}; valid here: {', '.join(list_baselines())} "
                            f"(all: {', '.join(BASELINES.names())})")
    out: dict[str, Any] = {"aegrad": lambda: AutoencoderOutlierDetector(**params)}
    for n in names:
        out[n] = lambda n=n: create_baseline(n, params["latent"], seed)
    return out


def _check(args: argparse.Namespace) -> None:
    from aegrad.apps.anomaly.scores import list_scores
    from aegrad.errors import UserError

    if args.score not in list_scores():
        raise UserError(f"unknown --score {args.score!r}; valid: {', '.join(list_scores())}")
    if not 0 < args.contamination <= 0.5:
        raise UserError(f"--contamination must be in (0, 0.5], got {args.contamination}")
    for name in ("latent", "epochs", "limit", "test_limit"):
        if (v := getattr(args, name)) is not None and v < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {v}")
    if args.csv is None and (args.label_column is not None or args.normal_label is not None):
        raise UserError("--label-column/--normal-label apply to --csv only")
    if args.csv is not None and (args.label_column is None) != (args.normal_label is None):
        raise UserError("give --label-column and --normal-label together (or neither, for unlabelled scoring)")


def _images(args: argparse.Namespace, found: dict[str, Any], progress) -> dict[str, Any]:
    from aegrad.apps.anomaly.cases import image_classes
    from aegrad.apps.anomaly.protocol import leave_one_class_out

    x_tr, y_tr, x_te, y_te = image_classes(args.data, args.limit, args.test_limit, args.seed)
    classes = _ints(args.classes, "--classes")
    res: dict[str, Any] = {"case": args.data, "protocol": "leave-one-class-out", "train_rows": len(x_tr),
                           "test_rows": len(x_te)}
    res["detectors"] = {}
    for name, make in found.items():
        report = lambda c, r, name=name: progress(f"{name} class {c}: AUROC {r['auroc']:.4f} AUPRC {r['auprc']:.4f}")
        res["detectors"][name] = leave_one_class_out(make, x_tr, y_tr, x_te, y_te, classes, on_class=report)
    return res


def _labelled_table(table, found: dict[str, Any], seed: int) -> dict[str, Any]:
    from aegrad.apps.anomaly.cases import compare, novelty_split, summary

    split = novelty_split(table, seed=seed)
    return {"case": table.name, "protocol": "novelty (fit on normal training rows)", **summary(split),
            "detectors": compare(found, split)}


def _unlabelled(args: argparse.Namespace, params: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from aegrad.apps.anomaly.detector import AutoencoderOutlierDetector
    from aegrad.config import DataConfig
    from aegrad.data.base import SOURCES

    x = SOURCES.get("csv")(DataConfig(source="csv", path=args.csv), args.seed).x.astype(np.float64)
    det = AutoencoderOutlierDetector(**params).fit(x)
    scores = -det.score_samples(x)
    flags = det.predict(x) == -1
    if args.out:
        from aegrad.run import atomic_write_text

        from pathlib import Path

        lines = ["row,anomaly_score,outlier"] + [f"{i},{s:.6g},{int(f)}" for i, (s, f) in enumerate(zip(scores, flags))]
        atomic_write_text(Path(args.out), "\n".join(lines) + "\n")
    top = np.argsort(-scores)[:10]
    return {"case": args.csv, "protocol": "unlabelled (fit on every row)", "rows": len(x), "outliers": int(flags.sum()),
            "threshold": float(-det.offset_), "top_rows": top.tolist(), "scores_csv": args.out}


def format_result(res: dict[str, Any]) -> str:
    lines = [f"{res['case']}: {res['protocol']}"]
    if "detectors" not in res:
        lines.append(f"{res['outliers']} of {res['rows']} rows flagged (score > {res['threshold']:.4g}); "
                     f"most anomalous rows: {res['top_rows']}")
        return "\n".join(lines)
    dets = res["detectors"]
    if "mean_auroc" in next(iter(dets.values())):
        classes = list(next(iter(dets.values()))["per_class"])
        lines.append(f"{'detector':<20} " + " ".join(f"{c:>6}" for c in classes) + "  mean AUROC  mean AUPRC")
        for name, r in dets.items():
            per = " ".join(f"{r['per_class'][c]['auroc']:6.3f}" for c in classes)
            lines.append(f"{name:<20} {per}  {r['mean_auroc']:10.4f}  {r['mean_auprc']:10.4f}")
    else:
        lines.append(f"{res['train_normal_rows']} normal training rows; {res['test_anomalies']} anomalies in "
                     f"{res['test_rows']} test rows")
        lines.append(f"{'detector':<20} {'AUROC':>7} {'AUPRC':>7}")
        for name, r in dets.items():
            lines.append(f"{name:<20} {r['auroc']:7.4f} {r['auprc']:7.4f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import sys

    from aegrad.apps.anomaly.cases import breast_cancer, csv_table
    from aegrad.run import write_json

    _check(args)
    images = args.data in IMAGE_SOURCES
    params = detector_params(args, images)
    if args.csv is not None and args.label_column is None:
        res = _unlabelled(args, params)
    else:
        found = detectors(params, args.baselines.split(",") if args.baselines else None, args.seed)
        if images:
            res = _images(args, found, lambda m: print(m, file=sys.stderr, flush=True))
        else:
            table = (breast_cancer() if args.data == "breast-cancer"
                     else csv_table(args.csv, args.label_column, args.normal_label))
            res = _labelled_table(table, found, args.seed)
        res["aegrad_params"] = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
        if args.out:
            from pathlib import Path

            write_json(Path(args.out), res)
    print(json.dumps(res, indent=2) if args.json else format_result(res))
    return 0


COMMANDS = {"anomaly": run}
