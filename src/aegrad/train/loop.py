"""The training loop: in-memory tensors, a seeded permutation per epoch, one screen of logic.

`fit(cfg, run_dir)` trains the model the config describes on its objective and
writes the run directory's data files (config, metrics, gradients, findings,
weights, state, summary). It reads top to bottom: `_setup` builds the run,
`_run_epoch` / `_optimizer_step` / `_end_epoch` train it, `_finish` scores and
diagnoses it. The loop never names a loss (train/objectives.py), never chooses a
step per batch (train/steps.py), and the monitor, clipper and NaN guard are hooks
after backward (train/hooks.py). Drawing (plots, HTML) is `aegrad.report`'s job.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from aegrad.config import Config, TrainConfig, dump_yaml
from aegrad.data import Dataset, load_dataset
from aegrad.diagnose import GradientMonitor, diagnose
from aegrad.diagnose.records import read_records
from aegrad.models import create_model
from aegrad.errors import UserError, excerpt
from aegrad.run import (
    CONFIG,
    FINDINGS,
    GRADIENTS,
    METRICS,
    STATE,
    SUMMARY,
    JsonlWriter,
    atomic_write_text,
    lock_run_dir,
    read_jsonl,
    remove_new_run_dir,
    unlock_run_dir,
    write_json,
)
from aegrad.train import distributed as dist
from aegrad.train.artifacts import write_reconstructions
from aegrad.train.callbacks import Callback
from aegrad.train.checkpoint import load_state, save_state, save_weights
from aegrad.train.clipping import Clipper
from aegrad.train.guard import NanGuard
from aegrad.train.hooks import ClipHook, GuardHook, MonitorHook, StepContext
from aegrad.objectives import Objective, create_objective
from aegrad.train.optim import create_optimizer, fused_adam_step, param_groups
from aegrad.data.noise import corrupt
from aegrad.train.penalties import weight_penalty
from aegrad.train.pretrain import pretrain_layerwise
from aegrad.train.schedules import Schedule, create_schedule
from aegrad.train.scoring import evaluate_terms, psnr, trivial_mse
from aegrad.train.steps import AutogradStep, StepOptions, create_step, terms_vector

log = logging.getLogger("aegrad")

# Below this many multiply-adds per training step (batch x parameters) one CPU thread is faster than
# several: the step is too small to split, and extra threads only spin. Measured on 2 cores: the seed's
# 100-32-100 net (4e5 per step) and digits-mlp (2e6) run faster on one thread; RT1 (1.4e8) on two.
SMALL_STEP_MACS = 10_000_000


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("train.device=cuda but no CUDA device is available; valid here: auto, cpu")
    return torch.device(name)


@dataclass
class _Progress:
    """What a checkpoint must carry besides weights and optimizer state."""

    epoch: int = 0  # completed epochs
    step: int = 0  # completed optimizer steps
    best_test: float = math.inf
    bad_epochs: int = 0  # epochs without improvement (early stopping)
    train_seconds: float = 0.0
    train_samples: int = 0


@dataclass
class _Sums:
    """Running sums of the objective's terms over steps (a device vector, ``loss`` first): no host sync."""

    total: Tensor | None = None
    steps: int = 0
    clipped: float | Tensor = 0.0  # steps whose gradients a clip changed

    def add(self, vec: Tensor, clipped: Tensor | None) -> None:
        self.total = vec if self.total is None else self.total + vec
        self.steps += 1
        if clipped is not None:
            self.clipped = self.clipped + clipped

    def state_dict(self) -> dict[str, Any]:
        return {"total": None if self.total is None else self.total.cpu(), "steps": self.steps,
                "clipped": float(self.clipped)}

    @classmethod
    def from_state(cls, state: dict[str, Any], device: torch.device) -> _Sums:
        total = state["total"]
        return cls(None if total is None else total.to(device), int(state["steps"]), float(state["clipped"]))

    def means(self, names: Sequence[str]) -> list[float]:
        """Each term's mean over the steps (the host sync happens here)."""
        if self.total is None:
            return [math.nan] * len(names)
        return (self.total / self.steps).tolist()


@dataclass
class _Fit:
    """Everything the epoch loop uses, built once by `_setup`."""

    cfg: Config
    run_dir: Path
    data: Dataset
    train_x: Tensor
    test_x: Tensor
    model: torch.nn.Module
    objective: Objective
    gen: torch.Generator  # shuffling and input noise; CPU so it is portable
    callbacks: Sequence[Callback]
    options: StepOptions
    metrics: JsonlWriter | None  # None off rank 0
    gradlog: JsonlWriter | None
    grad_records: list[dict[str, Any]]  # every gradients.jsonl record: the diagnosis reads them all
    wall0: float
    prog: _Progress = field(default_factory=_Progress)
    optimizer: torch.optim.Optimizer = None  # type: ignore[assignment]
    schedule: Schedule = None  # type: ignore[assignment]
    step: AutogradStep = None  # type: ignore[assignment]
    guard: NanGuard = None  # type: ignore[assignment]
    monitor: GradientMonitor | None = None
    params: list[Tensor] = field(default_factory=list)
    after_backward: list[Callback] = field(default_factory=list)
    before_update: list[Callback] = field(default_factory=list)
    clips: bool = False
    names: list[str] = field(default_factory=list)  # the objective's term names, "loss" first
    epoch_sums: _Sums = field(default_factory=_Sums)
    window: _Sums = field(default_factory=_Sums)  # since the last step record
    pen: dict[str, Tensor] = field(default_factory=dict)  # the last step's weight penalties
    resume_at: tuple[Tensor, int] | None = None  # a mid-epoch checkpoint's permutation and groups done
    last_ctx: StepContext | None = None  # the last step that updated the weights
    last_checkpoint: float = 0.0

    def emit(self, record: dict[str, Any]) -> None:
        if self.metrics is not None:
            self.metrics.write(record)
        for cb in self.callbacks:
            cb.on_log(record)


def fit(
    cfg: Config,
    run_dir: str | Path,
    *,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    options: StepOptions | None = None,
) -> dict:
    """Train per `cfg`, writing the run directory; returns the summary (also in summary.json).

    `train.threads` (or, when unset, one thread for steps too small to split) applies to this
    call only: PyTorch's thread count is restored when training ends. `options` switches
    the fast path's parts (all on by default; see train/steps.py).
    """
    previous_threads = torch.get_num_threads()
    try:
        f = _setup(cfg, Path(run_dir), resume, callbacks, options or StepOptions())
        stop = None
        while f.prog.epoch < cfg.train.epochs and stop is None:
            stop = _run_epoch(f) or _end_epoch(f)
        return _finish(f, stop or "completed")
    finally:
        torch.set_num_threads(previous_threads)


# ------------------------------------------------------------------------------------------------ set-up


def _setup(cfg: Config, run_dir: Path, resume: bool, callbacks: Sequence[Callback], options: StepOptions) -> _Fit:
    """Data, model, objective and (resuming) the checkpoint, all checked before the run directory is touched;
    then the run directory (locked: one writer), and after any pretraining the optimizer, step and hooks."""
    t = cfg.train
    device = dist.device_for_rank(resolve_device(t.device))
    rank0 = dist.is_rank0()
    existed = run_dir.exists()
    if rank0 and existed:
        lock_run_dir(run_dir)  # refused when another process trains into this folder
    had_config = (run_dir / CONFIG).exists()
    f: _Fit | None = None
    created = False
    try:
        f, state, after = _prepare(cfg, run_dir, resume, callbacks, options, device)
        if rank0:  # everything checked: now the folder is created (or changed)
            created = not run_dir.exists()
            _open_run_dir(f, resume, after, lock=not existed, had_config=had_config)
        if state is not None:
            f.grad_records = list(read_records(run_dir / GRADIENTS))
        if t.pretrain == "layerwise" and state is None:
            pretrain_layerwise(f.model, f.train_x, t, generator=f.gen, device=device, log=f.emit)
        if state is None:
            _build_training(f, device)
        f.guard.snapshot(f.model, f.optimizer)
    except BaseException:
        if rank0:
            _abandon(f, run_dir, created)
        raise
    for cb in callbacks:
        cb.on_fit_start(_steps_per_epoch(f) * t.epochs, f.prog.step)
    f.last_checkpoint = time.perf_counter()
    f.model.train()
    return f


def _prepare(
    cfg: Config, run_dir: Path, resume: bool, callbacks: Sequence[Callback], options: StepOptions, device: torch.device
) -> tuple[_Fit, dict[str, Any] | None, int | None]:
    """Everything that can fail on bad input, with nothing written: (the fit state, the checkpoint, its step).

    Resuming, the whole checkpoint is loaded and applied here. A run killed before its first checkpoint
    (config and logs, no state.pt) starts over: step -1 clears its logs, and the result is the uninterrupted run's.
    """
    torch.manual_seed(cfg.seed)
    wall0 = time.perf_counter()
    data = load_dataset(cfg.data, cfg.seed)
    _check_fits(cfg, data.sample_shape, device)
    model = create_model(cfg.model, data.sample_shape).to(device)
    objective = create_objective(cfg, model)
    _set_threads(cfg.train, model, device)
    f = _Fit(
        cfg, run_dir, data, data.train_x.to(device), data.test_x.to(device), model, objective,
        gen=torch.Generator().manual_seed(cfg.seed + 1), callbacks=callbacks, options=options,
        metrics=None, gradlog=None, grad_records=[], wall0=wall0,
    )
    if not resume:
        return f, None, None
    if not (run_dir / STATE).exists() and not (run_dir / SUMMARY).exists():
        return f, None, -1
    damaged = f"cannot resume {run_dir}: {STATE} is damaged or does not fit this config"
    try:
        state = load_state(run_dir)
        model.load_state_dict(state["model"])
        _build_training(f, device)
        _restore(f, state)
        return f, state, int(state["step"])
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - any damage to state.pt is the same bad input
        raise UserError(f"{damaged} ({excerpt(err) or type(err).__name__})") from None


# float32 weights, their gradients and an optimizer's two moments (Adam's): the bytes per parameter training holds
TRAIN_BYTES_PER_PARAM = 4 * 4


def _check_fits(cfg: Config, sample_shape: tuple[int, ...], device: torch.device) -> None:
    """Refuse a model whose training state cannot fit in the memory available now, before any of it is allocated.

    The model is built on the meta device (shapes only, no storage), so `model.widths=[1000000000]`
    is a one-line refusal instead of an allocation that fails, or that the kernel kills the process for.
    """
    with torch.device("meta"):
        meta = create_model(cfg.model, sample_shape)
    need = TRAIN_BYTES_PER_PARAM * sum(p.numel() for p in meta.parameters())
    free = _free_bytes(device)
    if free is not None and need > free:
        raise UserError(
            f"the model's training state needs ~{need / 2**30:.1f} GiB (float32 weights, gradients and optimizer "
            f"moments) but {free / 2**30:.1f} GiB is free on {device.type}; make model.widths / model.width / "
            "model.channels smaller"
        )


def _free_bytes(device: torch.device) -> int | None:
    """Memory free for a new allocation on `device` (MemAvailable on the CPU), or None when unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _open_run_dir(f: _Fit, resume: bool, after: int | None, *, lock: bool, had_config: bool) -> None:
    """Create (or reuse) and lock the run folder; write config.yaml; open the logs, cut back to step `after`.

    A mid-epoch checkpoint is taken before its epoch's record is written: a record of that epoch at the
    checkpoint's step comes from beyond the checkpoint and is dropped with the rest.
    """
    run_dir = f.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    if lock:
        lock_run_dir(run_dir)
        if (run_dir / CONFIG).exists() and not had_config:
            raise UserError(f"another process trained into {run_dir} meanwhile; pick another --out")
    if resume:
        for tmp in run_dir.glob(".*.tmp"):  # a write a kill interrupted (we hold the lock: none is live)
            tmp.unlink(missing_ok=True)
    atomic_write_text(run_dir / CONFIG, dump_yaml(f.cfg))
    mid_epoch = f.resume_at is not None
    f.metrics = JsonlWriter(run_dir / METRICS, truncate_after_step=after, drop_epoch_at_cut=mid_epoch)
    f.gradlog = JsonlWriter(run_dir / GRADIENTS, truncate_after_step=after)


def _abandon(f: _Fit | None, run_dir: Path, created: bool) -> None:
    """A set-up that failed: close what it opened, release the lock, remove the folder if it made it."""
    for writer in (f.metrics, f.gradlog) if f is not None else ():
        if writer is not None:
            writer.close()
    unlock_run_dir(run_dir)
    if created:
        remove_new_run_dir(run_dir)


def _set_threads(t: TrainConfig, model: torch.nn.Module, device: torch.device) -> None:
    if t.threads:
        torch.set_num_threads(t.threads)
    elif device.type == "cpu" and t.batch_size * sum(p.numel() for p in model.parameters()) < SMALL_STEP_MACS:
        torch.set_num_threads(1)


def _steps_per_epoch(f: _Fit) -> int:
    t = f.cfg.train
    per_rank = len(f.train_x) // dist.world_size()
    batches = per_rank // t.batch_size if t.drop_last else math.ceil(per_rank / t.batch_size)
    return math.ceil(batches / t.accumulate)


def _build_training(f: _Fit, device: torch.device) -> None:
    """The optimizer, schedule, step (chosen once here) and the hooks after backward."""
    cfg, t, model = f.cfg, f.cfg.train, f.model
    net = dist.wrap(model)
    f.optimizer = create_optimizer(param_groups(model, t), t)
    f.schedule = create_schedule(f.optimizer, t, total_steps=_steps_per_epoch(f) * t.epochs)
    f.guard = NanGuard(t.nan_patience, t.max_rollbacks)
    if cfg.monitor.enabled:
        f.monitor = GradientMonitor(model, sync_every=cfg.monitor.sync_every, activation_every=cfg.monitor.activation_every)
    f.params = [p for p in model.parameters() if p.requires_grad]
    clipper = Clipper.from_config(t)
    f.clips = clipper.clips
    # One float32 norm pass per step serves the monitor, the clipper's logged norm and the guard (with
    # no clip set): the dense step takes it while the gradients are in cache, else the monitor hook.
    share = not clipper.clips
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=t.precision == "bf16")
    noise, level, gen = t.noise, t.noise_level, f.gen

    def corrupt_input(x: Tensor) -> Tensor:
        return corrupt(x, noise, level, gen)

    autograd = AutogradStep(net, _maybe_compile(net, t.compile), f.objective, f.train_x, corrupt_input, amp)
    f.step = create_step(cfg, model, autograd, f.options, want_norms=share and not (t.l1 or t.l2))
    f.pen = weight_penalty(model, 0.0, 0.0)  # constant zeros, unless penalised
    monitor_hooks = [MonitorHook(f.monitor, f.params, share)] if f.monitor is not None else []
    f.after_backward = [*monitor_hooks, *f.callbacks]
    f.before_update = [ClipHook(clipper), GuardHook(f.guard, model, f.optimizer, f.schedule, f.emit), *f.callbacks]


def _restore(f: _Fit, state: dict[str, Any]) -> None:
    """Continue exactly where the checkpoint `state` left off."""
    f.optimizer.load_state_dict(state["optimizer"])
    f.schedule.load_state_dict(state["schedule"])
    f.guard.load_state_dict(state["guard"])
    torch.set_rng_state(state["torch_rng"])
    f.gen.set_state(state["gen_rng"])
    if f.monitor is not None and state.get("monitor") is not None:
        f.monitor.load_state_dict(state["monitor"])
    f.prog = _Progress(**state["progress"])
    if state.get("epoch_perm") is not None:  # a mid-epoch checkpoint (train.checkpoint_every)
        f.resume_at = (state["epoch_perm"], int(state.get("epoch_groups_done", 0)))
        sums = state.get("sums")
        if sums is not None:  # the epoch's and the log window's running sums: their records cover every step
            f.names = list(sums["names"])
            f.epoch_sums = _Sums.from_state(sums["epoch"], f.train_x.device)
            f.window = _Sums.from_state(sums["window"], f.train_x.device)


# ------------------------------------------------------------------------------------------------ training


def _micro_batches(perm: Tensor, batch: int, accumulate: int):
    """Yield groups of `accumulate` index tensors; the last group may be short."""
    idx = list(perm.split(batch))
    for i in range(0, len(idx), accumulate):
        yield idx[i : i + accumulate]


def _epoch_order(f: _Fit) -> tuple[Tensor, int]:
    """This epoch's sample order (this rank's share) and how many step groups are already done."""
    t = f.cfg.train
    if f.resume_at is not None:
        (perm, done), f.resume_at = f.resume_at, None
        return perm.to(f.train_x.device), done
    n = len(f.train_x)
    perm = torch.randperm(n, generator=f.gen) if t.shuffle else torch.arange(n)
    perm = dist.shard(perm)
    if t.drop_last:
        perm = perm[: len(perm) - len(perm) % t.batch_size]
    return perm.to(f.train_x.device), 0


def _run_epoch(f: _Fit) -> str | None:
    """One pass over the training split; the reason when the run must stop, else None."""
    t = f.cfg.train
    epoch_t0 = time.perf_counter()
    perm, done = _epoch_order(f)
    if not done:  # else resumed mid-epoch, with the sums the checkpoint carried
        f.epoch_sums, f.window = _Sums(), _Sums()
    stop = None
    for gi, group in enumerate(_micro_batches(perm, t.batch_size, t.accumulate)):
        if gi < done:
            continue  # done before the mid-epoch checkpoint this run resumed from
        ctx, vec = _optimizer_step(f, group)
        if ctx.stop is not None:
            stop = ctx.stop
            break
        if ctx.skip:
            continue
        _after_update(f, ctx, vec, (perm, gi + 1))
    if stop is not None and f.window.steps and f.last_ctx is not None:
        f.emit(_step_record(f, f.last_ctx))  # the partial window before the stop
    f.prog.train_seconds += time.perf_counter() - epoch_t0
    f.prog.train_samples += len(perm) * dist.world_size()
    return stop


def _optimizer_step(f: _Fit, group: list[Tensor]) -> tuple[StepContext, Tensor]:
    """Backward over the group's micro-batches, the hooks, and (unless a hook said no) the update."""
    for p in f.params:
        p.grad = None  # optimizer.zero_grad(set_to_none=True), without its per-call overhead
    f.objective.begin_step(f.prog.step)
    n = sum(len(i) for i in group)
    vec: Tensor | None = None
    for k, idx in enumerate(group):
        terms = f.step(idx, len(idx) / n, last=k == len(group) - 1)
        if len(group) == 1:
            vec = terms_vector(terms)
        else:
            part = terms_vector(terms) * (len(idx) / n)
            vec = part if vec is None else vec + part
    assert vec is not None
    if not f.names:
        f.names = list(terms)
    cfg = f.cfg.train
    if cfg.l1 or cfg.l2:
        f.pen = weight_penalty(f.model, cfg.l1, cfg.l2)
        (f.pen["l1"] + f.pen["l2"]).backward()
    sq = f.step.last_sq_norms
    ctx = StepContext(f.prog.step, f.prog.epoch, f.params, dict(zip(f.names, vec.unbind(0))),
                      grad_norms=None if sq is None else sq.sqrt())
    for hook in f.after_backward:
        hook.on_after_backward(ctx)
    for hook in f.before_update:
        hook.on_before_update(ctx)
    if ctx.stop is None and ctx.skip:
        f.optimizer.zero_grad(set_to_none=True)
    elif ctx.stop is None:
        if not (f.options.fused_adam and fused_adam_step(f.optimizer)):
            f.optimizer.step()
        f.schedule.step()
    return ctx, vec


def _after_update(f: _Fit, ctx: StepContext, vec: Tensor, position: tuple[Tensor, int]) -> None:
    """Count the step, log it when due, drain the monitor, checkpoint when due."""
    t, prog = f.cfg.train, f.prog
    prog.step += 1
    clipped = ctx.clipped if f.clips else None
    f.epoch_sums.add(vec, clipped)
    f.window.add(vec, None)
    f.last_ctx = ctx
    for cb in f.callbacks:
        cb.on_step_end(prog.step, prog.epoch)
    if prog.step % t.log_every == 0:
        f.emit(_step_record(f, ctx))
        f.window = _Sums()
    if f.monitor is not None:
        _drain(f)
    if t.checkpoint_every and prog.step % t.checkpoint_every == 0 and dist.is_rank0():
        _checkpoint(f, position)


def _end_epoch(f: _Fit) -> str | None:
    """Evaluate, log the epoch, snapshot, checkpoint when due; the reason when the run stops early."""
    t, prog = f.cfg.train, f.prog
    prog.epoch += 1
    test = evaluate_terms(f.model, f.test_x, f.objective)
    test_loss = test.get("loss", test["mse"])
    f.schedule.epoch_end(test_loss)
    record = _epoch_record(f, test)
    f.emit(record)
    for cb in f.callbacks:
        cb.on_epoch_end(record)
    if math.isfinite(test_loss):
        f.guard.snapshot(f.model, f.optimizer)
    if test_loss < prog.best_test - 1e-12:
        prog.best_test, prog.bad_epochs = test_loss, 0
    else:
        prog.bad_epochs += 1
    stop_early = t.patience is not None and prog.bad_epochs >= t.patience
    # Short epochs are not each worth a checkpoint (~5 ms apiece for the seed's 50 epochs of 0.02 s).
    due = prog.epoch >= t.epochs or stop_early or time.perf_counter() - f.last_checkpoint >= t.checkpoint_interval_s
    if dist.is_rank0() and due:
        _checkpoint(f)
        f.last_checkpoint = time.perf_counter()
    return f"early stopping: no test improvement for {t.patience} epochs" if stop_early else None


# ------------------------------------------------------------------------------------------------ records


def _named(names: Sequence[str], values: Sequence[float], prefix: str, skip: str = "loss") -> dict[str, float]:
    return {f"{prefix}{k}": v for k, v in zip(names, values) if k != skip}


def _step_record(f: _Fit, ctx: StepContext) -> dict[str, Any]:
    """A metrics.jsonl step line: the window's mean terms (the host sync of this window happens here)."""
    means = f.window.means(f.names)
    rec: dict[str, Any] = {
        "kind": "step",
        "epoch": f.prog.epoch,
        "step": f.prog.step,
        "loss": means[0],
        **_named(f.names, means, ""),
        "lr": f.optimizer.param_groups[0]["lr"],
        "grad_norm": float(ctx.grad_norm),
        "clipped": float(ctx.clipped),
        "skipped_steps": f.guard.skipped,
    }
    for k, v in f.pen.items():
        rec[k] = float(v.detach())
    return rec


def _epoch_record(f: _Fit, test: dict[str, float]) -> dict[str, Any]:
    sums = f.epoch_sums
    train = [float(v) / max(1, sums.steps) for v in sums.total.tolist()] if sums.total is not None else []
    return {
        "kind": "epoch",
        "epoch": f.prog.epoch,
        "step": f.prog.step,
        "train_loss": train[0] if train else 0.0,
        **_named(f.names, train, "train_"),
        "test_mse": test["mse"],
        **{f"test_{k}": v for k, v in test.items() if k != "mse"},
        "lr": f.optimizer.param_groups[0]["lr"],
        "clip_fraction": float(sums.clipped) / max(1, sums.steps),
        "skipped_steps": f.guard.skipped,
        "rollbacks": f.guard.rollbacks,
        "wall_s": time.perf_counter() - f.wall0,
    }


def _checkpoint(f: _Fit, epoch_pos: tuple[Tensor, int] | None = None) -> None:
    """Weights and resume state; `epoch_pos` = (this epoch's permutation, groups done) when mid-epoch."""
    save_weights(f.run_dir, f.model, f.cfg.model, f.data.sample_shape, f.data.normalizer)
    save_state(
        f.run_dir,
        {
            "model": f.model.state_dict(),
            "optimizer": f.optimizer.state_dict(),
            "schedule": f.schedule.state_dict(),
            "guard": f.guard.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "gen_rng": f.gen.get_state(),
            "monitor": f.monitor.state_dict() if f.monitor is not None else None,
            "progress": f.prog.__dict__.copy(),
            "step": f.prog.step,
            "epoch_perm": epoch_pos[0].cpu() if epoch_pos else None,
            "epoch_groups_done": epoch_pos[1] if epoch_pos else 0,
            "sums": (
                {"names": list(f.names), "epoch": f.epoch_sums.state_dict(), "window": f.window.state_dict()}
                if epoch_pos
                else None
            ),
        },
    )


def _drain(f: _Fit) -> None:
    """Move the monitor's synced window records to gradients.jsonl and the in-memory history."""
    for r in f.monitor.drain():
        f.grad_records.append(r)
        if f.gradlog is not None:
            f.gradlog.write(r)


# ------------------------------------------------------------------------------------------------ finish


def _finish(f: _Fit, stop_reason: str) -> dict:
    """Evaluate, diagnose, and write weights, findings, reconstructions and summary (rank 0)."""
    data, prog = f.data, f.prog
    test = evaluate_terms(f.model, f.test_x, f.objective)
    base = trivial_mse(data)
    findings: dict[str, Any] = {"healthy": True, "findings": []}
    if f.metrics is not None:
        f.metrics.close()  # the detectors that read the logged terms (posterior collapse, ...) read it whole
    if f.monitor is not None:
        f.monitor.flush()
        _drain(f)
        metrics = read_jsonl(f.run_dir / METRICS) if f.metrics is not None else None
        findings = diagnose(f.grad_records, metrics=metrics, trivial_mse=base, test_mse=test["mse"], config=f.cfg.to_dict())
        f.monitor.close()
    summary = {
        "test_mse": test["mse"],
        "trivial_mse": base,
        "test_over_trivial": test["mse"] / base if base > 0 else None,
        "psnr": psnr(test["mse"], data),
        **{f"test_{k}": v for k, v in test.items() if k != "mse"},
        "epochs": prog.epoch,
        "steps": prog.step,
        "samples_per_s": prog.train_samples / prog.train_seconds if prog.train_seconds > 0 else None,
        "train_s": prog.train_seconds,
        "wall_s": time.perf_counter() - f.wall0,
        "findings": len(findings["findings"]),
        "healthy": findings["healthy"],
        "skipped_steps": f.guard.skipped,
        "rollbacks": f.guard.rollbacks,
        "stop_reason": stop_reason,
        "train_samples": len(data.train_x),
        "test_samples": len(data.test_x),
    }
    if dist.is_rank0():
        save_weights(f.run_dir, f.model, f.cfg.model, data.sample_shape, data.normalizer)
        write_reconstructions(f.run_dir, f.model, data)
        write_json(f.run_dir / FINDINGS, findings)
        write_json(f.run_dir / SUMMARY, summary)
    if f.gradlog is not None:
        f.gradlog.close()
    for cb in f.callbacks:
        cb.on_fit_end(summary)
    if dist.is_rank0():
        unlock_run_dir(f.run_dir)  # the folder's writer lock, taken in _setup
    return summary


def _maybe_compile(net: torch.nn.Module, enabled: bool):
    """torch.compile the model, falling back to eager with one warning if compilation fails."""
    if not enabled:
        return net
    # The monitor adds forward hooks on sampled steps only; without this dynamo would ignore them.
    torch._dynamo.config.skip_nnmodule_hook_guards = False
    compiled = torch.compile(net)
    state = {"fn": compiled}

    def call(x):
        try:
            return state["fn"](x)
        except Exception as err:  # noqa: BLE001 - any compiler failure falls back to eager
            if state["fn"] is net:
                raise
            log.warning("torch.compile failed (%s); training in eager mode", str(err).splitlines()[0][:200])
            state["fn"] = net
            return net(x)

    return call
