"""Two source trees of aegrad side by side: are training results identical, and is RT1 as fast?

    git worktree add /tmp/old <commit>
    python -m benchmarks.compare_trees results /tmp/old/src src          # weights and findings, 12 configs
    python -m benchmarks.compare_trees speed /tmp/old/src src --pairs 9  # RT1 samples/s, interleaved

``results`` trains each config below with each tree (a fresh process per tree, the tree on
PYTHONPATH) and compares the SHA-256 of the saved weights, the epoch train losses and the finding
kinds. ``speed`` runs fashion-mlp (20k samples, 2 epochs, the monitor on) in fresh processes,
alternating which tree goes first, and prints each pair's samples/s ratio (second ÷ first) and
their median: this machine's speed moves by ±15 % from run to run, so read a median of many pairs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

# name -> (preset, overrides): each of the loop's paths (dense and autograd steps, accumulation, clipping,
# penalties, noise, bf16, norms, conv, pretraining, a vanishing net, a diverging one)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
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

RESULT_CODE = """
import hashlib, json, sys, tempfile
from pathlib import Path
import aegrad
from safetensors.torch import load_file
preset, overrides = json.loads(sys.argv[1])
cfg = aegrad.load_config(preset=preset, overrides=overrides)
out = Path(tempfile.mkdtemp()) / "run"
run = aegrad.train(cfg, out=out, report=False)
w = load_file(str(out / "model.safetensors"))
digest = hashlib.sha256(b"".join(w[k].numpy().tobytes() for k in sorted(w) if not k.startswith("normalizer."))).hexdigest()
epochs = [r for r in run.metrics if r.get("kind") == "epoch"]
print(json.dumps({"weights": digest[:16], "test_mse": run.summary["test_mse"], "train_loss": [r["train_loss"] for r in epochs],
                  "findings": sorted(f["kind"] for f in run.findings["findings"])}))
"""

SPEED_CODE = """
import json, tempfile, aegrad
cfg = aegrad.load_config(preset="fashion-mlp", overrides={"train.epochs": 2, "data.limit": 20000, "data.test_limit": 2000})
d = tempfile.mkdtemp()
aegrad.train(cfg, out=d + "/warm", report=False)
print(json.dumps(aegrad.train(cfg, out=d + "/run", report=False).summary["samples_per_s"]))
"""


def _run(code: str, src: str, *args: str) -> Any:
    proc = subprocess.run([sys.executable, "-c", code, *args], env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"compare_trees: {src} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def results(a: str, b: str, names: list[str]) -> int:
    differ = 0
    for name in names:
        preset, overrides = CASES[name]
        arg = json.dumps([preset, overrides])
        ra, rb = _run(RESULT_CODE, a, arg), _run(RESULT_CODE, b, arg)
        diff = [k for k in ra if ra[k] != rb[k]]
        differ += bool(diff)
        print(f"{name:16} {'identical' if not diff else 'DIFFER: ' + ', '.join(diff)}  weights {ra['weights']} / {rb['weights']}")
    print(f"{len(names) - differ} of {len(names)} configs identical")
    return 0


def speed(a: str, b: str, pairs: int) -> int:
    ratios = []
    for r in range(pairs):
        order = [(a, "first"), (b, "second")] if r % 2 == 0 else [(b, "second"), (a, "first")]
        got = {label: _run(SPEED_CODE, src) for src, label in order}
        ratios.append(got["second"] / got["first"])
        print(f"pair {r + 1}: {got['first']:,.0f} vs {got['second']:,.0f} samples/s, ratio {ratios[-1]:.3f}", flush=True)
    print(f"median ratio (second / first) over {pairs} pairs: {statistics.median(ratios):.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compare_trees", description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["results", "speed"])
    p.add_argument("first", help="the first tree's src folder (e.g. an older commit's worktree)")
    p.add_argument("second", help="the second tree's src folder")
    p.add_argument("--only", help="results: comma-separated config names (default all)")
    p.add_argument("--pairs", type=int, default=9, help="speed: interleaved pairs of runs")
    args = p.parse_args(argv)
    if args.mode == "results":
        names = args.only.split(",") if args.only else list(CASES)
        unknown = [n for n in names if n not in CASES]
        if unknown:
            print(f"compare_trees: unknown config {unknown[0]!r}; valid: {', '.join(CASES)}", file=sys.stderr)
            return 2
        return results(args.first, args.second, names)
    if args.pairs < 1:
        print("compare_trees: --pairs must be at least 1", file=sys.stderr)
        return 2
    return speed(args.first, args.second, args.pairs)


if __name__ == "__main__":
    sys.exit(main())
