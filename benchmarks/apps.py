"""The application sections of ``make bench``: one module per app, each with ``run`` and ``table``.

Each module ``benchmarks/apps_<name>.py`` has ``run(quick, log, data_dir) -> dict``
(stored in bench.json under ``apps.<name>``) and ``table(dict) -> list[str]``
(Markdown lines). ``python -m benchmarks --sections anomaly`` runs one alone;
``python -m benchmarks.apps_<name>`` runs it without the harness.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

APP_SECTIONS = {  # section name -> module
    "anomaly": "benchmarks.apps_anomaly",
    "denoise": "benchmarks.apps_denoise",
    "probe": "benchmarks.apps_probe",
}


def run_apps(
    sections: Iterable[str], quick: bool, data_dir: str | None, log: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(results, failures) of the requested app sections; one section's crash never stops the others."""
    results: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for name in (n for n in APP_SECTIONS if n in set(sections)):
        log(f"[apps] {name}")
        try:
            results[name] = importlib.import_module(APP_SECTIONS[name]).run(quick, log, data_dir)
        except Exception as err:  # noqa: BLE001 — recorded in bench.json's failed, and the run exits 1
            log(traceback.format_exc())
            failed[f"apps.{name}"] = f"{type(err).__name__}: {err}"
    return results, failed


def app_tables(res: dict[str, Any]) -> list[str]:
    """The Markdown of every app section present in a bench.json."""
    lines: list[str] = []
    for name, entry in (res.get("apps") or {}).items():
        lines += importlib.import_module(APP_SECTIONS[name]).table(entry)
    return lines


def standalone(name: str, argv: list[str] | None, quick_help: str) -> int:
    """``python -m benchmarks.apps_<name> [--quick] [--out FILE] [--data-dir DIR]``: one section, its tables printed."""
    module = importlib.import_module(APP_SECTIONS[name])
    p = argparse.ArgumentParser(prog=f"python -m {APP_SECTIONS[name]}", description=module.__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"{quick_help}: a smoke test, not a measurement")
    p.add_argument("--out", type=Path, help="also write the result JSON here")
    p.add_argument("--data-dir", help="folder with Fashion-MNIST's IDX files")
    args = p.parse_args(argv)
    res = module.run(args.quick, lambda m: print(m, file=sys.stderr, flush=True), args.data_dir)
    if args.out:
        args.out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print("\n".join(module.table(res)))
    return 0
