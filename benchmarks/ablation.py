"""What each speed change bought: aegrad with one change undone at a time, side by side.

    python -m benchmarks.ablation [--repeats 5] [--epochs 5] [--block 20] [--limit N] [--seed-epochs N]
                                  [--sections step,seed] [--out ablation.json]

Two tables:

* **RT1 step** — one ``aegrad.train`` run on RT1 (fashion-mlp preset, monitor on,
  as users get it) in a fresh process, in which a callback switches each change
  off for `block` steps at a time between blocks of aegrad as shipped (aegrad,
  variant 1, aegrad, variant 2, ...) and times every step. Comparing neighbouring
  blocks of one process cancels what separate processes cannot: this machine's
  speed moves by a third within minutes, so whole runs of two variants differ by
  more than most changes buy. The changes: the autograd step instead of the dense
  step, the dense step re-allocating its buffers every step, ``optimizer.step()``
  instead of the direct fused Adam call, a separate norm pass instead of the dense
  step's in-cache norms, MKL instead of oneDNN for the forward products and the
  backpropagated errors; and the gradient monitor's per-step work skipped, which
  measures its overhead far more precisely than the benchmark's separate runs with
  the monitor off. "aegrad is faster by" is the median over block pairs of
  (variant block's median step time ÷ the preceding aegrad block's), with its
  quartiles.
* **seed-reference process** — ``aegrad train --preset seed-reference`` timed as
  a whole process, as shipped and with one change undone, each in its own fresh
  process, interleaved (A B C A B C ...), median and min–max of `repeats`: the
  ``torch._dynamo`` import the CLI defers, Python's normal shutdown instead of
  ``os._exit``, a checkpoint at every epoch end, no report (its share), and the
  import of aegrad's CLI alone (the floor no change here can lower). The ratio is
  variant ÷ aegrad.
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

from aegrad.train.callbacks import Callback
from benchmarks import out_problem
from benchmarks.harness import REPO, _env, _tail, aegrad_command
from benchmarks.results import spread

STEP_VARIANTS = {
    "aegrad": ("as shipped: the dense step (oneDNN for large products, norms in cache), reused buffers, "
               "direct fused Adam"),
    "autograd_step": "loss.backward() instead of the dense step (the loop's autograd path)",
    "fresh_buffers": "the dense step, allocating its activations and gradients anew every step",
    "optimizer_step": "optimizer.step() instead of the direct fused Adam call",
    "norm_pass": "a separate foreach norm pass instead of the dense step's in-cache dot per gradient",
    "mkl_products": "MKL's addmm / mm instead of oneDNN's fused linear for the large products (forward, g @ W)",
    "monitor_off": "the gradient monitor's per-step work skipped (below 1×: the monitor's overhead)",
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


# ------------------------------------------------------------------ the RT1 step, A/B inside one run (child process)


# variant -> the StepOptions switch it turns off (monitor_off is the monitor's, below)
OPTION_OF = {
    "autograd_step": "dense",
    "fresh_buffers": "reuse_buffers",
    "optimizer_step": "fused_adam",
    "norm_pass": "cache_norms",
    "mkl_products": "onednn",
}


class _Toggles(Callback):
    """A training callback that switches the step variants on in turn and times every step.

    The run cycles blocks of `block` steps: aegrad, variant 1, aegrad, variant 2, ...
    Each variant turns one of the run's ``StepOptions`` off (passed to ``aegrad.train``),
    except ``monitor_off``, which skips the gradient monitor's per-step work.
    A step's time is the interval between two ``on_step_end`` calls (the loop's whole
    step); the first `settle` steps of a block and the first step of an epoch (its
    interval holds the evaluation) are not counted.
    """

    def __init__(self, variants: list[str], block: int, settle: int = 2) -> None:
        import importlib

        from aegrad.train.steps import StepOptions

        self.options = StepOptions()
        self.cycle = [v for name in variants for v in ("aegrad", name)] or ["aegrad"]
        self.block, self.settle = block, settle
        self.times: dict[str, list[list[float]]] = {v: [] for v in ["aegrad", *variants]}  # per block
        self.order: list[str] = []  # the variant of each block, in run order
        self.active = "aegrad"
        self._pos = self._slot = 0
        self._last: tuple[float, int] | None = None
        monitor_cls = importlib.import_module("aegrad.diagnose.monitor").GradientMonitor
        real_monitor_step = monitor_cls.step

        def monitor_step(monitor: Any, *args: Any, **kwargs: Any) -> None:
            # skipped: no norms recorded, no snapshots, no window syncs, no activation hooks armed
            if self.active != "monitor_off":
                real_monitor_step(monitor, *args, **kwargs)

        monitor_cls.step = monitor_step

    def _switch(self, variant: str) -> None:
        if variant not in OPTION_OF and variant not in ("aegrad", "monitor_off"):
            raise ValueError(f"unknown variant {variant!r}")
        # undo the previous variant, then apply the next (each touches only the run's StepOptions)
        if self.active in OPTION_OF:
            setattr(self.options, OPTION_OF[self.active], True)
        if variant in OPTION_OF:
            setattr(self.options, OPTION_OF[variant], False)
        self.active = variant

    def on_after_backward(self, ctx: Any) -> None: ...

    def on_before_update(self, ctx: Any) -> None: ...

    def on_fit_start(self, total_steps: int, start_step: int) -> None:
        self.order.append(self.active)
        self.times[self.active].append([])

    def on_step_end(self, step: int, epoch: int) -> None:
        now = time.perf_counter()
        if self._last is not None and self._last[1] == epoch and self._pos >= self.settle:
            self.times[self.active][-1].append(now - self._last[0])
        self._pos += 1
        if self._pos == self.block:
            self._pos = 0
            self._slot = (self._slot + 1) % len(self.cycle)
            self._switch(self.cycle[self._slot])
            self.order.append(self.active)
            self.times[self.active].append([])
        self._last = (time.perf_counter(), epoch)

    def on_log(self, record: dict[str, Any]) -> None: ...

    def on_epoch_end(self, record: dict[str, Any]) -> None: ...

    def on_fit_end(self, summary: dict[str, Any]) -> None:
        if self.active != "aegrad":
            self._switch("aegrad")


def run_step_ab(variants: list[str], epochs: int, block: int, limit: int | None) -> dict[str, Any]:
    """One RT1 run with the variants switched on in turn; each block's step times, in run order."""
    import aegrad

    from aegrad.train.dense import DenseStep

    toggles = _Toggles(variants, block)
    overrides: dict[str, Any] = {"train.epochs": epochs}
    if limit:
        overrides["data.limit"] = limit
    cfg = aegrad.load_config(preset="fashion-mlp", overrides=overrides)
    if DenseStep.of(aegrad.create_model(cfg.model, (1, 28, 28)), cfg) is None:
        raise RuntimeError("RT1 does not take the dense step here: nothing to ablate")
    with tempfile.TemporaryDirectory() as tmp:
        run = aegrad.train(cfg, out=Path(tmp) / "run", report=False, callbacks=[toggles], options=toggles.options)
        s = run.summary
    blocks = []
    counters = {v: 0 for v in toggles.times}
    for v in toggles.order:
        blocks.append({"variant": v, "step_s": toggles.times[v][counters[v]]})
        counters[v] += 1
    return {"blocks": blocks, "batch_size": cfg.train.batch_size, "test_mse": s["test_mse"], "steps": s["steps"]}


def summarize_step_ab(res: dict[str, Any], variants: list[str]) -> dict[str, Any]:
    """Per variant: samples/s over all its counted steps, and the median over blocks of
    (its block's median step time ÷ the median of the aegrad block just before it)."""
    batch = res["batch_size"]
    steps: dict[str, list[float]] = {v: [] for v in ["aegrad", *variants]}
    ratios: dict[str, list[float]] = {v: [] for v in variants}
    previous: list[float] = []
    for b in res["blocks"]:
        xs = b["step_s"]
        if not xs:
            continue
        steps[b["variant"]].extend(xs)
        if b["variant"] == "aegrad":
            previous = xs
        elif previous:
            ratios[b["variant"]].append(statistics.median(xs) / statistics.median(previous))
    out: dict[str, Any] = {}
    for v, xs in steps.items():
        if not xs:
            continue
        row = {
            "samples_per_s": batch / statistics.median(xs),
            "step_ms": {k: 1e3 * val for k, val in spread(xs).items()},
            "steps": len(xs),
        }
        if v != "aegrad":
            r = ratios[v]
            row["slowdown"] = statistics.median(r) if r else None
            row["slowdown_quartiles"] = list(statistics.quantiles(r, n=4)[::2]) if len(r) >= 2 else None
            row["pairs"] = len(r)
        out[v] = row
    return out


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
    block: int = 20,
) -> dict[str, Any]:
    variants = [v for v in STEP_VARIANTS if v != "aegrad"]
    step: dict[str, Any] = {}
    seed: dict[str, list[float]] = {v: [] for v in SEED_VARIANTS} if "seed" in sections else {}
    errors: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "step" in sections:
            res = work / "step-ab.json"
            cmd = [sys.executable, "-m", "benchmarks.ablation", "--ab", "--result", str(res), "--block", str(block)]
            cmd += ["--epochs", str(epochs)] + (["--limit", str(limit)] if limit else [])
            log(f"[step] one RT1 run of {epochs} epoch(s), variants switched in blocks of {block} steps")
            proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, check=False)
            if proc.returncode != 0 or not res.is_file():
                errors.append(f"step A/B run: exited {proc.returncode}: {_tail(proc.stderr)}")
            else:
                step = summarize_step_ab(json.loads(res.read_text()), variants)
        for r in range(repeats if seed else 0):
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
    base_s = statistics.median(seed["aegrad"]) if seed.get("aegrad") else None
    seeds = {
        v: {**spread(xs), "vs_aegrad": statistics.median(xs) / base_s if base_s else None}
        for v, xs in seed.items()
        if xs
    }
    return {
        "settings": {"repeats": repeats, "epochs": epochs, "limit": limit, "seed_epochs": seed_epochs, "block": block},
        "sections": [k for k, rows in (("step", step), ("seed", seeds)) if rows],
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
        "step_ab": step,
        "seed_wall_s": seeds,
        "errors": errors,
    }


def render(res: dict[str, Any]) -> str:
    s = res["settings"]
    limit = f", {s['limit']} samples" if s["limit"] else ""
    lines: list[str] = []
    if res["step_ab"]:
        lines += [
            f"RT1 step: one run ({s['epochs']} epoch(s){limit}, monitor on), each variant switched on for "
            f"blocks of {s['block']} steps between aegrad blocks:",
            "",
            "| variant | what is undone | samples/s (median step) | step ms, median (min–max) "
            "| aegrad is faster by, median (quartiles) over block pairs |",
            "|---|---|---:|---:|---:|",
        ]
        for v, r in res["step_ab"].items():
            ms = r["step_ms"]
            if v == "aegrad":
                ratio = "—"
            elif r["slowdown"] is None:
                ratio = "n/a"
            else:
                q = r["slowdown_quartiles"]
                ratio = f"{r['slowdown']:.3f}×" + (f" ({q[0]:.3f}–{q[1]:.3f}, {r['pairs']} pairs)" if q else "")
            lines.append(
                f"| {v} | {STEP_VARIANTS[v]} | {r['samples_per_s']:,.0f} "
                f"| {ms['median']:.2f} ({ms['min']:.2f}–{ms['max']:.2f}) | {ratio} |"
            )
    if res["seed_wall_s"]:
        lines += ["", f"seed-reference as a whole process ({s['repeats']} runs each, interleaved):", ""]
        lines += ["| variant | what changes | wall s, median (min–max) | ÷ aegrad |", "|---|---|---:|---:|"]
        for v, r in res["seed_wall_s"].items():
            ratio = "—" if v == "aegrad" or r["vs_aegrad"] is None else f"{r['vs_aegrad']:.2f}"
            lines.append(f"| {v} | {SEED_VARIANTS[v]} | {r['median']:.2f} "
                         f"({r['min']:.2f}–{r['max']:.2f}) | {ratio} |")
    for e in res["errors"]:
        lines.append(f"\nerror: {e}")
    return "\n".join(lines).strip("\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ablation", description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="runs of each seed-reference variant")
    p.add_argument("--epochs", type=int, default=5, help="RT1 epochs of the step A/B run")
    p.add_argument("--block", type=int, default=20, help="steps per variant block in the A/B run")
    p.add_argument("--limit", type=int, default=None, help="RT1 training samples (default: all 60k)")
    p.add_argument("--seed-epochs", type=int, default=None, help="seed-reference epochs (default: its 50)")
    p.add_argument("--sections", default=",".join(SECTIONS), help="step, seed or both (default: step,seed)")
    p.add_argument("--out", default="ablation.json")
    p.add_argument("--ab", action="store_true", help=argparse.SUPPRESS)  # child process: the step A/B run
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if min(args.repeats, args.epochs, args.limit or 1, args.seed_epochs or 1) < 1 or args.block < 4:
        print(
            "benchmarks.ablation: --repeats, --epochs, --limit and --seed-epochs must be >= 1, --block >= 4",
            file=sys.stderr,
        )
        return 2
    sections = tuple(x.strip() for x in args.sections.split(",") if x.strip())
    if not sections or set(sections) - set(SECTIONS):
        print(f"benchmarks.ablation: --sections {args.sections!r}: valid are step, seed (comma-separated)",
              file=sys.stderr)
        return 2
    if not args.ab and (problem := out_problem(args.out)) is not None:
        print(f"benchmarks.ablation: --out: {problem}", file=sys.stderr)
        return 2
    if args.ab:
        variants = [v for v in STEP_VARIANTS if v != "aegrad"]
        result = run_step_ab(variants, args.epochs, args.block, args.limit)
        Path(args.result).write_text(json.dumps(result), encoding="utf-8")
        return 0
    res = run(args.repeats, args.epochs, args.limit, args.seed_epochs, lambda m: print(m, file=sys.stderr),
              sections, args.block)
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(render(res))
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
