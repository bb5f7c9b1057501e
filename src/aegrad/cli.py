"""The command line: thin commands over the API — parse, call, print.

Bad input (config, data, files) is one line on stderr and exit status 2, never
a traceback. This is the only module that configures logging and prints.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aegrad.apps.anomaly import command as anomaly_command
from aegrad.apps.compress import command as codec_command
from aegrad.apps.denoise import command as denoise_command
from aegrad.apps.probe import command as probe_command
from aegrad.apps.text import command as text_command
from aegrad.apps.vae import command as vae_command
from aegrad.config import add_config_args, config_from_args
from aegrad.doctor import command as doctor_command
from aegrad.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, UserError, excerpt, os_error_message
from aegrad.train.callbacks import Callback

# The command modules beyond the core commands below, in `aegrad --help` order; each has `add_parser(sub)`
# and `COMMANDS` (name -> function): sample, interpolate, nll; compress, decompress, rd; text-*; anomaly;
# denoise; probe; doctor.
COMMAND_MODULES = (vae_command, codec_command, text_command, anomaly_command, denoise_command, probe_command,
                   doctor_command)

log = logging.getLogger("aegrad")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line + exit 2 (argparse already exits 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # self.prog is "aegrad" for the top level and "aegrad train" for a subcommand
        self.exit(2, f"aegrad: error: {message} (see `{self.prog} --help`)\n")

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """As argparse's, but arguments a subcommand does not know are reported by that subcommand."""
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            command = getattr(parsed, "command", None)
            sub = next((a.choices for a in self._actions if isinstance(a, argparse._SubParsersAction)), {})
            (sub.get(command) or self).error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aegrad", description="Autoencoders that train, and say why when they don't.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train an autoencoder and write a run directory")
    add_config_args(p)
    p.add_argument("--out", help="run directory (default runs/<preset>-<timestamp>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="print only the run directory (no progress bar or summary)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object (run, metrics, findings)")
    p.add_argument("--no-report", action="store_true", help="skip plots and report.html")

    p = sub.add_parser("eval", help="test-split metrics of a run, as JSON")
    p.add_argument("run_dir")

    p = sub.add_parser("diagnose", help="a run's findings, evidence and remedies")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="print findings.json's object")

    p = sub.add_parser("check", help="can this net train? one batch at initialisation, before any step")
    add_config_args(p)
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="check a run folder's config.yaml (with --set)")
    p.add_argument("--probes", type=int, default=4, help="Jacobian singular values to estimate (default 4)")
    p.add_argument("--json", action="store_true", help="print the measurements and findings as one JSON object")

    p = sub.add_parser("report", help="write report.html for a run or a study directory")
    p.add_argument("path")

    sub.add_parser("presets", help="list the built-in configs")

    p = sub.add_parser("study", help="run a grid of trainings and compare them")
    p.add_argument("spec", nargs="?", help="a study spec YAML file")
    p.add_argument("--builtin", help="a built-in study (see `aegrad study --list`)")
    p.add_argument("--list", action="store_true", help="list the built-in studies")
    p.add_argument("--quick", action="store_true", help="shrink the study to run in a couple of minutes")
    p.add_argument("--jobs", type=int, default=None, help="parallel trials (default: the cores)")
    p.add_argument("--out", help="study directory (default studies/<name>)")
    for command in COMMAND_MODULES:
        command.add_parser(sub)
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from aegrad.api import train
    from aegrad.run import load_run

    if args.resume:
        if args.preset or args.config:
            raise UserError("--resume continues a run with its own config; use --set to change it (e.g. train.epochs)")
        if args.out and Path(args.out).resolve() != Path(args.resume).resolve():
            raise UserError(f"--resume {args.resume} writes into that run folder; drop --out {args.out}")
        from aegrad.config import parse_set_args, with_overrides

        cfg = with_overrides(load_run(args.resume).config, parse_set_args(args.sets))
    else:
        cfg = config_from_args(args)
    if args.out and not args.resume and Path(args.out).exists() and not Path(args.out).is_dir():
        raise UserError(f"--out {args.out} is a file, not a folder; pick a new folder for the run")
    if args.out and not args.resume and Path(args.out).exists() and any(Path(args.out).iterdir()):
        raise UserError(f"--out {args.out} exists and is not empty; pick a new folder or use --resume {args.out}")
    if not cfg.train.compile:
        from aegrad.train.optim import defer_dynamo_import

        defer_dynamo_import()  # this process never compiles: skip a ~1 s import (see its docstring)
    show = not args.quiet and sys.stdout.isatty()
    callbacks = [_RichProgress()] if show else []
    run = train(cfg, out=args.out, resume=args.resume, report=not args.no_report, callbacks=callbacks)
    from aegrad.train.distributed import is_rank0

    status = _train_status(run.summary)
    if not is_rank0():
        return status  # under torchrun every rank trains; rank 0 alone prints
    if args.quiet:
        print(run.path)
        return status
    print_train_summary(run, as_json=args.json, table=sys.stdout.isatty())
    return status


def _train_status(summary: dict) -> int:
    """0 for a run that completed (or stopped early by patience), EXIT_STOPPED when the NaN guard stopped it."""
    from aegrad.errors import EXIT_STOPPED

    return EXIT_STOPPED if str(summary.get("stop_reason", "completed")).startswith("stopped: non-finite") else 0


# ---- the summary `aegrad train` prints: a rich table on a terminal, JSON with --json (or when piped)

SUMMARY_KEYS = ("test_mse", "trivial_mse", "test_over_trivial", "psnr", "epochs", "steps", "samples_per_s", "wall_s")


def _round(v: Any) -> Any:
    """Six significant digits; NaN and infinities as None (JSON null: a token model has no MSE)."""
    if isinstance(v, float):
        return float(f"{v:.6g}") if math.isfinite(v) else None
    return v


def _summary_metrics(s: dict[str, Any]) -> dict[str, Any]:
    """SUMMARY_KEYS with the objective's test terms (test_loss, test_kl, test_bpp, ...) after the MSE's."""
    terms = [k for k in s if k.startswith("test_") and k not in SUMMARY_KEYS and k != "test_samples"]
    keys = [*SUMMARY_KEYS[:4], *terms, *SUMMARY_KEYS[4:]]
    return {k: _round(s.get(k)) for k in keys}


def print_train_summary(run: Any, as_json: bool = False, table: bool = False) -> None:
    """The run's path, metrics, stop reason and findings: one JSON object, a rich table, or plain text + JSON."""
    from aegrad.diagnose import format_findings

    s = run.summary
    metrics = _summary_metrics(s)
    stop = s.get("stop_reason", "completed")
    if as_json:
        print(json.dumps({"run": str(run.path), **metrics, "stop_reason": stop, "findings": run.findings}, indent=2))
        return
    print(f"run: {run.path}")
    if table:
        from rich.console import Console
        from rich.table import Table

        t = Table("metric", "value")
        t.columns[1].justify = "right"
        for k, v in metrics.items():
            t.add_row(k, "—" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:.6g}")
        Console().print(t)
    else:
        print(json.dumps(metrics, indent=2))
    if stop != "completed":
        print(stop)
    print(format_findings(run.findings))


def cmd_eval(args: argparse.Namespace) -> int:
    from aegrad.evaluate import evaluate_run

    from aegrad.run import run_state

    result = evaluate_run(args.run_dir)
    state = run_state(args.run_dir)
    if state != "complete":  # a killed run's last checkpoint, or a stopped run: said, not hidden
        result["state"] = state
    print(json.dumps(result, indent=2))
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    from aegrad.diagnose import format_findings
    from aegrad.run import load_run

    from aegrad.run import run_state

    run = load_run(args.run_dir)
    state = run_state(run.path)  # "complete", "stopped: ..." or "incomplete: ..." (no findings.json)
    if state.startswith("incomplete"):
        print(json.dumps({"incomplete": True, "reason": state, "findings": []}, indent=2) if args.json else state)
        return 0
    findings = run.findings
    print(json.dumps(findings, indent=2) if args.json else format_findings(findings))
    if not args.json and state != "complete":
        print(state)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from aegrad.checks import check
    from aegrad.config import parse_set_args
    from aegrad.diagnose import format_findings
    from aegrad.diagnose.trainability import TABLE_HEADERS, report_rows, report_summary

    if args.probes < 1:
        raise UserError(f"--probes must be at least 1, got {args.probes}")
    if args.run_dir is not None:
        if args.preset or args.config:
            raise UserError(f"give a run folder or --preset/--config, not both (got {args.run_dir} too)")
        result = check(args.run_dir, parse_set_args(args.sets), probes=args.probes)
    else:
        result = check(config_from_args(args), probes=args.probes)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    rows = report_rows(result.report)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        t = Table(*TABLE_HEADERS, title=f"{result.config.name}: at initialisation")
        for col in t.columns[1:]:
            col.justify = "right"
        for row in rows:
            t.add_row(*row)
        Console().print(t)
    else:
        widths = [max(len(r[i]) for r in [TABLE_HEADERS, *rows]) for i in range(len(TABLE_HEADERS))]
        print(f"{result.config.name}: at initialisation")
        for row in [TABLE_HEADERS, *rows]:
            print("  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:]))]))
    print("\n".join(report_summary(result.report)))
    print(format_findings({"findings": result.findings}))
    for f in result.findings:  # format_findings shows the best remedy; a check lists the rest, ranked
        if len(f["remedies"]) > 1:
            print("  then: " + ", ".join(r["name"] for r in f["remedies"][1:]))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from aegrad.api import write_report

    if not Path(args.path).is_dir():
        raise UserError(f"not a run or study directory: {args.path}")
    from aegrad.run import CONFIG, load_run

    if (Path(args.path) / CONFIG).exists():  # a run: its files are checked before any plot is drawn
        _ = load_run(args.path).findings
    print(write_report(args.path))
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from aegrad.config import list_presets

    presets = list_presets()
    width = max(map(len, presets))
    for name, line in presets.items():
        print(f"{name:<{width}}  {line}")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from aegrad import study

    if args.list:
        for name, line in study.list_builtin().items():
            print(f"{name:<12}  {line}")
        return 0
    if bool(args.spec) == bool(args.builtin):
        raise UserError("give a spec file or --builtin NAME (one of them)")
    spec = study.load_spec(builtin=args.builtin, path=args.spec, quick=args.quick)
    result = study.run_study(spec, out=args.out, jobs=args.jobs, progress=print)
    print(result.path)
    from aegrad.errors import EXIT_TRIALS_FAILED

    return EXIT_TRIALS_FAILED if result.failed else 0


COMMANDS = {
    "train": cmd_train,
    "eval": cmd_eval,
    "diagnose": cmd_diagnose,
    "check": cmd_check,
    "report": cmd_report,
    "presets": cmd_presets,
    "study": cmd_study,
    **{name: fn for command in COMMAND_MODULES for name, fn in command.COMMANDS.items()},
}


class _RichProgress(Callback):
    """A rich progress bar with loss and ETA (only when stdout is a terminal)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._p = Progress(
            TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
            TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
        )
        self._task = None

    def on_fit_start(self, total_steps: int, start_step: int) -> None:
        self._p.start()
        self._task = self._p.add_task("train", total=total_steps, completed=start_step, info="")

    def on_step_end(self, step: int, epoch: int) -> None:
        self._p.update(self._task, completed=step)

    def on_log(self, record: dict) -> None:
        if record.get("kind") == "step":
            self._p.update(self._task, info=f"loss {record['loss']:.4g}")
        elif record.get("kind") == "epoch":
            test = record["test_mse"] if math.isfinite(record["test_mse"]) else record.get("test_loss", math.nan)
            self._p.update(self._task, info=f"epoch {record['epoch']} test {test:.4g}")

    def on_fit_end(self, summary: dict) -> None:
        self._p.stop()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="aegrad: %(levelname)s: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UserError as err:
        print(f"aegrad: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("aegrad: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout closed early (e.g. piped into `head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    # ---- file-system and allocation failures are bad input too, one line each
    except OSError as err:  # --out is a file or under one, unwritable, a name too long, a full disk, ...
        print(f"aegrad: error: {os_error_message(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        print("aegrad: error: not enough memory for this config or data; use smaller widths, batch or data.limit",
              file=sys.stderr)
        return EXIT_BAD_INPUT


def _one_line(err: BaseException) -> str:
    """An error message on one line, at most a screenful (messages never echo a whole input)."""
    return excerpt(err, 1000)


def run() -> None:
    """The console script (and ``python -m aegrad``): `main`, then a fast exit.

    Once the command has returned and its output is flushed, nothing is left to do:
    every file was written atomically and closed. Python's own shutdown of a process
    that imported torch and matplotlib still takes ~0.6 s (measured: 2.4 s vs 1.8 s
    for an import-only script), so the process ends with ``os._exit``. `main` itself
    returns normally, for callers in Python.
    """
    code = main()
    logging.shutdown()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
