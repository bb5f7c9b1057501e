"""GradientMonitor: per-layer gradient, update and activation statistics in any PyTorch loop.

Use::

    monitor = GradientMonitor(model)          # sync_every=50, activation_every=50 (config=cfg: aegrad's own model)
    for x in batches:
        loss = loss_fn(model(x), x)
        loss.backward()                       # (all micro-batches, unscaled, DDP-averaged)
        monitor.step(loss)                    # cheap: queues a few device ops, no sync
        opt.step(); opt.zero_grad()
        for record in monitor.drain():        # a record every sync_every steps
            log.write(json.dumps(record) + "\\n")
    monitor.flush()                           # the partial last window
    print(format_findings(monitor.findings(trivial_mse=...)))
    monitor.close()                           # removes the activation hooks

What is measured, and when
--------------------------
Every step (from ``.grad``, no backward hooks — those cost 8–9% of a step): the two-norm of
each parameterised layer's weight gradient (Linear, Conv*, ConvTranspose*, in named_modules
order, which aegrad's models keep equal to forward order) and the loss, with one
``_foreach_norm`` call, written as one row of a preallocated device buffer. The rows are
reduced on the device into the window's sum, finite count, max and min per layer and the
number of steps with a non-finite value (every step counts: nothing is sampled away), and
copied to the host once per window — plus once after the very first step, to choose each
layer's norm precision (see stats.py on underflow). Per step that is one foreach pass, one
stack and one copy. Measured cost with the defaults (interleaved blocks, medians): +2.4% (median
of pairwise ratios; +2.9% median of medians) on a 784-512-256-32-256-512-784 relu MLP, Adam,
batch 128 (≈8.5 ms/step, 2 threads, shared 2-core CPU). Nearly all of it is reading the
freshly written gradients once (~4.8 MB); the Python bookkeeping is ~15 µs.

Sampled steps (every ``activation_every``-th, starting with the first): forward hooks on
activation modules (ReLU, LeakyReLU, PReLU, ELU, SELU, GELU, SiLU, Sigmoid, Tanh, by type)
record mean, std, dead and saturated fractions (stats.activation_stats). Hooks exist only
around sampled steps: they are armed when the monitor is built (for step 0) and at the end of
the ``step()`` that precedes a sampled step, take the first forward that runs with autograd
enabled (evaluation under ``torch.no_grad()`` is ignored; with accumulation, the first
micro-batch), and are removed by the sampled ``step()``. So the loop needs no extra call.
Under ``torch.compile`` hooks added after compilation are ignored unless
``torch._dynamo.config.skip_nnmodule_hook_guards = False`` (then two graphs, armed and not, are
cached and reused); the hook callables are created once so re-arming does not recompile.

Update ratio ‖Δw‖/‖w‖ (every ``update_every``-th step, default = ``activation_every``): that
step's ``step()`` copies the weights (it runs before ``opt.step()``), and the next ``step()``
measures the difference — exactly the update the optimizer applied. A float32 weight cannot
move by less than one ulp (~6e-8 of itself), so ratios far below 1e-7 are underestimates, down to 0.

Record format (one line of ``gradients.jsonl``)
-----------------------------------------------
Plain JSON, lists indexed like ``layers``; a non-finite or unavailable number is ``null``::

    {"step": 100,                  # monitor steps so far (this window ends at this step)
     "window_steps": 50,           # steps in this window (fewer for a flushed last window)
     "layers": ["enc.0", ...],     # parameterised layers, forward order
     "numel": [401408, ...],       # weight elements per layer
     "grad_norm": {"mean": [...], "max": [...], "min": [...]},   # ‖∂L/∂W‖ over the window's
                                   # steps (mean over finite steps)
     "grad_rms": [...],            # mean over the window of ‖∂L/∂W‖/√numel
     "weight_norm": [...],         # ‖W‖ at the end of the window
     "update_ratio": [...] | null, # mean ‖ΔW‖/‖W‖ over the window's sampled updates
     "nonfinite_steps": 0,         # steps where a gradient norm or the loss was nan/inf
     "loss": {"mean": f, "min": f, "max": f} | null,   # null when step() got no loss
     "activations": {              # {} when no step of the window was sampled
        "enc.1": {"family": "relu", "mean": f, "std": f, "dead": f | null,
                  "saturated": f | null, "output": false}}}

``family`` is relu | leaky | sigmoid | tanh (models/activations.py's ``Unit``); ``dead`` applies to
relu/leaky, ``saturated`` to sigmoid/tanh; ``output`` marks activations after the last
parameterised layer (a reconstruction's sigmoid), which the detectors judge only when the loss
is stalled (a sigmoid output near 0 on background pixels is normal).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from aegrad.diagnose.findings import diagnose
from aegrad.diagnose.records import read_records  # noqa: F401  (re-exported: the reader lives in records.py)
from aegrad.diagnose.stats import (
    ACTIVATION_FIELDS,
    activation_modules,
    activation_stats,
    needs_precise,
    param_layers,
    tensor_norms,
)

# At most this many per-step rows are kept on the device before being folded into the window's
# sum/count/max/min (bounds memory for a very long sync_every; 256 × (layers + 1) float64).
RING_ROWS = 256


def _num(x: float) -> float | None:
    """A JSON-safe number: non-finite becomes None."""
    return x if math.isfinite(x) else None


class GradientMonitor:
    """On-device gradient-health statistics for `model`, synced once per `sync_every` steps."""

    def __init__(
        self,
        model: nn.Module,
        sync_every: int = 50,
        activation_every: int = 50,
        update_every: int | None = None,
        config: Any = None,
    ) -> None:
        if sync_every < 1 or activation_every < 1 or (update_every is not None and update_every < 1):
            raise ValueError("sync_every, activation_every and update_every must be >= 1")
        self.model = model
        self.sync_every = sync_every
        self.activation_every = activation_every
        self.update_every = update_every if update_every is not None else activation_every
        # The aegrad config that built `model` (Config or dict), if any: remedies are then `--set`
        # patches; without one (a hand-built model) they are said in words.
        self.config = config

        layers = param_layers(model)
        self.layers: list[str] = [name for name, _ in layers]
        self._weights: list[Tensor] = [m.weight for _, m in layers]
        self._numel: list[int] = [w.numel() for w in self._weights]
        acts = activation_modules(model)
        self.activations: list[str] = [name for name, _, _ in acts]
        self._act_modules = [m for _, m, _ in acts]
        self._act_family = [family for _, _, family in acts]
        # An activation registered after the last parameterised layer acts on the output.
        order = {name: i for i, (name, _) in enumerate(model.named_modules())}
        # (a recurrent weight, "rnn.weight_hh_l0", is placed where its module is)
        last_layer = max((order.get(n, order.get(n.rpartition(".")[0], -1)) for n in self.layers), default=-1)
        self._act_output = [order[n] > last_layer for n in self.activations]
        # One hook function per activation, made once: re-arming reuses the same callables
        # (a compiled model sees the same hooks each time it is armed).
        self._hook_fns = [self._make_hook(i) for i in range(len(self._act_modules))]

        self._step = 0  # step() calls so far
        self._precise = [True] * len(self.layers)  # float64 norms until the first step has been seen
        self._probed = False
        self._records: list[dict[str, Any]] = []
        self._drained = 0
        self._buf: dict[str, Tensor] = {}
        self._rows: list[Tensor] = []
        self._ring_fill = 0
        self._window_steps = 0
        self._window_has_loss = False
        self._act_count = 0
        self._update_count = 0
        self._snapshot: list[Tensor] | None = None  # weights copied before a sampled update
        self._snapshot_norm: Tensor | None = None
        self._snapshot_live = False
        self._hooks: list[torch.utils.hooks.RemovableHandle] = []
        self._act_pending: dict[int, Tensor] = {}
        self._arm_if_sampled()

    # -- the loop's calls --------------------------------------------------------------

    def step(self, loss: Tensor | None = None, grad_norms: Tensor | Sequence[Tensor] | None = None) -> None:
        """Account one optimizer step: call after backward (and unscaling), before opt.step().

        `grad_norms`, when the caller has them, are the float32 L2 norms of the
        gradients of `weights` (in that order; a 1-D tensor or a list of scalars): the
        loop computes one norm pass per step and shares it with the clipper. Layers
        whose gradients are too small for float32 squares are still re-measured here
        in float64.
        """
        device = self._device(loss)
        if not self._buf or self._buf["sum"].device != device:
            self._alloc(device)
        if loss is None:
            loss_t = self._buf["zero64"]
        else:
            loss_t = loss.detach()
            if loss_t.ndim or loss_t.device != device:
                loss_t = loss_t.reshape(()).to(device)
            self._window_has_loss = True
        # The per-step cost: one foreach norm pass (or the caller's), one or two copies into the ring buffer.
        row = self._rows[self._ring_fill]
        if isinstance(grad_norms, Tensor) and not any(self._precise):
            if grad_norms.shape != (len(self._weights),):
                raise ValueError(f"grad_norms has shape {tuple(grad_norms.shape)} for {len(self._weights)} layers")
            row[:-1].copy_(grad_norms)
            row[-1].copy_(loss_t)
        else:
            given = None if grad_norms is None else list(grad_norms)
            row.copy_(torch.stack([*self._grad_norms(given), loss_t]))
        self._ring_fill += 1
        if self._ring_fill == len(self._rows):
            self._fold()

        self._track_update()
        self._collect_activations()
        self._step += 1
        self._window_steps += 1
        if not self._probed:
            # One extra sync, after the first step only: pick each layer's norm precision.
            for i, n in enumerate(row[:-1].tolist()):
                self._precise[i] = needs_precise(n, n, self._numel[i])
            self._probed = True
        if self._window_steps >= self.sync_every:
            self._sync()
        self._arm_if_sampled()

    def flush(self) -> dict[str, Any] | None:
        """Sync the partial window now (end of training); returns its record, or None if empty."""
        if self._window_steps == 0:
            return None
        return self._sync()

    def records(self) -> list[dict[str, Any]]:
        """Every synced window record so far (gradients.jsonl lines as dicts)."""
        return list(self._records)

    def drain(self) -> list[dict[str, Any]]:
        """The records synced since the last drain() — what a loop appends to gradients.jsonl."""
        out = self._records[self._drained :]
        self._drained = len(self._records)
        return out

    def findings(
        self,
        trivial_mse: float | None = None,
        test_mse: float | None = None,
        metrics: list[dict[str, Any]] | None = None,
        config: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Flush the partial window and diagnose every record (see findings.diagnose).

        Remedies are aegrad config patches when an aegrad config is known (`config` here or the
        monitor's own), else in words: a hand-built model has no `model.activation` to set.
        """
        self.flush()
        config = config if config is not None else self.config
        return diagnose(self.records(), metrics=metrics, trivial_mse=trivial_mse, test_mse=test_mse, config=config,
                        patches=config is not None)

    def close(self) -> None:
        """Remove the activation hooks (statistics already gathered stay available)."""
        self._remove_hooks()

    def __enter__(self) -> GradientMonitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def weights(self) -> list[Tensor]:
        """The monitored layers' weights, in `layers` order (what `step`'s `grad_norms` must follow)."""
        return list(self._weights)

    @property
    def steps(self) -> int:
        """step() calls so far."""
        return self._step

    # -- resume ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue identically: counters, the pending window, the records."""
        if self._buf:
            self._fold()
        return {
            "layers": list(self.layers),
            "step": self._step,
            "precise": list(self._precise),
            "probed": self._probed,
            "records": json.loads(json.dumps(self._records)),
            "drained": self._drained,
            "window_steps": self._window_steps,
            "window_has_loss": self._window_has_loss,
            "act_count": self._act_count,
            "update_count": self._update_count,
            "buffers": {k: v.detach().cpu().clone() for k, v in self._buf.items()},
            "snapshot": [t.cpu().clone() for t in self._snapshot] if self._snapshot_live and self._snapshot else None,
            "snapshot_norm": self._snapshot_norm.cpu().clone() if self._snapshot_live else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state_dict() taken from a monitor of the same model."""
        if list(state["layers"]) != self.layers:
            raise ValueError("monitor state was taken from a model with different layers")
        self._remove_hooks()
        self._act_pending.clear()
        self._step = int(state["step"])
        self._precise = [bool(p) for p in state["precise"]]
        self._probed = bool(state["probed"])
        self._records = [dict(r) for r in state["records"]]
        self._drained = int(state["drained"])
        self._window_steps = int(state["window_steps"])
        self._window_has_loss = bool(state["window_has_loss"])
        self._act_count = int(state["act_count"])
        self._update_count = int(state["update_count"])
        device = self._device(None)
        self._buf = {k: v.to(device) for k, v in state["buffers"].items()}
        self._rows = list(self._buf["ring"].unbind(0)) if self._buf else []
        self._ring_fill = 0
        self._snapshot_live = state["snapshot"] is not None
        if self._snapshot_live:
            self._snapshot = [t.to(device) for t in state["snapshot"]]
            self._snapshot_norm = state["snapshot_norm"].to(device)
        self._arm_if_sampled()

    # -- internals -----------------------------------------------------------------------

    def _device(self, loss: Tensor | None) -> torch.device:
        if self._weights:
            return self._weights[0].device
        return loss.device if loss is not None else torch.device("cpu")

    def _alloc(self, device: torch.device) -> None:
        n, a = len(self.layers) + 1, len(self.activations)
        f64 = {"dtype": torch.float64, "device": device}
        self._buf = {
            "sum": torch.zeros(n, **f64),
            "count": torch.zeros(n, **f64),
            "max": torch.full((n,), -math.inf, **f64),
            "min": torch.full((n,), math.inf, **f64),
            "finite_steps": torch.zeros((), **f64),
            "update_sum": torch.zeros(len(self.layers), **f64),
            "act_sum": torch.zeros(a, len(ACTIVATION_FIELDS), **f64),
            "zero64": torch.zeros((), **f64),
            "zero32": torch.zeros((), dtype=torch.float32, device=device),
            # Per-step rows [layer norms..., loss], folded into sum/count/max/min when full.
            "ring": torch.zeros(min(self.sync_every, RING_ROWS), n, **f64),
        }
        self._rows = list(self._buf["ring"].unbind(0))
        self._ring_fill = 0

    def _fold(self) -> None:
        """Reduce the filled ring rows into the window accumulators, on device (no sync)."""
        if self._ring_fill == 0:
            return
        b = self._buf
        rows = b["ring"][: self._ring_fill]
        fin = torch.isfinite(rows)
        b["sum"].add_(torch.nan_to_num(rows, nan=0.0, posinf=0.0, neginf=0.0).sum(0))
        b["count"].add_(fin.sum(0))
        # max/min skip NaN and keep ±inf: an overflowing gradient shows as an infinite max.
        inf = math.inf
        torch.fmax(b["max"], torch.nan_to_num(rows, nan=-inf, posinf=inf, neginf=-inf).amax(0), out=b["max"])
        torch.fmin(b["min"], torch.nan_to_num(rows, nan=inf, posinf=inf, neginf=-inf).amin(0), out=b["min"])
        b["finite_steps"].add_(fin.all(1).sum())
        self._ring_fill = 0

    def _reset_window(self) -> None:
        b = self._buf
        for k in ("sum", "count", "finite_steps", "update_sum", "act_sum"):
            b[k].zero_()
        b["max"].fill_(-math.inf)
        b["min"].fill_(math.inf)
        self._window_steps = 0
        self._window_has_loss = False
        self._act_count = 0
        self._update_count = 0

    def _grad_norms(self, given: Sequence[Tensor] | None = None) -> list[Tensor]:
        """Per-layer gradient norms (0-d tensors): one float32 foreach pass (or `given`), float64 where needed."""
        zero = self._buf["zero32"]
        grads = [w.grad if w.grad is not None else zero for w in self._weights]
        if given is not None:
            if len(given) != len(grads):
                raise ValueError(f"grad_norms has {len(given)} norms for {len(grads)} layers")
            out = list(given)
            slow = [i for i, p in enumerate(self._precise) if p]
            if slow:
                for i, n in zip(slow, torch._foreach_norm([grads[i] for i in slow], 2, dtype=torch.float64)):
                    out[i] = n
            return out
        if not any(self._precise):
            return list(torch._foreach_norm(grads, 2))
        if all(self._precise):
            return list(torch._foreach_norm(grads, 2, dtype=torch.float64))
        fast = [i for i, p in enumerate(self._precise) if not p]
        slow = [i for i, p in enumerate(self._precise) if p]
        out: list[Tensor] = [zero] * len(grads)
        for i, n in zip(fast, torch._foreach_norm([grads[i] for i in fast], 2)):
            out[i] = n
        for i, n in zip(slow, torch._foreach_norm([grads[i] for i in slow], 2, dtype=torch.float64)):
            out[i] = n
        return out

    def _track_update(self) -> None:
        """Measure the update applied since the snapshot; take a new snapshot on sampled steps."""
        sample = self._step % self.update_every == 0
        if not self._weights or not (sample or self._snapshot_live):
            return  # most steps: nothing to measure or take
        weights = [w.detach() for w in self._weights]
        if self._snapshot_live:
            assert self._snapshot is not None and self._snapshot_norm is not None
            torch._foreach_sub_(self._snapshot, weights)  # snapshot := w_before − w_after
            self._buf["update_sum"].add_(tensor_norms(self._snapshot) / self._snapshot_norm)
            self._update_count += 1
            self._snapshot_live = False
        if sample:
            if self._snapshot is None:
                self._snapshot = [torch.empty_like(w) for w in weights]
            torch._foreach_copy_(self._snapshot, weights)
            self._snapshot_norm = tensor_norms(weights)
            self._snapshot_live = True

    def _arm_if_sampled(self) -> None:
        """Attach the activation hooks when the coming step is sampled."""
        if self._hooks or not self._act_modules or self._step % self.activation_every != 0:
            return
        for m, fn in zip(self._act_modules, self._hook_fns):
            self._hooks.append(m.register_forward_hook(fn))

    def _make_hook(self, i: int) -> Callable[[nn.Module, Any, Any], None]:
        family = self._act_family[i]

        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if i in self._act_pending or not torch.is_grad_enabled() or not isinstance(output, Tensor):
                return
            stats = activation_stats(output, family)
            self._act_pending[i] = torch.stack([stats[k] for k in ACTIVATION_FIELDS])

        # It reads only `output` and returns None: the loop's autograd-free dense step may call it
        # itself with the activation it computed (train/dense.py), so sampled steps stay fast.
        hook.reads_output_only = True  # type: ignore[attr-defined]
        return hook

    def _remove_hooks(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks.clear()

    def _collect_activations(self) -> None:
        if not self._hooks:
            return
        self._remove_hooks()
        if not self._act_pending:
            return  # no forward ran while armed: nothing sampled this step
        device = self._buf["act_sum"].device
        nan = torch.full((len(ACTIVATION_FIELDS),), math.nan, dtype=torch.float64, device=device)
        rows = [self._act_pending.get(i, nan).to(device, torch.float64) for i in range(len(self._act_modules))]
        self._buf["act_sum"].add_(torch.stack(rows))
        self._act_count += 1
        self._act_pending.clear()

    def _sync(self) -> dict[str, Any]:
        """Copy the window's statistics to the host (the one sync), append a record, reset."""
        self._fold()
        b = self._buf
        n_layers, n_fields = len(self.layers), len(ACTIVATION_FIELDS)
        weight_norm = tensor_norms([w.detach() for w in self._weights])
        flat = torch.cat(
            [
                b["sum"],
                b["count"],
                b["max"],
                b["min"],
                b["finite_steps"].reshape(1),
                weight_norm.to(b["sum"].device),
                b["update_sum"],
                b["act_sum"].reshape(-1),
            ]
        ).tolist()  # the host sync
        n = n_layers + 1
        s, c, mx, mn = flat[0:n], flat[n : 2 * n], flat[2 * n : 3 * n], flat[3 * n : 4 * n]
        finite_steps = flat[4 * n]
        rest = flat[4 * n + 1 :]
        wn, upd, act = rest[:n_layers], rest[n_layers : 2 * n_layers], rest[2 * n_layers :]

        mean = [s[i] / c[i] if c[i] > 0 else math.nan for i in range(n)]
        record: dict[str, Any] = {
            "step": self._step,
            "window_steps": self._window_steps,
            "layers": list(self.layers),
            "numel": list(self._numel),
            "grad_norm": {
                "mean": [_num(x) for x in mean[:n_layers]],
                "max": [_num(x) for x in mx[:n_layers]],
                "min": [_num(x) for x in mn[:n_layers]],
            },
            "grad_rms": [_num(mean[i] / math.sqrt(self._numel[i])) for i in range(n_layers)],
            "weight_norm": [_num(x) for x in wn],
            "update_ratio": [_num(x / self._update_count) for x in upd] if self._update_count else None,
            "nonfinite_steps": self._window_steps - int(round(finite_steps)),
            "loss": (
                {"mean": _num(mean[-1]), "min": _num(mn[-1]), "max": _num(mx[-1])} if self._window_has_loss else None
            ),
            "activations": {},
        }
        if self._act_count:
            for j, name in enumerate(self.activations):
                row = act[j * n_fields : (j + 1) * n_fields]
                entry: dict[str, Any] = {"family": self._act_family[j]}
                entry.update({k: _num(x / self._act_count) for k, x in zip(ACTIVATION_FIELDS, row)})
                entry["output"] = self._act_output[j]
                record["activations"][name] = entry
        self._records.append(record)
        # Re-choose each layer's norm precision from this window's range.
        for i in range(n_layers):
            self._precise[i] = needs_precise(mn[i], mx[i], self._numel[i])
        self._reset_window()
        return record

