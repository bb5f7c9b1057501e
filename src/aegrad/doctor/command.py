"""``aegrad doctor``: probe remedies for a config, print a before/after table and the winning patch."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="probe remedies in short parallel runs, rank them, recommend a patch")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", help="a built-in config (see `aegrad presets`); default digits-mlp")
    src.add_argument("--config", help="a YAML config file, e.g. runs/X/config.yaml")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set model.depth=8 (repeatable)")
    p.add_argument("--budget", type=float, default=120.0, help="seconds for probing (default 120)")
    p.add_argument("--jobs", type=int, default=None, help="probes side by side (default: the cores, at least 2)")
    p.add_argument("--probe-epochs", type=int, default=None,
                   help="epochs per probe (default the run's, capped at 1000 batches)")
    p.add_argument("--write", metavar="FILE", help="write the patched config (YAML) to FILE")
    p.add_argument("--apply", action="store_true", help="train the full run with the winning patch")
    p.add_argument("--out", help="keep the probe folders (and the applied run, in OUT/run) here")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def _ratio(x: float) -> str:
    return f"{x:.3f}" if math.isfinite(x) else "diverged"


def _progress(console):
    def show(p) -> None:
        what = _ratio(p.test_over_trivial) if p.status == "ok" else f"FAILED: {p.error}"
        console.print(f"  probe {p.name:<34} {what:>10}  {', '.join(p.kinds) or 'healthy'}  ({p.wall_s:.1f} s)")
    return show


def print_result(res, console) -> None:
    from rich.table import Table

    from aegrad.diagnose import format_findings, format_patch

    console.print(format_findings(res.findings))
    noise = "unknown" if res.noise is None else f"{res.noise:.3f}"
    t = Table(title=f"doctor: {res.probe_epochs}-epoch probes, test MSE / trivial MSE (baseline {res.kind}, "
                    f"noise {noise}, margin {res.margin:.3f})")
    for col in ("probe", "patch", "test/trivial", "findings"):
        t.add_column(col)
    t.columns[2].justify = "right"
    rows = [res.baseline] + ([res.repeat] if res.repeat else []) + res.probes + res.confirms
    for p in rows:
        mark = " *" if p is res.winner else ""
        ratio = _ratio(p.test_over_trivial) if p.status == "ok" else "failed"
        t.add_row(p.name + mark, format_patch(p.patch) if p.patch else "(as given)" if p.name == "baseline"
                  else "(seed + 1)", ratio, ", ".join(p.kinds) or "—")
    console.print(t)
    if res.skipped:
        console.print(f"not probed (budget {res.budget_s:g} s): {', '.join(n for n, _ in res.skipped)}")
    if res.winner is None:
        console.print(f"verdict: {res.verdict}")
    else:
        console.print(f"verdict: {res.verdict}: {_ratio(res.baseline.test_over_trivial)} -> "
                      f"{_ratio(res.winner.test_over_trivial)} x trivial")
        console.print(f"patch: {format_patch(res.patch)}")
    console.print(f"doctor took {res.wall_s:.1f} s")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from aegrad.config import dump_yaml, load_config, parse_set_args
    from aegrad.doctor import doctor
    from aegrad.errors import UserError
    from aegrad.run import atomic_write_text

    cfg = load_config(preset=args.preset, path=args.config, overrides=parse_set_args(args.sets))
    if args.write and Path(args.write).is_dir():
        raise UserError(f"--write {args.write} is a folder; give a file name such as doctor.yaml")
    console = Console(file=sys.stderr if args.json else sys.stdout, highlight=False)
    res = doctor(cfg, budget=args.budget, jobs=args.jobs, probe_epochs=args.probe_epochs, apply=args.apply,
                 out=args.out, progress=_progress(console))
    if args.write:
        atomic_write_text(Path(args.write), dump_yaml(res.patched_config))
    if args.json:
        print(json.dumps(res.to_dict(), indent=2, default=str))
        return 0
    print_result(res, console)
    if args.write:
        console.print(f"patched config: {args.write}")
    if res.applied is not None:
        s = res.applied.summary
        console.print(f"full run: {res.applied.path}: test MSE {s['test_mse']:.5g} = "
                      f"{s['test_over_trivial']:.3f} x trivial, findings: "
                      f"{', '.join(f['kind'] for f in res.applied.findings['findings']) or 'none'}")
    return 0


COMMANDS = {"doctor": run}
