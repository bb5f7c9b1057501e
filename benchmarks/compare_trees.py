"""Two source trees of aegrad side by side: are training results and CLI outputs identical, and is RT1 as fast?

    git worktree add /tmp/old <commit>
    python -m benchmarks.compare_trees results /tmp/old/src src          # every preset and the tricky configs
    python -m benchmarks.compare_trees cli /tmp/old/src src              # train / eval / diagnose as a user runs them
    python -m benchmarks.compare_trees speed /tmp/old/src src --pairs 9  # RT1 samples/s, interleaved

``results`` trains each config with each tree (a fresh process per tree, the tree on PYTHONPATH)
and compares the SHA-256 of the saved weights, the whole findings.json, metrics.jsonl and
summary.json with timing fields (wall_s, train_s, samples_per_s: any key ending in _s or _ms)
masked — key order included, since it is the files' content — and gradients.jsonl to 1e-14
relative (its float64 norms' last bit varies between processes of one tree). The configs are
the tricky ones below (each of the loop's paths) and every built-in preset of either tree, shrunk
(2 epochs, 256 training and 128 test samples; the text presets read Debian's fortunes and
wamerican). ``cli`` runs ``python -m aegrad train ... --out DIR --quiet``, ``aegrad eval DIR``,
``aegrad diagnose DIR`` and ``aegrad diagnose DIR --json`` with each tree and compares exit
statuses, stdout and stderr with the run folder, the source tree and timings masked.
``speed`` runs fashion-mlp (20k samples, 2 epochs, the monitor on) in fresh processes,
alternating which tree goes first, and prints each pair's samples/s ratio (second ÷ first) and
their median: this machine's speed moves by ±15 % from run to run, so read a median of many pairs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# name -> (preset, overrides): each of the loop's paths (dense and autograd steps, accumulation, clipping,
# penalties, noise, bf16, norms, conv, pretraining, a vanishing net, a diverging one)
TRICKY: dict[str, tuple[str, dict[str, Any]]] = {
    "digits-mlp": ("digits-mlp", {"train.epochs": 6}),
    "seed-reference": ("seed-reference", {}),
    "fashion-mlp": ("fashion-mlp", {"train.epochs": 1, "data.limit": 6000}),
    "fashion-conv": ("fashion-conv", {"train.epochs": 1, "data.limit": 2000, "data.test_limit": 1000}),
    "accum-clip": ("digits-mlp", {"train.epochs": 3, "train.accumulate": 3, "train.clip_norm": 0.5}),
    "l1l2-latent": ("digits-mlp", {"train.epochs": 3, "train.l1": 1e-5, "train.l2": 1e-4, "train.latent_l1": 1e-3}),
    "noise-sgd": ("digits-mlp", {"train.epochs": 3, "train.noise": "gaussian", "train.optimizer": "nesterov",
                                 "train.lr": 0.05}),
    "bf16": ("digits-mlp", {"train.epochs": 3, "train.precision": "bf16"}),
    "batchnorm": ("digits-mlp", {"train.epochs": 3, "model.norm": "batch"}),
    "pretrain": ("digits-mlp", {"train.epochs": 2, "train.pretrain": "layerwise"}),
    "deep-sigmoid": ("digits-mlp", {"train.epochs": 3, "model.depth": 8, "model.activation": "sigmoid"}),
    "diverge": ("digits-mlp", {"train.epochs": 3, "train.optimizer": "sgd", "train.lr": 50.0, "model.init_gain": 3.0}),
}

# Every other built-in preset runs shrunk to a few seconds: two epochs (an epoch boundary, a reshuffle) on a subset.
PRESET_SHRINK: dict[str, Any] = {"train.epochs": 2, "data.limit": 256, "data.test_limit": 128}

# What `cli` runs by default: a healthy run, one with findings, a variational one and a text one.
CLI_DEFAULT = ("digits-mlp", "deep-sigmoid", "fashion-vae", "text-words")

# The monitor's float64 gradient norms vary in their last bit from process to process within one tree (seen:
# deep-sigmoid's first window, a 2.7e-13 norm, 1 part in 1e16; a multi-threaded float64 reduction), so
# gradients.jsonl is compared to 1e-14 relative (about 50 ulps); everything else exactly.
TOLERANCE: dict[str, float] = {"gradients.jsonl": 1e-14}

RESULT_CODE = """
import hashlib, json, shutil, sys, tempfile
from pathlib import Path
import aegrad
from safetensors.torch import load_file
preset, overrides = json.loads(sys.argv[1])
cfg = aegrad.load_config(preset=preset, overrides=overrides)
tmp = Path(tempfile.mkdtemp())
out = tmp / "run"
try:
    aegrad.train(cfg, out=out, report=False)
    w = load_file(str(out / "model.safetensors"))
    kept = sorted(k for k in w if not k.startswith("normalizer."))
    digest = hashlib.sha256(b"".join(w[k].numpy().tobytes() for k in kept)).hexdigest()
    lines = lambda name: [json.loads(s) for s in (out / name).read_text().splitlines() if s.strip()]
    metrics, summary = lines("metrics.jsonl"), json.loads((out / "summary.json").read_text())
    findings = json.loads((out / "findings.json").read_text())
    print(json.dumps({
        "weights": digest[:16], "test_mse": summary.get("test_mse"),
        "train_loss": [r["train_loss"] for r in metrics if r.get("kind") == "epoch"],
        "findings": sorted(f["kind"] for f in findings["findings"]),
        "findings.json": findings, "metrics.jsonl": metrics, "gradients.jsonl": lines("gradients.jsonl"),
        "summary.json": summary,
    }))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
"""

SPEED_CODE = """
import json, tempfile, aegrad
over = {"train.epochs": 2, "data.limit": 20000, "data.test_limit": 2000}
cfg = aegrad.load_config(preset="fashion-mlp", overrides=over)
d = tempfile.mkdtemp()
aegrad.train(cfg, out=d + "/warm", report=False)
print(json.dumps(aegrad.train(cfg, out=d + "/run", report=False).summary["samples_per_s"]))
"""


class TreeFailed(Exception):
    """A tree's process exited non-zero: the message is its last line of stderr."""


def _env(src: str) -> dict[str, str]:
    return {"PYTHONPATH": src, "PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}


def _run(code: str, src: str, *args: str) -> Any:
    proc = subprocess.run([sys.executable, "-c", code, *args], env=_env(src), capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise TreeFailed((proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------------ comparing


def is_timing(key: str) -> bool:
    """A field that measures time, which no two runs share: wall_s, train_s, samples_per_s, decode_s, ..."""
    return key.endswith("_s") or key.endswith("_ms") or key in ("time", "elapsed", "seconds")


def mask_timings(obj: Any) -> Any:
    """`obj` with the value of every timing field (at any depth) replaced by "<timing>"."""
    if isinstance(obj, dict):
        return {k: "<timing>" if is_timing(str(k)) else mask_timings(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mask_timings(v) for v in obj]
    return obj


def _same(a: Any, b: Any, rel: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= rel * max(abs(a), abs(b))
    return type(a) is type(b) and a == b


def first_difference(a: Any, b: Any, path: str = "", rel: float = 0.0) -> str | None:
    """Where `a` and `b` first differ ("metrics.jsonl[3].train_loss: 0.1 vs 0.2"), or None; nan equals nan,
    1 differs from 1.0, a dict's key order counts (it is the file's content), and floats must be equal
    (within `rel` of the larger, when given)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
            return f"{path or '.'}: keys only in first {only_a}, only in second {only_b}"
        for k in a:
            d = first_difference(a[k], b[k], f"{path}.{k}" if path else str(k), rel)
            if d:
                return d
        return f"{path or '.'}: key order {list(a)} vs {list(b)}" if list(a) != list(b) else None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]", rel)
            if d:
                return d
        return f"{path}: {len(a)} vs {len(b)} items" if len(a) != len(b) else None
    if _same(a, b, rel):
        return None
    return f"{path}: {_short(a)} vs {_short(b)}"


def _short(v: Any) -> str:
    text = json.dumps(v) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


# ------------------------------------------------------------------------------------------------ configs


def presets(*srcs: str) -> list[str]:
    """The built-in presets of the trees `srcs` (their union): each tree's aegrad/presets/*.yaml."""
    return sorted({p.stem for src in srcs for p in (Path(src) / "aegrad" / "presets").glob("*.yaml")})


def cases(*srcs: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """The tricky configs, then every preset of the trees that is not already one of them, shrunk."""
    out = dict(TRICKY)
    for name in presets(*srcs):
        out.setdefault(name, (name, dict(PRESET_SHRINK)))
    return out


# ------------------------------------------------------------------------------------------------ results


def results(a: str, b: str, names: list[str], table: dict[str, tuple[str, dict[str, Any]]] | None = None) -> int:
    table = table or cases(a, b)
    differ = 0
    for name in names:
        preset, overrides = table[name]
        arg = json.dumps([preset, overrides])
        got: dict[str, Any] = {}
        for label, src in (("first", a), ("second", b)):
            try:
                got[label] = mask_timings(_run(RESULT_CODE, src, arg))
            except TreeFailed as err:
                got[label] = err
        failed = [f"{label} tree failed: {v}" for label, v in got.items() if isinstance(v, TreeFailed)]
        if failed:
            differ += 1
            print(f"{name:16} FAILED: {'; '.join(failed)}")
            continue
        ra, rb = got["first"], got["second"]
        diff = [k for k in ra if first_difference(ra[k], rb.get(k), rel=TOLERANCE.get(k, 0.0))]
        differ += bool(diff)
        verdict = "identical" if not diff else "DIFFER: " + ", ".join(diff)
        print(f"{name:16} {verdict}  weights {ra['weights']} / {rb['weights']}")
        for k in diff:
            if k not in ("weights", "test_mse", "train_loss", "findings"):  # those four say it on the line above
                print(f"{'':16}   {first_difference(ra[k], rb.get(k), k, TOLERANCE.get(k, 0.0))}")
    print(f"{len(names) - differ} of {len(names)} configs identical")
    return 0


# ------------------------------------------------------------------------------------------------ cli


def _set_args(overrides: dict[str, Any]) -> list[str]:
    out = []
    for k, v in overrides.items():
        out += ["--set", f"{k}={v if isinstance(v, str) else json.dumps(v)}"]
    return out


_TIMED_TEXT = re.compile(r"\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?\s?(?:ms|s|samples/s)\b")
_NUMBER = r"(?:-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|null|NaN|-?Infinity)"
_TIMED_JSON = re.compile(r'("(?:\w*_s|\w*_ms|time|elapsed|seconds)"\s*:\s*)' + _NUMBER)


def normalise(text: str, run_dir: Path, src: str) -> str:
    """CLI output with the run folder, the source tree (and its line numbers) and timings masked, its layout kept:
    a JSON field named like a timing (wall_s, samples_per_s) and a number with a unit of time in text."""
    text = text.replace(str(run_dir.resolve()), "<RUN>").replace(str(run_dir), "<RUN>")
    text = re.sub(re.escape(str(Path(src).resolve())) + r"/[^\s:\"']*(:\d+)?", "<SRC>", text)
    text = _TIMED_JSON.sub(r'\1"<timing>"', text)
    return _TIMED_TEXT.sub("<timing>", text)


def cli_outputs(src: str, preset: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """{command: {"rc", "stdout", "stderr"}} for train, eval, diagnose and diagnose --json run with tree `src`."""
    tmp = Path(tempfile.mkdtemp())
    run_dir = tmp / "run"
    commands = {
        "train": ["train", "--preset", preset, *_set_args(overrides), "--out", str(run_dir), "--quiet"],
        "eval": ["eval", str(run_dir)],
        "diagnose": ["diagnose", str(run_dir)],
        "diagnose --json": ["diagnose", str(run_dir), "--json"],
    }
    out: dict[str, Any] = {}
    try:
        for label, argv in commands.items():
            proc = subprocess.run([sys.executable, "-m", "aegrad", *argv], env=_env(src), cwd=tmp,
                                  capture_output=True, text=True, check=False)
            out[label] = {"rc": proc.returncode, "stdout": normalise(proc.stdout, run_dir, src),
                          "stderr": normalise(proc.stderr, run_dir, src)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _first_line_difference(a: str, b: str) -> str:
    """Where two outputs first differ: by field when both are JSON, else by line."""
    try:
        return first_difference(json.loads(a), json.loads(b)) or "the same JSON, laid out differently"
    except ValueError:
        pass
    la, lb = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return f"line {i + 1}: {_short(x)} vs {_short(y)}"
    return f"{len(la)} vs {len(lb)} lines"


def cli(a: str, b: str, names: list[str], table: dict[str, tuple[str, dict[str, Any]]] | None = None) -> int:
    table = table or cases(a, b)
    differ = 0
    for name in names:
        preset, overrides = table[name]
        oa, ob = cli_outputs(a, preset, overrides), cli_outputs(b, preset, overrides)
        diff = [f"{cmd}.{part}" for cmd in oa for part in ("rc", "stdout", "stderr") if oa[cmd][part] != ob[cmd][part]]
        differ += bool(diff)
        rcs = " ".join(f"{cmd}={oa[cmd]['rc']}/{ob[cmd]['rc']}" for cmd in oa)
        print(f"{name:16} {'identical' if not diff else 'DIFFER: ' + ', '.join(diff)}  exit {rcs}")
        for d in diff:
            cmd, _, part = d.rpartition(".")
            x, y = oa[cmd][part], ob[cmd][part]
            print(f"{'':16}   {d}: " + (f"{x} vs {y}" if part == "rc" else _first_line_difference(x, y)))
    print(f"{len(names) - differ} of {len(names)} configs identical through the CLI")
    return 0


# ------------------------------------------------------------------------------------------------ speed


def speed(a: str, b: str, pairs: int) -> int:
    ratios = []
    for r in range(pairs):
        order = [(a, "first"), (b, "second")] if r % 2 == 0 else [(b, "second"), (a, "first")]
        try:
            got = {label: _run(SPEED_CODE, src) for src, label in order}
        except TreeFailed as err:
            raise SystemExit(f"compare_trees: a tree failed: {err}") from None
        ratios.append(got["second"] / got["first"])
        print(f"pair {r + 1}: {got['first']:,.0f} vs {got['second']:,.0f} samples/s, ratio {ratios[-1]:.3f}",
              flush=True)
    print(f"median ratio (second / first) over {pairs} pairs: {statistics.median(ratios):.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compare_trees", description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["results", "cli", "speed"])
    p.add_argument("first", help="the first tree's src folder (e.g. an older commit's worktree)")
    p.add_argument("second", help="the second tree's src folder")
    p.add_argument("--only", help="results, cli: comma-separated config names (default: all for results, "
                                  f"{','.join(CLI_DEFAULT)} for cli)")
    p.add_argument("--pairs", type=int, default=9, help="speed: interleaved pairs of runs")
    args = p.parse_args(argv)
    if args.mode in ("results", "cli"):
        table = cases(args.first, args.second)
        default = list(table) if args.mode == "results" else [n for n in CLI_DEFAULT if n in table]
        names = args.only.split(",") if args.only else default
        unknown = [n for n in names if n not in table]
        if unknown:
            print(f"compare_trees: unknown config {unknown[0]!r}; valid: {', '.join(table)}", file=sys.stderr)
            return 2
        return (results if args.mode == "results" else cli)(args.first, args.second, names, table)
    if args.pairs < 1:
        print("compare_trees: --pairs must be at least 1", file=sys.stderr)
        return 2
    return speed(args.first, args.second, args.pairs)


if __name__ == "__main__":
    sys.exit(main())
