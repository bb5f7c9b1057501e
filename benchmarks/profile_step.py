"""Where an RT1 training step spends its time: torch.profiler over aegrad.train, operators by self time.

    python -m benchmarks.profile_step [--limit 12800] [--rows 15] [--autograd]

Trains the fashion-mlp preset (RT1) for one epoch on `limit` samples once to warm
up, then again under ``torch.profiler`` (CPU activities), and prints the operators
sorted by self CPU time with their share of the total and the time per optimizer
step. ``--autograd`` profiles the autograd step instead of the dense step (the
way every step ran before ``train/dense.py``). The test split is cut to 256
samples so the epoch's evaluation is a negligible part of the profile; data
loading and normalisation (``pow``, ``uniform_``, ...) are in it, once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

TEST_LIMIT = 256  # evaluation is not what is profiled


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_step", description=__doc__.split("\n")[0])
    p.add_argument("--limit", type=int, default=12800, help="training samples (default 12800: 100 steps)")
    p.add_argument("--rows", type=int, default=15, help="operators to print")
    p.add_argument("--autograd", action="store_true", help="profile the autograd step instead of the dense step")
    args = p.parse_args(argv)
    if args.limit < 128 or args.rows < 1:
        print("benchmarks.profile_step: --limit must be >= 128 and --rows >= 1", file=sys.stderr)
        return 2

    import torch
    from torch.profiler import ProfilerActivity, profile

    import aegrad

    from aegrad.train.steps import StepOptions

    options = StepOptions(dense=not args.autograd)
    overrides = {"train.epochs": 1, "data.limit": args.limit, "data.test_limit": TEST_LIMIT}
    cfg = aegrad.load_config(preset="fashion-mlp", overrides=overrides)
    with tempfile.TemporaryDirectory() as tmp:
        aegrad.train(cfg, out=Path(tmp) / "warm", report=False, options=options)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            summary = aegrad.train(cfg, out=Path(tmp) / "run", report=False, options=options).summary
    steps = summary["steps"]
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    print(f"RT1, {args.limit} samples, {steps} steps, {'autograd' if args.autograd else 'dense'} step, "
          f"torch {torch.__version__}")
    print(f"profiled: {total / 1e3:,.1f} ms of self CPU time; "
          f"{summary['samples_per_s']:,.0f} samples/s under the profiler")
    print()
    print("| operator | calls | self CPU ms | share | ms per step |")
    print("|---|---:|---:|---:|---:|")
    for e in events[: args.rows]:
        ms = e.self_cpu_time_total / 1e3
        print(f"| `{e.key}` | {e.count} | {ms:,.1f} | {100 * ms * 1e3 / total:.1f}% | {ms / steps:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
