"""A short CUDA check of aegrad's training paths (run on a GPU machine; CI has none).

    PYTHONPATH=src python benchmarks/gpu_check.py [--out DIR]

Trains on digits and on RT1-sized synthetic data with train.device=cuda: fp32, bf16 autocast,
torch.compile, the monitor, the NaN guard, and a resume; prints one JSON object of results.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

import aegrad


def _train(out: Path, name: str, **over) -> dict:
    cfg = aegrad.load_config(overrides={"train.device": "cuda", **over})
    t0 = time.perf_counter()
    run = aegrad.train(cfg, out=out / name, report=False)
    s = dict(run.summary)
    s["process_s"] = time.perf_counter() - t0
    s["findings_kinds"] = [f["kind"] for f in run.findings["findings"]]
    return s


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp())
    res: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    res["digits_fp32"] = _train(out, "fp32", **{"train.epochs": 20})
    res["digits_bf16"] = _train(out, "bf16", **{"train.epochs": 20, "train.precision": "bf16"})
    res["digits_compile"] = _train(out, "compile", **{"train.epochs": 5, "train.compile": True})
    guard = _train(out, "guard", **{"train.epochs": 2, "train.optimizer": "sgd", "train.lr": 1000.0,
                                    "model.output": "identity", "train.nan_patience": 2, "train.max_rollbacks": 2})
    w = load_file(str(out / "guard" / "model.safetensors"))
    guard["weights_finite"] = all(bool(torch.isfinite(t).all()) for t in w.values())
    res["nan_guard"] = guard
    _train(out, "resume", **{"train.epochs": 2})
    straight = _train(out, "straight", **{"train.epochs": 4})
    cfg = aegrad.load_config(overrides={"train.device": "cuda", "train.epochs": 4})
    resumed = aegrad.train(cfg, resume=out / "resume", report=False).summary
    res["resume_rel_diff"] = abs(resumed["test_mse"] - straight["test_mse"]) / straight["test_mse"]
    # RT1-sized work (784-512-256-32 mirrored, batch 128) on synthetic [0, 1] data, monitor on and off
    rng = np.random.default_rng(0)
    x = rng.random((70000, 784), dtype=np.float32)
    np.save(out / "rt1.npy", x)
    rt1 = {"data.source": "npy", "data.path": str(out / "rt1.npy"), "data.test_fraction": 1 / 7,
           "data.normalize": "none", "model.widths": [512, 256], "model.latent": 32, "train.epochs": 2}
    for name, over in [("rt1_monitor_on", {}), ("rt1_monitor_off", {"monitor.enabled": False}),
                       ("rt1_monitor_on_2", {}), ("rt1_monitor_off_2", {"monitor.enabled": False})]:
        s = _train(out, name, **rt1, **over)
        res[name] = {k: s[k] for k in ("samples_per_s", "train_s", "test_mse", "findings_kinds")}
    on = np.median([res["rt1_monitor_on"]["samples_per_s"], res["rt1_monitor_on_2"]["samples_per_s"]])
    off = np.median([res["rt1_monitor_off"]["samples_per_s"], res["rt1_monitor_off_2"]["samples_per_s"]])
    res["rt1_monitor_overhead_pct"] = 100 * (off / on - 1)
    text = json.dumps(res, indent=2,
                      default=lambda v: None if isinstance(v, float) and not math.isfinite(v) else str(v))
    print(text)
    if args.out:
        (out / "gpu_check.json").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
