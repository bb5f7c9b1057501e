"""One measurement in a fresh process: ``python -m benchmarks.worker REQUEST.json RESULT.json``.

The harness starts one worker per contestant run, so each run's peak RSS
(``ru_maxrss`` of this process, read at the end) is its own and no state (threads,
allocator caches, compiled graphs) leaks from one contestant into the next.
Frameworks print freely to stdout/stderr; the result goes to RESULT.json only.

Requests: ``{"kind": "contestant", "name": ..., "task": {...}, "options": {...}}``
or ``{"kind": "matmul", "n": ..., "repeats": ..., "threads": ...}``.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def peak_rss_mib() -> float:
    """This process's peak resident set size (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def matmul_gflops(n: int, repeats: int, threads: int) -> dict[str, Any]:
    """fp32 ceiling: median GFLOP/s of an n x n @ n x n torch.mm (2 n^3 FLOPs), after warm-up.

    Also, alternating with it, the same product through oneDNN's linear (the library
    aegrad's dense step uses for its large products), when this torch has it: on
    this project's AMD machine torch.mm (MKL) reaches ~180 GFLOP/s and oneDNN ~210.
    """
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    try:
        linear = torch.ops.mkldnn._linear_pointwise
        linear(a[:8, :8], b[:8, :8], None, "none", [], "")
    except (AttributeError, RuntimeError):
        linear = None
    for _ in range(2):
        torch.mm(a, b, out=out)
        if linear is not None:
            linear(a, b, None, "none", [], "")
    times, onednn = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        times.append(time.perf_counter() - t0)
        if linear is not None:
            t0 = time.perf_counter()
            linear(a, b, None, "none", [], "")  # a @ b.T: the same 2 n^3 FLOPs
            onednn.append(time.perf_counter() - t0)
    per = [2.0 * n**3 / t / 1e9 for t in times]
    res = {"gflops": statistics.median(per), "min": min(per), "max": max(per), "n": n, "repeats": repeats}
    res["onednn_gflops"] = statistics.median(2.0 * n**3 / t / 1e9 for t in onednn) if onednn else None
    return res


def handle(request: dict[str, Any]) -> dict[str, Any]:
    if request["kind"] == "matmul":
        return matmul_gflops(request["n"], request["repeats"], request["threads"])
    if request["kind"] == "contestant":
        from benchmarks import contestants
        from benchmarks.spec import Task

        m = contestants.run(request["name"], Task.from_json(request["task"]), request.get("options"))
        return {"samples_per_s": m.samples_per_s, "train_s": m.train_s, "test_mse": m.test_mse, "extra": m.extra}
    raise ValueError(f"unknown request kind {request['kind']!r}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m benchmarks.worker REQUEST.json RESULT.json", file=sys.stderr)
        return 2
    request = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    try:
        result = {"ok": True, **handle(request)}
    except Exception as err:  # noqa: BLE001 - any failure is reported to the harness, which records it and carries on
        traceback.print_exc()
        result = {"ok": False, "error": f"{type(err).__name__}: {err}".splitlines()[0][:500]}
    result["peak_rss_mib"] = peak_rss_mib()
    Path(args[1]).write_text(json.dumps(result), encoding="utf-8")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
