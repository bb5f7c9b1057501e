"""``aegrad probe RUN_DIR``: linear and k-NN probes of a run's codes vs raw pixels and PCA."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser("probe", help="logistic-regression and k-NN accuracy of a run's codes vs pixels and PCA")
    p.add_argument("run_dir")
    p.add_argument("--limit", type=int, help="at most this many training samples for the classifiers")
    p.add_argument("--test-limit", type=int, help="at most this many test samples")
    p.add_argument("--neighbors", type=int, default=5, help="k of the k-NN probe (default 5)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def format_probe(res: dict) -> str:
    knn = f"{res['neighbors']}-NN"
    lines = [
        f"{res['run']}: {res['data']}, {res['train_samples']} train / {res['test_samples']} test, "
        f"{res['classes']} classes (majority class {res['chance']:.3f})",
        f"{'features':<8} {'dims':>5} {'logistic':>9} {knn:>7}",
    ]
    for name, r in res["features"].items():
        lines.append(f"{name:<8} {r['dims']:>5} {r['logistic']:>9.4f} {r['knn']:>7.4f}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from aegrad.apps.probe.probe import probe_run
    from aegrad.errors import UserError

    for name in ("limit", "test_limit"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.neighbors < 1:
        raise UserError(f"--neighbors must be at least 1, got {args.neighbors}")
    from aegrad.apps.family import command_for
    from aegrad.run import load_run

    own = command_for("probe", load_run(args.run_dir).config.model.kind)  # a text run: codes vs TF-IDF
    if own is not None:
        return own(args)
    res = probe_run(args.run_dir, args.limit, args.test_limit, args.neighbors)
    print(json.dumps(res, indent=2) if args.json else format_probe(res))
    return 0

COMMANDS = {"probe": run}
