"""How near the fp32 matmul ceiling an RT1 training step can come here: the step taken apart, side by side.

    python -m benchmarks.bound [--rounds 20] [--block 20] [--rows a,b,...] [--n 2048] [--limit 12800]
                               [--data-dir DIR] [--out bound.json]

One process. Each round runs every row in turn for `block` timed calls (the
ceiling for a few 2048³ products), so neighbouring rows see the same machine;
this machine's speed moves by a third within minutes, which separate runs
cannot tell from a change. A row's rate is RT1's training FLOPs per step
(``spec.train_flops_per_sample`` x the batch: 5.7 MFLOP x 128) over its median
call time, and its *fraction* is that rate over the ceiling's in the same
round; the table gives the median and quartiles over rounds. The rows add one
kind of work at a time, from the 17 matrix products alone to aegrad's step,
then the textbook step, ``torch.compile`` and bf16 for comparison:

* ``ceiling`` - the benchmark's ceiling: ``torch.mm`` of two n x n float32 matrices (2n³ FLOPs).
* ``products`` - the 17 matrix products of one RT1 step on fixed operands, issued exactly as
  aegrad's dense step issues them (oneDNN's linear with bias and activation fused for the
  large forward products and the errors sent back, MKL's addmm / mm for the rest and for
  the weight gradients); nothing else.
* ``products_adam`` - the same, then the fused Adam update of every parameter.
* ``lean_step`` - aegrad's dense step without its gradient norms, then the fused Adam update:
  the whole fp32 step with nothing measured (batch gathered, forward, loss, backward).
* ``aegrad_step`` - the same with the in-cache gradient norms the monitor, the logged norm and
  the NaN guard read: what ``aegrad.train`` computes per step, less its bookkeeping.
* ``autograd_step`` - ``F.mse_loss(model(x), x).backward()`` and ``optimizer.step()``: the
  textbook step with the same fused Adam.
* ``compiled_step`` - the same with the forward and the loss under ``torch.compile``.
* ``bf16_step`` - the autograd step under ``torch.autocast(bfloat16)``: bf16 products, so
  *not* an fp32 step; it shows what lower precision buys through autograd.
* ``aegrad_bf16_step`` - aegrad's dense step as ``train.precision: bf16`` runs it (bf16
  products and activations, float32 weights, gradients in ``.grad`` and Adam), with its norms.

The data are Fashion-MNIST's first `limit` training images when found (else uniform
random pixels, said in the header); each step row draws its batches by a seeded
permutation, as the loop does. Prints a Markdown table and writes ``bound.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import out_problem
from benchmarks.spec import TARGET_CEILING_FRACTION, Task, train_flops_per_sample

CEILING_CALLS = 3  # n³ products per round: ~0.1 s each at n = 2048
WARM_CALLS = 5  # calls per row before the rounds (torch.compile traces and compiles here)


@dataclass
class Product:
    """One matrix product of the step: `run` issues it as the dense step does, `expect` by plain torch."""

    what: str
    flops: int
    run: Callable[[], Any]
    expect: Callable[[], Any]


def step_products(step: Any, batch: int, seed: int = 0) -> list[Product]:
    """The products of one training step of `step`'s stages (a ``DenseStep``) on fixed operands of `batch` rows.

    Forward k: ``act(a_k @ W_k.T + b_k)``; weight gradient k: ``e_k.T @ a_k``, written
    into ``W_k.grad`` when it exists (so Adam then reads what the products wrote, as
    in a step); error k (k >= 1): ``e_k @ W_k``. The large ones go through oneDNN when
    the step uses it.
    """
    import torch
    import torch.nn.functional as F

    from aegrad.train.dense import _linear

    gen = torch.Generator().manual_seed(seed)
    out: list[Product] = []
    acts = {"relu": torch.relu, "leaky_relu": None, "sigmoid": torch.sigmoid, "tanh": torch.tanh, None: None}
    for k, (s, large) in enumerate(zip(step.stages, step._large)):
        w, b = s.linear.weight, s.linear.bias
        fan_out, fan_in = w.shape
        a = torch.rand(batch, fan_in, generator=gen)  # a layer's input: post-activation, mostly >= 0
        e = torch.randn(batch, fan_out, generator=gen) * 1e-3  # the error arriving at its output
        y, dx = torch.empty(batch, fan_out), torch.empty(batch, fan_in)
        g = w.grad if w.grad is not None else torch.empty_like(w)
        flops = 2 * batch * fan_in * fan_out
        wt = w.t()

        def ref_act(z: Any, s: Any = s) -> Any:
            if s.act == "leaky_relu":
                return F.leaky_relu(z, s.slope)
            fn = acts[s.act]
            return z if fn is None else fn(z)

        if step.onednn and large:
            fwd = lambda a=a, w=w, b=b, s=s: _linear(a, w, b, s.act, s.slope)
            err = lambda e=e, wt=wt: _linear(e, wt, None, None, 0.0)
        else:
            fwd = lambda a=a, wt=wt, b=b, y=y: torch.addmm(b, a, wt, out=y)
            err = lambda e=e, w=w, dx=dx: torch.mm(e, w, out=dx)
        fwd_expect = lambda a=a, w=w, b=b: torch.addmm(b, a, w.t())
        if step.onednn and large:  # the activation rides in oneDNN's call
            fwd_expect = lambda a=a, w=w, b=b, f=ref_act: f(torch.addmm(b, a, w.t()))
        out.append(Product(f"forward {k}", flops, fwd, fwd_expect))
        out.append(Product(f"weight gradient {k}", flops, lambda e=e, a=a, g=g: torch.mm(e.t(), a, out=g),
                           lambda e=e, a=a: e.t() @ a))
        if k:
            out.append(Product(f"error {k}", flops, err, lambda e=e, w=w: e @ w))
    return out


def _model(task: Task, precision: str = "fp32") -> tuple[Any, Any, Any]:
    """RT1's model (the fashion-mlp preset), its optimizer and its dense step in `precision`, seeded."""
    import torch

    from aegrad.config import load_config
    from aegrad.models import create_model
    from aegrad.train.dense import DenseStep
    from aegrad.train.optim import create_optimizer

    cfg = load_config("fashion-mlp", overrides={"train.precision": precision})
    torch.manual_seed(task.seed)
    model = create_model(cfg.model, (task.input_dim,))
    optimizer = create_optimizer(model.parameters(), cfg.train)
    _check_task(model, task)
    step = DenseStep.of(model, cfg)
    if step is None:
        raise RuntimeError("the fashion-mlp preset no longer takes the dense step")
    return model, optimizer, step


def _check_task(model: Any, task: Task) -> None:
    dims = [(m.in_features, m.out_features) for m in model.modules() if type(m).__name__ == "Linear"]
    if dims != task.layer_dims():
        raise RuntimeError(f"the fashion-mlp preset's layers {dims} are not RT1's {task.layer_dims()}")


def _data(task: Task, limit: int, data_dir: str | None) -> tuple[Any, str]:
    import torch

    from benchmarks.data import find_dir, load

    if find_dir(data_dir) is not None:
        x, _ = load(data_dir, limit, 1, task.seed)
        return torch.from_numpy(x), f"Fashion-MNIST, {len(x)} training images"
    gen = torch.Generator().manual_seed(task.seed)
    return (torch.rand(limit, task.input_dim, generator=gen),
            f"uniform random pixels, {limit} rows (Fashion-MNIST not found)")


def _batches(x: Any, batch: int, seed: int) -> Callable[[], Any]:
    """Successive index batches of seeded permutations of `x`'s rows, one per call."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    state = {"perm": torch.randperm(len(x), generator=gen), "pos": 0}

    def next_index() -> Any:
        if state["pos"] + batch > len(x):
            state["perm"], state["pos"] = torch.randperm(len(x), generator=gen), 0
        idx = state["perm"][state["pos"] : state["pos"] + batch]
        state["pos"] += batch
        return idx

    return next_index


@dataclass
class Setup:
    """What a row's builder gets: the task, the training images and the ceiling's size."""

    task: Task
    x: Any
    n: int


Call = Callable[[], Any]


def _ceiling(setup: Setup) -> Call:
    import torch

    gen = torch.Generator().manual_seed(setup.task.seed)
    a, b, c = (torch.randn(setup.n, setup.n, generator=gen) for _ in range(3))
    return lambda: torch.mm(a, b, out=c)


def _products(setup: Setup, adam: bool) -> Call:
    import torch

    from aegrad.train.optim import fused_adam_step

    model, optimizer, step = _model(setup.task)
    for p in model.parameters():  # the weights' are overwritten by the products; the biases' stay small and dense
        p.grad = torch.randn_like(p) * 1e-3
    products = [p.run for p in step_products(step, setup.task.batch_size, setup.task.seed)]

    def call() -> None:
        with torch.no_grad():  # as the dense step runs them
            for run in products:
                run()
        if adam:
            fused_adam_step(optimizer)

    return call


def _dense(setup: Setup, norms: bool, precision: str = "fp32") -> Call:
    from aegrad.train.optim import fused_adam_step

    _, optimizer, step = _model(setup.task, precision)
    batch, x = _batches(setup.x, setup.task.batch_size, setup.task.seed), setup.x

    def call() -> None:
        xb = step.gather(x, batch())
        step.loss_and_grads(xb, xb, 1.0, norms)
        fused_adam_step(optimizer)

    return call


def _autograd(setup: Setup, compiled: bool = False, bf16: bool = False) -> Call:
    import torch
    import torch.nn.functional as F

    model, optimizer, _ = _model(setup.task)
    batch, x = _batches(setup.x, setup.task.batch_size, setup.task.seed), setup.x
    params = list(model.parameters())

    def loss_of(xb: Any) -> Any:
        return F.mse_loss(model(xb)["x_hat"].float(), xb)

    fn = torch.compile(loss_of) if compiled else loss_of
    amp = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

    def call() -> None:
        for p in params:
            p.grad = None
        xb = x[batch()]
        with amp:
            loss = fn(xb)
        loss.backward()
        optimizer.step()

    return call


# The rows in table order: what each runs (the README's words) and how one call is built.
ROWS: dict[str, tuple[str, Callable[[Setup], Call]]] = {
    "ceiling": ("torch.mm of two {n}×{n} float32 matrices (the benchmark's ceiling)", _ceiling),
    "products": (
        "the 17 matrix products of one step, issued as aegrad's dense step issues them; nothing else",
        lambda s: _products(s, adam=False),
    ),
    "products_adam": ("the same, then the fused Adam update of every parameter", lambda s: _products(s, adam=True)),
    "lean_step": (
        "aegrad's dense step without gradient norms + fused Adam: the fp32 step with nothing measured",
        lambda s: _dense(s, norms=False),
    ),
    "aegrad_step": (
        "the same with the in-cache gradient norms (monitor, logged norm, NaN guard)",
        lambda s: _dense(s, norms=True),
    ),
    "autograd_step": (
        "F.mse_loss(model(x), x).backward() + optimizer.step(): the textbook step, fused Adam",
        _autograd,
    ),
    "compiled_step": (
        "the same with the forward and the loss under torch.compile (inductor, default mode)",
        lambda s: _autograd(s, compiled=True),
    ),
    "bf16_step": (
        "the autograd step under torch.autocast(bfloat16): bf16 products, not fp32",
        lambda s: _autograd(s, bf16=True),
    ),
    "aegrad_bf16_step": (
        "aegrad's dense step with train.precision: bf16 (bf16 products, float32 weights and Adam), norms, fused Adam",
        lambda s: _dense(s, norms=True, precision="bf16"),
    ),
}


def _quartiles(values: list[float]) -> list[float] | None:
    if len(values) < 2:
        return None
    q = statistics.quantiles(values, n=4, method="inclusive")
    return [q[0], q[2]]


def summarize(times: dict[str, list[float]], step_flops: float, n: int, batch: int) -> dict[str, Any]:
    """Per row, from its per-round median call times (seconds): ms, samples/s, GFLOP/s and fraction of the ceiling.

    A round's fraction is the row's rate over the ceiling's rate in the same round;
    the row reports the median and quartiles of those, over the rounds both ran.
    """
    ceiling = times.get("ceiling", [])
    out: dict[str, Any] = {}
    for name, ts in times.items():
        if not ts:
            continue
        flops = 2.0 * n**3 if name == "ceiling" else step_flops
        rates = [flops / t / 1e9 for t in ts]
        fractions = [(flops / t) / (2.0 * n**3 / c) for t, c in zip(ts, ceiling)]
        out[name] = {
            "ms": {"median": statistics.median(ts) * 1e3, "min": min(ts) * 1e3, "max": max(ts) * 1e3},
            "samples_per_s": None if name == "ceiling" else batch / statistics.median(ts),
            "gflops": statistics.median(rates),
            "fraction": statistics.median(fractions) if fractions else None,
            "fraction_quartiles": _quartiles(fractions),
            "rounds": len(ts),
        }
    return out


def run(names: list[str], rounds: int, block: int, n: int, limit: int, data_dir: str | None,
        log: Callable[[str], None]) -> dict[str, Any]:
    import torch

    task = Task(data_dir=data_dir)
    torch.set_num_threads(task.threads)
    x, data = _data(task, limit, data_dir)
    step_flops = train_flops_per_sample(task.layer_dims()) * task.batch_size
    errors: list[str] = []
    setup = Setup(task, x, n)
    rows: dict[str, Call] = {}
    for name in names:
        t0 = time.perf_counter()
        try:
            rows[name] = ROWS[name][1](setup)
            for _ in range(WARM_CALLS):
                rows[name]()
        except Exception as exc:  # noqa: BLE001 - e.g. torch.compile without a C compiler: that row is dropped
            errors.append(f"{name}: {type(exc).__name__}: "
                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
            rows.pop(name, None)
            continue
        log(f"[warm] {name}: {time.perf_counter() - t0:.1f} s")
    times: dict[str, list[float]] = {name: [] for name in rows}
    for r in range(rounds):
        for name, call in rows.items():
            calls = CEILING_CALLS if name == "ceiling" else block
            ts = []
            for _ in range(calls + 1):  # the first call of a block is not counted: the previous row's caches
                t0 = time.perf_counter()
                call()
                ts.append(time.perf_counter() - t0)
            times[name].append(statistics.median(ts[1:]))
        log(f"[round {r + 1}/{rounds}] " + ", ".join(f"{k} {v[-1] * 1e3:.2f} ms" for k, v in times.items()))
    return {
        "settings": {"rounds": rounds, "block": block, "n": n, "batch": task.batch_size, "threads": task.threads,
                     "data": data, "step_gflop": step_flops / 1e9},
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()}, torch {torch.__version__}",
        "target_fraction": TARGET_CEILING_FRACTION,
        "rows": summarize(times, step_flops, n, task.batch_size),
        "errors": errors,
    }


def render(res: dict[str, Any]) -> str:
    s = res["settings"]
    lines = [
        (
            f"RT1 step taken apart: {s['rounds']} rounds of {s['block']} calls per row, one process, "
            f"{s['threads']} threads; {s['data']}; {s['step_gflop']:.3f} GFLOP per step of {s['batch']}; "
            f"{res['machine']}"
        ),
        "",
        ("| row | what it runs | ms per call, median (min–max) | samples/s | GFLOP/s "
         "| of the ceiling, median (quartiles) |"),
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, r in res["rows"].items():
        ms, q = r["ms"], r["fraction_quartiles"]
        sps = "—" if r["samples_per_s"] is None else f"{r['samples_per_s']:,.0f}"
        frac = "n/a" if r["fraction"] is None else f"{100 * r['fraction']:.0f}%"
        if q and name != "ceiling":
            frac += f" ({100 * q[0]:.0f}–{100 * q[1]:.0f}%)"
        what = ROWS[name][0].format(n=s["n"])
        lines.append(f"| {name} | {what} | {ms['median']:.2f} ({ms['min']:.2f}–{ms['max']:.2f}) | {sps} "
                     f"| {r['gflops']:.1f} | {frac} |")
    for e in res["errors"]:
        lines.append(f"\nerror: {e}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bound", description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=20, help="rounds over all rows (default 20)")
    p.add_argument("--block", type=int, default=20, help="timed steps per row and round (default 20)")
    p.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows (default: all); ceiling is always run")
    p.add_argument("--n", type=int, default=2048, help="size of the ceiling's square matrices (default 2048)")
    p.add_argument("--limit", type=int, default=12800, help="training images the steps draw from (default 12800)")
    p.add_argument("--data-dir", default=None, help="folder with Fashion-MNIST's IDX files (default: searched)")
    p.add_argument("--out", default="bound.json")
    args = p.parse_args(argv)
    names = [x.strip() for x in args.rows.split(",") if x.strip()]
    unknown = sorted(set(names) - set(ROWS))
    if unknown or not names:
        print(f"benchmarks.bound: --rows {args.rows!r}: valid are {', '.join(ROWS)} (comma-separated)", file=sys.stderr)
        return 2
    if min(args.rounds, args.block, args.n) < 1 or args.limit < Task().batch_size:
        print(f"benchmarks.bound: --rounds, --block and --n must be >= 1, --limit >= {Task().batch_size}",
              file=sys.stderr)
        return 2
    if args.data_dir is not None:
        from benchmarks.data import find_dir

        if find_dir(args.data_dir) is None:
            print(f"benchmarks.bound: --data-dir {args.data_dir}: no Fashion-MNIST IDX image files there "
                  "(train-images-idx3-ubyte and t10k-images-idx3-ubyte, optionally .gz)", file=sys.stderr)
            return 2
    if (problem := out_problem(args.out)) is not None:
        print(f"benchmarks.bound: --out: {problem}", file=sys.stderr)
        return 2
    names = ["ceiling", *[x for x in ROWS if x in names and x != "ceiling"]]
    res = run(names, args.rounds, args.block, args.n, args.limit, args.data_dir, lambda m: print(m, file=sys.stderr))
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(render(res))
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
