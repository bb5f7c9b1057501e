"""Runs the measurements, each in a fresh subprocess, and assembles bench.json.

Sections: ``rt1`` (the contestants, interleaved A B C ... A B C ... so drift in
machine load hits all of them alike, plus the fp32 matmul ceiling), ``seed``
(the source document's TensorFlow program vs ``aegrad train --preset
seed-reference``, both timed as whole processes) and ``scaling`` (aegrad alone
over batch sizes and depths). aegrad's contestants run under this interpreter;
the peers (pythae, Keras, the seed's TensorFlow program) run under
``Settings.peer_python``, this interpreter unless --peer-python names another
environment's. A peer whose packages are missing there is skipped and listed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks import contestants, data, results
from benchmarks.apps import APP_SECTIONS, run_apps
from benchmarks.spec import AEGRAD, AEGRAD_BF16, CONTESTANTS, Task, train_flops_per_sample

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("rt1", "seed", "scaling", *APP_SECTIONS)  # the apps' sections: benchmarks/apps.py
# RT1 runs per contestant by default. The issue asks for at least 3; 5, because one run of 3 (with
# this code) put the PyTorch loop's median within 3% of aegrad's while aegrad's own runs spanned
# 16.5k-22.2k samples/s: a median of 3 on this machine is one unlucky run from a different answer.
RT1_REPEATS = 5
WORKER_TIMEOUT_S = 3600  # one contestant run; a hang must not stall `make bench` forever
SEED_SAMPLES, SEED_BATCH, SEED_EPOCHS = 1000, 32, 50  # the source document's program (seed_tf.py)

Log = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    """Everything one benchmark run needs; ``make`` builds the full or the --quick one."""

    task: Task  # RT1 as every contestant trains it
    repeats: int  # RT1 runs per contestant (median, min-max); the seed and scaling sections run `side_repeats`
    contestants: tuple[str, ...]  # which of CONTESTANTS to run
    sections: tuple[str, ...]  # which of SECTIONS to run
    peer_python: str  # interpreter for pythae, Keras and seed_tf.py
    matmul_n: int  # side of the square torch.mm that measures the ceiling
    matmul_repeats: int
    seed_epochs: int | None  # None: the seed program's own 50 epochs
    scaling_batches: tuple[int, ...]
    scaling_depths: tuple[int, ...]  # hidden layers of scaling_width in the encoder (mirrored)
    scaling_width: int
    scaling_steps: int  # optimizer steps per scaling point (one epoch of steps x batch samples)
    scaling_test: int  # test samples per scaling point (its test MSE is not reported)
    quick: bool

    @property
    def side_repeats(self) -> int:
        """Runs of each seed program and each scaling point: at most 3 (each adds a minute or more)."""
        return min(self.repeats, 3)

    @classmethod
    def make(
        cls,
        *,
        quick: bool = False,
        repeats: int | None = None,
        epochs: int | None = None,
        only: tuple[str, ...] | None = None,
        sections: tuple[str, ...] | None = None,
        peer_python: str | None = None,
        data_dir: str | None = None,
    ) -> Settings:
        task = Task(data_dir=data_dir)
        if quick:
            task = replace(task, n_train=384, n_test=256, epochs=1)
        if epochs is not None:
            task = replace(task, epochs=epochs)
        return cls(
            task=task,
            repeats=repeats if repeats is not None else (1 if quick else RT1_REPEATS),
            contestants=only if only is not None else CONTESTANTS,
            sections=sections if sections is not None else SECTIONS,
            peer_python=peer_python or sys.executable,
            matmul_n=512 if quick else 2048,
            matmul_repeats=5 if quick else 15,
            seed_epochs=1 if quick else None,
            scaling_batches=(32, 128) if quick else (32, 64, 128, 256, 512, 1024),
            scaling_depths=(2, 4) if quick else (2, 4, 8, 16, 32),
            scaling_width=256,
            scaling_steps=3 if quick else 50,
            scaling_test=64 if quick else 1000,
            quick=quick,
        )


# ------------------------------------------------------------------ processes


def _env() -> dict[str, str]:
    """The workers import `benchmarks` from this checkout, whichever interpreter runs them."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


def _tail(text: str, lines: int = 1) -> str:
    kept = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(kept[-lines:])[:500]


PROBE = """
import importlib.metadata as md, importlib.util as u, json, sys
dists = md.packages_distributions()
out = {}
for m in sys.argv[1:]:
    if u.find_spec(m) is None:
        out[m] = None
        continue
    try:
        out[m] = md.version((dists.get(m) or [m])[0])
    except md.PackageNotFoundError:
        out[m] = "unknown"
print(json.dumps(out))
"""


def probe(python: str, modules: list[str]) -> dict[str, str | None]:
    """Module -> installed version (None when missing) under `python`, without importing them."""
    proc = subprocess.run(
        [python, "-c", PROBE, *modules], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"cannot run {python}: {_tail(proc.stderr)}")
    return json.loads(proc.stdout)


def run_worker(python: str, request: dict[str, Any], workdir: Path, label: str) -> dict[str, Any]:
    """One request in a fresh `python -m benchmarks.worker`; adds the whole process's wall_s."""
    req, res = workdir / f"{label}.request.json", workdir / f"{label}.result.json"
    req.write_text(json.dumps(request), encoding="utf-8")
    res.unlink(missing_ok=True)
    cmd = [python, "-m", "benchmarks.worker", str(req), str(res)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=WORKER_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {WORKER_TIMEOUT_S} s", "wall_s": time.perf_counter() - t0}
    wall = time.perf_counter() - t0
    if res.is_file():
        out = json.loads(res.read_text(encoding="utf-8"))
    else:
        out = {"ok": False, "error": f"worker exited {proc.returncode}: {_tail(proc.stderr)}"}
    out["wall_s"] = wall
    return out


def timed_process(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Whole-process wall time of `cmd`, as a user at a shell would measure it."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=WORKER_TIMEOUT_S, check=False
    )
    return time.perf_counter() - t0, proc


def aegrad_command() -> list[str]:
    """The `aegrad` console script beside this interpreter, else `python -m aegrad`."""
    script = Path(sys.executable).parent / "aegrad"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "aegrad"]


# ------------------------------------------------------------------ sections


def run_rt1(
    s: Settings, pythons: dict[str, str], workdir: Path, log: Log
) -> tuple[dict[str, Any], dict[str, str], list[float]]:
    """Every contestant `repeats` times, interleaved (the order rotated each repeat), each repeat
    opened by the matmul ceiling (so it sees the same machine as the runs it is compared with).
    Returns (rt1 entries, failures by name, the ceiling's GFLOP/s per repeat, oneDNN's per repeat)."""
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in pythons}
    failed: dict[str, str] = {}
    ceilings: list[float] = []
    onednn: list[float] = []
    order = list(pythons.items())
    for r in range(s.repeats):
        if (gflops := run_ceiling(s, workdir, log, f"matmul-{r}", onednn)) is not None:
            ceilings.append(gflops)
        # Each repeat starts one contestant later (A B C, B C A, C A B): whoever runs right after the
        # ceiling's burst of large products, or first in a quiet spell, is a different one each time.
        k = r % len(order) if order else 0
        for name, python in order[k:] + order[:k]:
            if name in failed:
                continue
            request = {"kind": "contestant", "name": name, "task": s.task.to_json()}
            out = run_worker(python, request, workdir, f"rt1-{name}-{r}")
            if not out["ok"]:
                failed[name] = out["error"]
                log(f"[rt1 {r + 1}/{s.repeats}] {name}: FAILED {out['error']}")
                continue
            runs[name].append(out)
            log(
                f"[rt1 {r + 1}/{s.repeats}] {name}: {out['samples_per_s']:,.0f} samples/s, "
                f"test MSE {out['test_mse']:.5f}, {out['wall_s']:.1f} s, {out['peak_rss_mib']:.0f} MiB"
            )
    return {c: results.summarize(v) for c, v in runs.items() if v and c not in failed}, failed, ceilings, onednn


def run_ceiling(
    s: Settings, workdir: Path, log: Log, label: str = "matmul", onednn: list[float] | None = None
) -> float | None:
    """fp32 GFLOP/s of a large torch.mm in a fresh process: the median of `matmul_repeats` products.
    oneDNN's rate for the same product, when measured, is appended to `onednn`."""
    request = {"kind": "matmul", "n": s.matmul_n, "repeats": s.matmul_repeats, "threads": s.task.threads}
    out = run_worker(sys.executable, request, workdir, label)
    if not out["ok"]:
        log(f"[ceiling] FAILED {out['error']}")
        return None
    extra = ""
    if out.get("onednn_gflops") is not None:
        extra = f"; oneDNN linear {out['onednn_gflops']:.1f}"
        if onednn is not None:
            onednn.append(float(out["onednn_gflops"]))
    log(f"[ceiling] fp32 torch.mm {s.matmul_n}^3: {out['gflops']:.1f} GFLOP/s (median of {s.matmul_repeats}){extra}")
    return float(out["gflops"])


def run_seed(s: Settings, tensorflow: bool, workdir: Path, log: Log) -> tuple[dict[str, Any], str | None]:
    """Whole-process wall time of both programs, interleaved; (seed_reference entry, failure or None)."""
    extra_set = ["--set", f"train.epochs={s.seed_epochs}"] if s.seed_epochs else []
    extra_arg = [str(s.seed_epochs)] if s.seed_epochs else []
    ours: list[float] = []
    theirs: list[float] = []
    steps = None
    for r in range(s.side_repeats):
        out = workdir / f"seed-aegrad-{r}"
        cmd = [*aegrad_command(), "train", "--preset", "seed-reference", "--quiet", "--out", str(out), *extra_set]
        wall, proc = timed_process(cmd, workdir)
        if proc.returncode != 0:
            error = f"aegrad train exited {proc.returncode}: {_tail(proc.stderr)}"
            log(f"[seed {r + 1}/{s.side_repeats}] {error}")
            return _seed_entry([], [], None, s), error
        ours.append(wall)
        summary = out / "summary.json"
        if summary.is_file():
            steps = json.loads(summary.read_text(encoding="utf-8")).get("steps")
        log(f"[seed {r + 1}/{s.side_repeats}] aegrad train --preset seed-reference: {wall:.2f} s")
        if tensorflow:
            wall, proc = timed_process([s.peer_python, str(REPO / "benchmarks" / "seed_tf.py"), *extra_arg], workdir)
            if proc.returncode != 0:
                error = f"seed_tf.py exited {proc.returncode}: {_tail(proc.stderr)}"
                log(f"[seed {r + 1}/{s.side_repeats}] {error}")
                return _seed_entry(ours, [], steps, s), error
            theirs.append(wall)
            log(f"[seed {r + 1}/{s.side_repeats}] seed_tf.py (TensorFlow): {wall:.2f} s")
    return _seed_entry(ours, theirs, steps, s), None


def _seed_entry(ours: list[float], theirs: list[float], steps: int | None, s: Settings) -> dict[str, Any]:
    epochs = s.seed_epochs or SEED_EPOCHS
    a = statistics.median(ours) if ours else None
    t = statistics.median(theirs) if theirs else None
    return {
        "aegrad_wall_s": a,
        "tensorflow_wall_s": t,
        "speedup": t / a if a and t else None,
        "aegrad_runs_s": ours,
        "tensorflow_runs_s": theirs,
        "epochs": epochs,
        "aegrad_steps": steps,
        "tensorflow_steps": epochs * (SEED_SAMPLES // SEED_BATCH),  # the program drops the last partial batch
    }


def run_scaling(s: Settings, ceiling: float | None, workdir: Path, log: Log) -> dict[str, Any]:
    """aegrad (monitor on) for each batch size at RT1's layers, and each depth at RT1's batch.

    Every point runs `side_repeats` times, in rounds over all points (so a slow spell of
    the machine lands on every point, not on one), and reports the median; a single
    50-step run per point was at the mercy of the moment (one README table showed
    depth 8 slower than depth 16, and a fraction over 100%).
    """
    base = replace(s.task, epochs=1, n_test=s.scaling_test)

    def n_train(batch: int) -> int:
        return min(s.scaling_steps * batch, data.TRAIN_SIZE)

    points: list[tuple[str, int, Task]] = [
        ("batch_size", b, replace(base, batch_size=b, n_train=n_train(b))) for b in s.scaling_batches
    ]
    points += [
        ("depth", d, replace(base, widths=(s.scaling_width,) * d, n_train=n_train(base.batch_size)))
        for d in s.scaling_depths
    ]
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {(key, v): [] for key, v, _ in points}
    for r in range(s.side_repeats):
        for key, value, task in points:
            label = f"{'batch' if key == 'batch_size' else key}-{value}-{r}"
            # The ceiling is measured again right before each run: on a shared machine it moves by
            # a third within minutes, and a fraction over a ceiling taken elsewhere can exceed 100%.
            here = run_ceiling(s, workdir, log, f"ceiling-{label}") or ceiling
            out = run_worker(sys.executable, {"kind": "contestant", "name": AEGRAD, "task": task.to_json()},
                             workdir, label)
            if not out["ok"]:
                log(f"[scaling] {label}: FAILED {out['error']}")
            else:
                gflops = out["samples_per_s"] * train_flops_per_sample(task.layer_dims()) / 1e9
                log(
                    f"[scaling] {label}: {out['samples_per_s']:,.0f} samples/s, {gflops:.1f} GFLOP/s, "
                    f"{out['peak_rss_mib']:.0f} MiB"
                )
            runs[(key, value)].append({**out, "ceiling": here})

    def point(key: str, value: int, task: Task) -> dict[str, Any]:
        done = runs[(key, value)]
        failed = [o["error"] for o in done if not o["ok"]]
        if failed:
            return {key: value, "error": failed[0]}
        sps = results.spread([o["samples_per_s"] for o in done])
        ceilings = [o["ceiling"] for o in done if o["ceiling"]]
        here = statistics.median(ceilings) if ceilings else None
        gflops = sps["median"] * train_flops_per_sample(task.layer_dims()) / 1e9
        return {
            key: value,
            "samples_per_s": sps["median"],
            "samples_per_s_min": sps["min"],
            "samples_per_s_max": sps["max"],
            "runs": len(done),
            "gflops": gflops,
            "ceiling_gflops": here,
            "ceiling_fraction": gflops / here if here else None,
            "peak_rss_mib": max(o["peak_rss_mib"] for o in done),
        }

    by_batch = [point(key, v, task) for key, v, task in points if key == "batch_size"]
    by_depth = [{**point(key, v, task), "width": s.scaling_width} for key, v, task in points if key == "depth"]
    return {"steps": s.scaling_steps, "repeats": s.side_repeats, "monitor": True, "batch_size": by_batch,
            "depth": by_depth}


# ------------------------------------------------------------------ assembly


def machine(versions: dict[str, str | None], cores: int) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem_gib = None
    return {
        "name": f"{cpu}, {cores} cores" + (f", {mem_gib:.0f} GiB" if mem_gib else ""),
        "cpu": cpu,
        "cores": cores,
        "memory_gib": round(mem_gib, 1) if mem_gib else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
    }


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def run_all(s: Settings, log: Log) -> dict[str, Any]:
    """All requested sections; the dict that becomes bench.json."""
    main_versions = probe(sys.executable, ["aegrad", "torch"])
    peer_versions = probe(s.peer_python, ["torch", "pythae", "keras", "tensorflow"])
    installed = {**peer_versions, "aegrad": main_versions["aegrad"]}
    pythons: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name in s.contestants:
        c = contestants.get(name)
        python = s.peer_python if c.peer_env else sys.executable
        have = main_versions if not c.peer_env else peer_versions
        missing = [m for m in c.requires if not have.get(m)]
        if missing:
            skipped[name] = f"not installed under {python}: {', '.join(missing)} ({c.install_hint})"
            log(f"[skip] {name}: {skipped[name]}")
        else:
            pythons[name] = python
    tensorflow = bool(peer_versions.get("tensorflow"))
    if "seed" in s.sections and not tensorflow:
        skipped["seed_tf"] = f"not installed under {s.peer_python}: tensorflow (pip install -e '.[bench]')"
        log(f"[skip] seed_tf: {skipped['seed_tf']}")

    task = s.task
    flops = train_flops_per_sample(task.layer_dims())
    load_start = _loadavg()
    failed: dict[str, str] = {}
    rt1: dict[str, Any] = {}
    ceilings: list[float] = []
    onednn: list[float] = []
    seed = _seed_entry([], [], None, s)
    scaling: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="aegrad-bench-") as tmp:
        workdir = Path(tmp)
        if "rt1" in s.sections:
            rt1, failed, ceilings, onednn = run_rt1(s, pythons, workdir, log)
        elif "scaling" in s.sections and (gflops := run_ceiling(s, workdir, log, onednn=onednn)) is not None:
            ceilings = [gflops]
        ceiling = statistics.median(ceilings) if ceilings else None
        if "seed" in s.sections:
            seed, error = run_seed(s, tensorflow, workdir, log)
            if error:
                failed["seed_reference"] = error
        if "scaling" in s.sections:
            scaling = run_scaling(s, ceiling, workdir, log)
    apps, apps_failed = run_apps(s.sections, s.quick, s.task.data_dir, log)
    failed.update(apps_failed)

    load = {"start": load_start, "end": _loadavg()}  # others' work on the machine skews every number
    ours = rt1.get(AEGRAD)
    aegrad_gflops = ours["samples_per_s"]["median"] * flops / 1e9 if ours else None
    fraction = aegrad_gflops / ceiling if aegrad_gflops is not None and ceiling else None
    onednn_ceiling = statistics.median(onednn) if onednn else None
    bf16 = rt1.get(AEGRAD_BF16)
    bf16_gflops = bf16["samples_per_s"]["median"] * flops / 1e9 if bf16 else None
    overhead = results.monitor_overhead_pct(rt1)
    return {
        "machine": machine({**installed, "torch": main_versions["torch"]}, task.threads),
        "load_avg_1min": load,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": {
            "quick": s.quick,
            "repeats": s.repeats,
            "task": task.to_json(),
            "sections": list(s.sections),
            "contestants": list(s.contestants),
            "peer_python": s.peer_python,
            "data_dir": str(data.find_dir(task.data_dir) or ""),
        },
        "rt1": rt1,
        "ratios": results.ratios(rt1),
        "monitor_overhead_pct": overhead,
        "flops_per_sample": flops,
        "matmul_gflops": ceiling,  # median over repeats of each repeat's median
        "matmul_gflops_runs": ceilings,
        "matmul_n": s.matmul_n,
        "aegrad_gflops": aegrad_gflops,
        "ceiling_fraction": fraction,
        # The same product through oneDNN, which the dense step uses for its large products and which
        # is faster than torch.mm (MKL) on some CPUs: aegrad's FLOP/s over it, for a stricter reading.
        "matmul_onednn_gflops": onednn_ceiling,
        "ceiling_fraction_onednn": (aegrad_gflops / onednn_ceiling if aegrad_gflops is not None and onednn_ceiling
                                    else None),
        # aegrad with train.precision=bf16 over the same fp32 ceiling: a reading for the precision decision,
        # not a target (bf16 products are not what the fp32 ceiling measures)
        "aegrad_bf16_gflops": bf16_gflops,
        "ceiling_fraction_bf16": bf16_gflops / ceiling if bf16_gflops is not None and ceiling else None,
        "targets": results.targets(rt1, fraction, overhead, seed["aegrad_wall_s"]),
        "seed_reference": seed,
        "scaling": scaling,
        "apps": apps,
        "skipped": skipped,
        "failed": failed,
    }
