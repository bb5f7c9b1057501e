"""What each speed change bought: aegrad with one change undone at a time, side by side.

    python -m benchmarks.ablation [--repeats 5] [--epochs 1] [--limit N] [--seed-epochs N] [--sections step,seed]
                                  [--out ablation.json]

Two tables, every variant in its own fresh process, interleaved (A B C A B C ...),
median and min–max of `repeats`:

* **RT1 step** — ``aegrad.train`` on RT1 (fashion-mlp preset, monitor on, as users
  get it) with one change undone by patching aegrad in that process: the
  autograd step instead of the dense step, the dense step re-allocating its
  activation buffers every step, ``optimizer.step()`` instead of the direct fused
  Adam call, a separate norm pass instead of the dense step's in-cache norms,
  MKL instead of oneDNN for the forward products and the backpropagated errors.
  samples/s is training time only (the run summary's).
* **seed-reference process** — ``aegrad train --preset seed-reference`` timed as
  a whole process, as shipped and with one change undone: the ``torch._dynamo``
  import the CLI defers, Python's normal shutdown instead of ``os._exit``, a
  checkpoint at every epoch end, no report (its share), and the import of
  aegrad's CLI alone (the floor no change here can lower).

The ratio column is variant ÷ aegrad (time) or aegrad ÷ variant (samples/s): how
much slower the run is without that change.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import REPO, _env, _tail, aegrad_command
from benchmarks.results import spread

STEP_VARIANTS = {
    "aegrad": "as shipped: the dense step, reused buffers, direct fused Adam, one shared norm pass",
    "autograd_step": "loss.backward() instead of the dense step (DenseStep.of returns None)",
    "fresh_buffers": "the dense step, allocating its activations and gradients anew every step",
    "optimizer_step": "optimizer.step() instead of the direct fused Adam call",
    "norm_pass": "a separate foreach norm pass instead of the dense step's in-cache dot per gradient",
    "mkl_products": "MKL's addmm / mm for every product instead of oneDNN's fused linear (forward, g @ W)",
}

SECTIONS = ("step", "seed")

SEED_VARIANTS = {
    "aegrad": "aegrad train --preset seed-reference, as shipped",
    "dynamo_import": "without defer_dynamo_import (torch.optim imports torch._dynamo)",
    "python_shutdown": "sys.exit(main()) instead of os._exit after flushing",
    "every_epoch_checkpoint": "--set train.checkpoint_interval_s=0 (a checkpoint per epoch)",
    "no_report": "--no-report (the report's share)",
    "import_only": "python -c 'import aegrad.cli, aegrad.api' and os._exit (the floor)",
}


# ------------------------------------------------------------------ one RT1 variant (child process)


def _patch(variant: str) -> None:
    import importlib

    import torch

    loop = importlib.import_module("aegrad.train.loop")
    dense = importlib.import_module("aegrad.train.dense")
    if variant == "autograd_step":
        loop.DenseStep.of = classmethod(lambda cls, *a, **k: None)
    elif variant == "fresh_buffers":
        original = dense.DenseStep.loss_and_grads

        def fresh(self: Any, *args: Any, **kwargs: Any) -> Any:
            self._rows = 0  # forces _buffers() to allocate new activation and error tensors
            self._wgrad = [torch.empty_like(w) for w in self._wgrad]  # and new gradient tensors
            self._bgrad = [torch.empty_like(b) for b in self._bgrad]
            return original(self, *args, **kwargs)

        dense.DenseStep.loss_and_grads = fresh
    elif variant == "optimizer_step":
        loop.fused_adam_step = lambda optimizer: False
    elif variant == "mkl_products":
        dense.USE_ONEDNN = False
    elif variant == "norm_pass":
        init = dense.DenseStep.__init__

        def without_norms(self: Any, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)
            self.sq_norms = torch.zeros(0)  # the loop then measures the norms in its own foreach pass

        dense.DenseStep.__init__ = without_norms
    elif variant != "aegrad":
        raise ValueError(f"unknown variant {variant!r}")


def run_step_variant(variant: str, epochs: int, limit: int | None) -> dict[str, Any]:
    import aegrad

    _patch(variant)
    overrides: dict[str, Any] = {"train.epochs": epochs}
    if limit:
        overrides["data.limit"] = limit
    cfg = aegrad.load_config(preset="fashion-mlp", overrides=overrides)
    with tempfile.TemporaryDirectory() as tmp:
        s = aegrad.train(cfg, out=Path(tmp) / "run", report=False).summary
    return {"samples_per_s": s["samples_per_s"], "test_mse": s["test_mse"], "steps": s["steps"]}


# ------------------------------------------------------------------ the seed's whole process


def seed_command(variant: str, out: Path, seed_epochs: int | None) -> list[str]:
    args = ["train", "--preset", "seed-reference", "--quiet", "--out", str(out)]
    if seed_epochs:
        args += ["--set", f"train.epochs={seed_epochs}"]
    py = sys.executable
    if variant == "aegrad":
        return [*aegrad_command(), *args]
    if variant == "dynamo_import":
        code = (
            "import importlib; o = importlib.import_module('aegrad.train.optim'); "
            "o.defer_dynamo_import = lambda: None; from aegrad.cli import run; run()"
        )
        return [py, "-c", code, *args]
    if variant == "python_shutdown":
        return [py, "-c", "import sys; from aegrad.cli import main; sys.exit(main())", *args]
    if variant == "every_epoch_checkpoint":
        return [*aegrad_command(), *args, "--set", "train.checkpoint_interval_s=0"]
    if variant == "no_report":
        return [*aegrad_command(), *args, "--no-report"]
    if variant == "import_only":
        return [py, "-c", "import os, aegrad.cli, aegrad.api; os._exit(0)"]  # exits as the CLI does
    raise ValueError(f"unknown variant {variant!r}")


# ------------------------------------------------------------------ driver


def run(
    repeats: int,
    epochs: int,
    limit: int | None,
    seed_epochs: int | None,
    log=print,
    sections: tuple[str, ...] = SECTIONS,
) -> dict[str, Any]:
    step: dict[str, list[float]] = {v: [] for v in STEP_VARIANTS} if "step" in sections else {}
    seed: dict[str, list[float]] = {v: [] for v in SEED_VARIANTS} if "seed" in sections else {}
    errors: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for r in range(repeats):
            for variant in step:
                res = work / f"{variant}-{r}.json"
                cmd = [sys.executable, "-m", "benchmarks.ablation", "--variant", variant, "--result", str(res)]
                cmd += ["--epochs", str(epochs)] + (["--limit", str(limit)] if limit else [])
                proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, check=False)
                if proc.returncode != 0 or not res.is_file():
                    errors.append(f"step {variant}: exited {proc.returncode}: {_tail(proc.stderr)}")
                    continue
                sps = json.loads(res.read_text())["samples_per_s"]
                step[variant].append(sps)
                log(f"[step {r + 1}/{repeats}] {variant}: {sps:,.0f} samples/s")
            for variant in seed:
                out = work / f"seed-{variant}-{r}"
                cmd = seed_command(variant, out, seed_epochs)
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, cwd=work, env=_env(), capture_output=True, text=True, check=False)
                wall = time.perf_counter() - t0
                if proc.returncode != 0:
                    errors.append(f"seed {variant}: exited {proc.returncode}: {_tail(proc.stderr)}")
                    continue
                seed[variant].append(wall)
                log(f"[seed {r + 1}/{repeats}] {variant}: {wall:.2f} s")
    return summarize(step, seed, repeats, epochs, limit, seed_epochs, errors)


def summarize(
    step: dict[str, list[float]],
    seed: dict[str, list[float]],
    repeats: int,
    epochs: int,
    limit: int | None,
    seed_epochs: int | None,
    errors: list[str],
) -> dict[str, Any]:
    base_sps = statistics.median(step["aegrad"]) if step.get("aegrad") else None
    base_s = statistics.median(seed["aegrad"]) if seed.get("aegrad") else None
    steps = {
        v: {**spread(xs), "slowdown": base_sps / statistics.median(xs) if base_sps else None}
        for v, xs in step.items()
        if xs
    }
    seeds = {
        v: {**spread(xs), "vs_aegrad": statistics.median(xs) / base_s if base_s else None}
        for v, xs in seed.items()
        if xs
    }
    return {
        "settings": {"repeats": repeats, "epochs": epochs, "limit": limit, "seed_epochs": seed_epochs},
        "sections": [k for k, rows in (("step", step), ("seed", seed)) if rows],
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
        "step_samples_per_s": steps,
        "seed_wall_s": seeds,
        "errors": errors,
    }


def _table(rows: dict[str, dict[str, Any]], texts: dict[str, str], head: str, ratio_key: str, fmt: str, suffix: str) -> list[str]:
    out = [head, "|---|---|---:|---:|"]
    for v, r in rows.items():
        ratio = "—" if v == "aegrad" or r[ratio_key] is None else f"{r[ratio_key]:.2f}{suffix}"
        spread = f"{r['median']:{fmt}} ({r['min']:{fmt}}–{r['max']:{fmt}})"
        out.append(f"| {v} | {texts[v]} | {spread} | {ratio} |")
    return out


def render(res: dict[str, Any]) -> str:
    s = res["settings"]
    limit = f", {s['limit']} samples" if s["limit"] else ""
    lines: list[str] = []
    if res["step_samples_per_s"]:
        lines += [f"RT1 step ({s['epochs']} epoch(s){limit}, monitor on, {s['repeats']} runs each, interleaved):", ""]
        head = "| variant | what is undone | samples/s, median (min–max) | aegrad is faster by |"
        lines += _table(res["step_samples_per_s"], STEP_VARIANTS, head, "slowdown", ",.0f", "×")
    if res["seed_wall_s"]:
        lines += ["", f"seed-reference as a whole process ({s['repeats']} runs each, interleaved):", ""]
        head = "| variant | what changes | wall s, median (min–max) | ÷ aegrad |"
        lines += _table(res["seed_wall_s"], SEED_VARIANTS, head, "vs_aegrad", ".2f", "")
    for e in res["errors"]:
        lines.append(f"\nerror: {e}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ablation", description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=1, help="RT1 epochs per step-variant run")
    p.add_argument("--limit", type=int, default=None, help="RT1 training samples (default: all 60k)")
    p.add_argument("--seed-epochs", type=int, default=None, help="seed-reference epochs (default: its 50)")
    p.add_argument("--sections", default=",".join(SECTIONS), help="step, seed or both (default: step,seed)")
    p.add_argument("--out", default="ablation.json")
    p.add_argument("--variant", help=argparse.SUPPRESS)  # child process: run one RT1 variant
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if min(args.repeats, args.epochs, args.limit or 1, args.seed_epochs or 1) < 1:
        print("benchmarks.ablation: --repeats, --epochs, --limit and --seed-epochs must be >= 1", file=sys.stderr)
        return 2
    sections = tuple(x.strip() for x in args.sections.split(",") if x.strip())
    if not sections or set(sections) - set(SECTIONS):
        print(f"benchmarks.ablation: --sections {args.sections!r}: valid are step, seed (comma-separated)", file=sys.stderr)
        return 2
    if args.variant:
        result = run_step_variant(args.variant, args.epochs, args.limit)
        Path(args.result).write_text(json.dumps(result), encoding="utf-8")
        return 0
    res = run(args.repeats, args.epochs, args.limit, args.seed_epochs, lambda m: print(m, file=sys.stderr), sections)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(render(res))
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
