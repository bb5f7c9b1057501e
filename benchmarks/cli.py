"""``python -m benchmarks``: parse, run, write bench.json, print the Markdown tables."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from benchmarks import harness, out_problem, table
from benchmarks.spec import CONTESTANTS

PEER_PYTHON_ENV = "AEGRAD_BENCH_PYTHON"  # interpreter of a separate environment holding the peers


def _names(text: str, valid: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in valid]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(bad) or '(none)'}; valid: {', '.join(valid)}")
    return names


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument(
        "--quick", action="store_true", help="tiny run for smoke tests: a few hundred samples, 1 epoch, 1 repeat"
    )
    p.add_argument(
        "--repeats",
        type=_positive,
        help="RT1 runs per contestant, interleaved (default 5; --quick 1); the seed and scaling sections run min(N, 3)",
    )
    p.add_argument("--epochs", type=_positive, help="RT1 epochs (default 5; --quick 1)")
    p.add_argument(
        "--out", type=Path, default=Path("bench.json"), help="where to write the results (default bench.json)"
    )
    p.add_argument(
        "--only",
        type=lambda t: _names(t, CONTESTANTS, "contestant"),
        help=f"comma-separated contestants to run (default all: {','.join(CONTESTANTS)})",
    )
    p.add_argument(
        "--sections",
        type=lambda t: _names(t, harness.SECTIONS, "section"),
        help=f"comma-separated sections (default all: {','.join(harness.SECTIONS)})",
    )
    p.add_argument(
        "--peer-python",
        default=os.environ.get(PEER_PYTHON_ENV),
        help=f"interpreter with pythae/tensorflow-cpu installed (default ${PEER_PYTHON_ENV}, else this one)",
    )
    p.add_argument("--data-dir", help="folder with Fashion-MNIST's IDX files (default: searched like aegrad does)")
    p.add_argument(
        "--render", type=Path, metavar="BENCH_JSON", help="print the tables of an existing bench.json and exit"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.render is not None:
        try:
            print(table.render(json.loads(args.render.read_text(encoding="utf-8"))), end="")
        except (OSError, ValueError, KeyError) as err:
            print(f"cannot render {args.render}: {err}", file=sys.stderr)
            return 2
        return 0
    if (problem := out_problem(args.out)) is not None:
        print(f"python -m benchmarks: --out: {problem}", file=sys.stderr)
        return 2
    settings = harness.Settings.make(
        quick=args.quick,
        repeats=args.repeats,
        epochs=args.epochs,
        only=args.only,
        sections=args.sections,
        peer_python=args.peer_python,
        data_dir=args.data_dir,
    )

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    result = harness.run_all(settings, log)
    text = json.dumps(result, indent=2) + "\n"
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)  # atomic: a killed run never leaves half a bench.json
    print(table.render(result), end="")
    log(f"wrote {args.out}")
    # Targets never fail the build; a contestant that crashed does.
    return 1 if result["failed"] else 0
