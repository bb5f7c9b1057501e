"""The training loop: in-memory tensors, a seeded permutation per epoch, one screen of logic.

`fit(cfg, run_dir)` trains the autoencoder the config describes and writes the
run directory's data files (config, metrics, gradients, findings, weights,
state, summary). Drawing (plots, HTML) is `aegrad.report`'s job.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from aegrad.config import Config, dump_yaml
from aegrad.data import Dataset, load_dataset
from aegrad.diagnose import GradientMonitor, diagnose
from aegrad.models import create_model
from aegrad.run import (
    CONFIG,
    FINDINGS,
    GRADIENTS,
    METRICS,
    SUMMARY,
    JsonlWriter,
    atomic_write_text,
    read_jsonl,
    write_json,
)
from aegrad.train import distributed as dist
from aegrad.train.callbacks import Callback
from aegrad.train.checkpoint import load_state, save_state, save_weights
from aegrad.train.clipping import Clipper
from aegrad.train.dense import DenseStep
from aegrad.train.guard import NanGuard
from aegrad.train.optim import create_optimizer, fused_adam_step, param_groups
from aegrad.train.penalties import corrupt, latent_l1, weight_penalty
from aegrad.train.pretrain import pretrain_layerwise
from aegrad.train.schedules import create_schedule

log = logging.getLogger("aegrad")

EVAL_BATCH = 2048  # evaluation batch: large, since no graph is kept


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from aegrad.errors import UserError

        raise UserError("train.device=cuda but no CUDA device is available; valid here: auto, cpu")
    return torch.device(name)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Mean squared reconstruction error over `x` (model space), in eval mode."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for i in range(0, len(x), EVAL_BATCH):
        xb = x[i : i + EVAL_BATCH]
        total += F.mse_loss(model(xb)["x_hat"].float(), xb, reduction="sum").double()
    model.train(was_training)
    return float(total) / max(1, x.numel())


def trivial_mse(data: Dataset) -> float:
    """Test MSE of predicting the per-feature training mean: the bar any model must beat."""
    mean = data.train_x.mean(dim=0, keepdim=True)
    return float(((data.test_x - mean) ** 2).mean())


def psnr(mse: float, data: Dataset) -> float | None:
    """Peak signal-to-noise ratio in dB for image data, peak = the training data's range."""
    if not data.is_image or not 0 < mse < math.inf:
        return None
    peak = float(data.train_x.max() - data.train_x.min())
    return 10.0 * math.log10(peak * peak / mse)


@dataclass
class _Progress:
    """What a checkpoint must carry besides weights and optimizer state."""

    epoch: int = 0  # completed epochs
    step: int = 0  # completed optimizer steps
    best_test: float = math.inf
    bad_epochs: int = 0  # epochs without improvement (early stopping)
    train_seconds: float = 0.0
    train_samples: int = 0


def _micro_batches(perm: torch.Tensor, batch: int, accumulate: int):
    """Yield groups of `accumulate` index tensors; the last group may be short."""
    idx = list(perm.split(batch))
    for i in range(0, len(idx), accumulate):
        yield idx[i : i + accumulate]


# Below this many multiply-adds per training step (batch x parameters) one CPU thread is faster than
# several: the step is too small to split, and extra threads only spin. Measured on 2 cores: the seed's
# 100-32-100 net (4e5 per step) and digits-mlp (2e6) run faster on one thread; RT1 (1.4e8) on two.
SMALL_STEP_MACS = 10_000_000


def fit(cfg: Config, run_dir: str | Path, *, resume: bool = False, callbacks: Sequence[Callback] = ()) -> dict:
    """Train per `cfg`, writing the run directory; returns the summary (also in summary.json).

    `train.threads` (or, when unset, one thread for steps too small to split) applies to this
    call only: PyTorch's thread count is restored when training ends.
    """
    previous_threads = torch.get_num_threads()
    try:
        return _fit(cfg, Path(run_dir), resume, callbacks)
    finally:
        torch.set_num_threads(previous_threads)


def _fit(cfg: Config, run_dir: Path, resume: bool, callbacks: Sequence[Callback]) -> dict:
    t = cfg.train
    rank0 = dist.is_rank0()
    device = dist.device_for_rank(resolve_device(t.device))
    torch.manual_seed(cfg.seed)
    wall0 = time.perf_counter()

    data = load_dataset(cfg.data, cfg.seed)
    train_x, test_x = data.train_x.to(device), data.test_x.to(device)
    model = create_model(cfg.model, data.sample_shape).to(device)
    if t.threads:
        torch.set_num_threads(t.threads)
    elif device.type == "cpu" and t.batch_size * sum(p.numel() for p in model.parameters()) < SMALL_STEP_MACS:
        torch.set_num_threads(1)
    if rank0:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / CONFIG, dump_yaml(cfg))

    prog = _Progress()
    state = load_state(run_dir) if resume else None
    if state is not None:
        model.load_state_dict(state["model"])
    metrics = JsonlWriter(run_dir / METRICS, truncate_after_step=state["step"] if state else None) if rank0 else None
    gradlog = JsonlWriter(run_dir / GRADIENTS, truncate_after_step=state["step"] if state else None) if rank0 else None
    grad_records = read_jsonl(run_dir / GRADIENTS) if state is not None else []  # the diagnosis reads them all

    def emit(record: dict[str, Any]) -> None:
        if metrics is not None:
            metrics.write(record)
        for cb in callbacks:
            cb.on_log(record)

    gen = torch.Generator().manual_seed(cfg.seed + 1)  # shuffling and input noise; CPU so it is portable
    if t.pretrain == "layerwise" and state is None:
        pretrain_layerwise(model, train_x, t, generator=gen, device=device, log=emit)

    net = dist.wrap(model)
    fwd = _maybe_compile(net, t.compile)
    optimizer = create_optimizer(param_groups(model, t), t)
    steps_per_epoch = math.ceil(math.ceil(len(train_x) / dist.world_size() / t.batch_size) / t.accumulate)
    schedule = create_schedule(optimizer, t, total_steps=steps_per_epoch * t.epochs)
    clipper = Clipper.from_config(t)
    guard = NanGuard(t.nan_patience, t.max_rollbacks)
    monitor = (
        GradientMonitor(model, sync_every=cfg.monitor.sync_every, activation_every=cfg.monitor.activation_every)
        if cfg.monitor.enabled
        else None
    )
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        guard.load_state_dict(state["guard"])
        torch.set_rng_state(state["torch_rng"])
        gen.set_state(state["gen_rng"])
        if monitor is not None and state.get("monitor") is not None:
            monitor.load_state_dict(state["monitor"])
        prog = _Progress(**state["progress"])
        # A mid-epoch checkpoint (train.checkpoint_every) carries the epoch's permutation and position.
        resume_perm, resume_groups = state.get("epoch_perm"), int(state.get("epoch_groups_done", 0))
    else:
        resume_perm, resume_groups = None, 0
    guard.snapshot(model, optimizer)
    params = [p for p in model.parameters() if p.requires_grad]
    # Plain dense models on the CPU skip autograd (see train/dense.py); hooked steps still use it.
    dense = DenseStep.of(model, cfg, dist.world_size()) if device.type == "cpu" else None
    penalised = bool(t.l1 or t.l2)
    # One float32 norm pass per step serves the monitor, the clipper's logged norm and the guard
    # (with no clip set): the dense step takes it while the gradients are in cache, else one
    # foreach pass when the monitor wants it too.
    position = {id(p): i for i, p in enumerate(params)}
    weight_pos = [position.get(id(w)) for w in monitor.weights] if monitor is not None else []
    monitor_idx = torch.tensor(weight_pos, dtype=torch.long, device=device) if None not in weight_pos else None
    share_norms = not clipper.clips and (monitor is None or monitor_idx is not None)
    dense_norms = share_norms and not penalised and dense is not None
    pen = weight_penalty(model, 0.0, 0.0)  # constant zeros, unless penalised
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=t.precision == "bf16")
    for cb in callbacks:
        cb.on_fit_start(steps_per_epoch * t.epochs, prog.step)

    stop_reason = "completed"
    last_checkpoint = time.perf_counter()
    model.train()
    while prog.epoch < t.epochs and stop_reason == "completed":
        epoch_t0 = time.perf_counter()
        if resume_perm is not None:
            perm, skip_groups, resume_perm = resume_perm.to(device), resume_groups, None
        else:
            perm, skip_groups = dist.shard(torch.randperm(len(train_x), generator=gen)).to(device), 0
        loss_sum = torch.zeros((), device=device)
        log_sum = torch.zeros((), device=device)
        log_n, epoch_steps, clip_fired = 0, 0, torch.zeros((), device=device)
        for gi, group in enumerate(_micro_batches(perm, t.batch_size, t.accumulate)):
            if gi < skip_groups:
                continue  # done before the mid-epoch checkpoint this run resumed from
            n_group = sum(len(i) for i in group)
            for param in params:
                param.grad = None  # optimizer.zero_grad(set_to_none=True), without its per-call overhead
            loss_total = None
            tnorms = None  # float32 norms of every parameter's gradient, when shared (see above)
            for k, idx in enumerate(group):
                share = len(idx) / n_group
                if dense is not None and not dense.hooked():
                    x = dense.gather(train_x, idx)
                    norms = dense_norms and k == len(group) - 1 and len(dense.sq_norms) == len(params)
                    rec = dense.loss_and_grads(corrupt(x, t.noise, t.noise_level, gen), x, share, norms)
                    if norms:
                        tnorms = dense.sq_norms.sqrt()
                else:
                    x = train_x[idx]
                    with dist.no_sync(net, last=k == len(group) - 1), amp:
                        out = fwd(corrupt(x, t.noise, t.noise_level, gen))
                        rec = F.mse_loss(out["x_hat"].float(), x)
                        loss = rec + latent_l1(out["z"].float(), t.latent_l1)
                        (loss * share).backward()
                if len(group) == 1:
                    loss_total = rec.detach()  # == 0 + rec * 1.0, without the two ops
                else:
                    part = rec.detach() * share
                    loss_total = part if loss_total is None else loss_total + part
            assert loss_total is not None
            if penalised:
                pen = weight_penalty(model, t.l1, t.l2)
                (pen["l1"] + pen["l2"]).backward()
            if tnorms is None and monitor is not None and share_norms and all(p.grad is not None for p in params):
                tnorms = torch.stack(torch._foreach_norm([p.grad for p in params], 2))
            if monitor is not None:
                monitor.step(loss_total, None if tnorms is None else tnorms[monitor_idx])
            clip = clipper(params, tnorms)
            # one read of two scalars: free on CPU, a sync on CUDA
            loss_value, norm_value = torch.stack((loss_total.float(), clip["grad_norm"])).tolist()
            verdict = guard.record(math.isfinite(loss_value) and math.isfinite(norm_value))
            if verdict != "ok":
                if verdict == "rollback":
                    if not guard.rollback(model, optimizer):
                        stop_reason = f"stopped: non-finite loss or gradients persisted after {guard.rollbacks} rollbacks"
                        break
                    schedule.scale(0.5)  # the halving lives in the schedule's state, so it survives resume
                optimizer.zero_grad(set_to_none=True)
                continue
            if not fused_adam_step(optimizer):
                optimizer.step()
            schedule.step()
            prog.step += 1
            epoch_steps += 1
            loss_sum += loss_total
            log_sum += loss_total
            if clipper.clips:
                clip_fired += clip["clipped"]
            log_n += 1
            for cb in callbacks:
                cb.on_step_end(prog.step, prog.epoch)
            if prog.step % t.log_every == 0:
                emit(_step_record(prog, log_sum / log_n, optimizer, clip, pen, guard))
                log_sum, log_n = torch.zeros((), device=device), 0
            if monitor is not None:
                _drain(monitor, gradlog, grad_records)
            if t.checkpoint_every and prog.step % t.checkpoint_every == 0 and rank0:
                _checkpoint(run_dir, cfg, data, model, optimizer, schedule, guard, gen, monitor, prog, (perm, gi + 1))
        prog.train_seconds += time.perf_counter() - epoch_t0
        prog.train_samples += sum(len(i) for i in perm.split(t.batch_size)) * dist.world_size()
        if stop_reason != "completed":
            break
        prog.epoch += 1
        test_mse = evaluate(model, test_x)
        schedule.epoch_end(test_mse)
        record = {
            "kind": "epoch",
            "epoch": prog.epoch,
            "step": prog.step,
            "train_loss": float(loss_sum) / max(1, epoch_steps),
            "test_mse": test_mse,
            "lr": optimizer.param_groups[0]["lr"],
            "clip_fraction": float(clip_fired) / max(1, epoch_steps),
            "skipped_steps": guard.skipped,
            "rollbacks": guard.rollbacks,
            "wall_s": time.perf_counter() - wall0,
        }
        emit(record)
        for cb in callbacks:
            cb.on_epoch_end(record)
        if math.isfinite(test_mse):
            guard.snapshot(model, optimizer)
        if test_mse < prog.best_test - 1e-12:
            prog.best_test, prog.bad_epochs = test_mse, 0
        else:
            prog.bad_epochs += 1
        stop_early = t.patience is not None and prog.bad_epochs >= t.patience
        # Short epochs are not each worth a checkpoint (~5 ms apiece for the seed's 50 epochs of 0.02 s).
        due = prog.epoch >= t.epochs or stop_early or time.perf_counter() - last_checkpoint >= t.checkpoint_interval_s
        if rank0 and due:
            _checkpoint(run_dir, cfg, data, model, optimizer, schedule, guard, gen, monitor, prog)
            last_checkpoint = time.perf_counter()
        if stop_early:
            stop_reason = f"early stopping: no test improvement for {t.patience} epochs"

    summary = _finish(run_dir, cfg, data, model, monitor, gradlog, grad_records, prog, guard, stop_reason, test_x, wall0)
    for w in (metrics, gradlog):
        if w is not None:
            w.close()
    for cb in callbacks:
        cb.on_fit_end(summary)
    return summary


def _step_record(prog, loss, optimizer, clip, pen, guard) -> dict[str, Any]:
    """A metrics.jsonl step line (the host sync of this window happens here)."""
    rec = {
        "kind": "step",
        "epoch": prog.epoch,
        "step": prog.step,
        "loss": float(loss),
        "lr": optimizer.param_groups[0]["lr"],
        "grad_norm": float(clip["grad_norm"]),
        "clipped": float(clip["clipped"]),
        "skipped_steps": guard.skipped,
    }
    for k, v in pen.items():
        rec[k] = float(v.detach())
    return rec


def _checkpoint(run_dir, cfg, data, model, optimizer, schedule, guard, gen, monitor, prog, epoch_pos=None) -> None:
    """Weights and resume state; `epoch_pos` = (this epoch's permutation, groups done) when mid-epoch."""
    save_weights(run_dir, model, cfg.model, data.sample_shape, data.normalizer)
    save_state(
        run_dir,
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "guard": guard.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "gen_rng": gen.get_state(),
            "monitor": monitor.state_dict() if monitor is not None else None,
            "progress": prog.__dict__.copy(),
            "step": prog.step,
            "epoch_perm": epoch_pos[0].cpu() if epoch_pos else None,
            "epoch_groups_done": epoch_pos[1] if epoch_pos else 0,
        },
    )


def _drain(monitor, gradlog, grad_records: list) -> None:
    """Move the monitor's synced window records to gradients.jsonl and the in-memory history."""
    for r in monitor.drain():
        grad_records.append(r)
        if gradlog is not None:
            gradlog.write(r)


def _finish(run_dir, cfg, data, model, monitor, gradlog, grad_records, prog, guard, stop_reason, test_x, wall0) -> dict:
    """Evaluate, diagnose, and write weights, findings and summary (rank 0)."""
    test_mse = evaluate(model, test_x)
    base = trivial_mse(data)
    findings = {"healthy": True, "findings": []}
    if monitor is not None:
        monitor.flush()
        _drain(monitor, gradlog, grad_records)
        findings = diagnose(
            grad_records,
            metrics=None,
            trivial_mse=base,
            test_mse=test_mse,
            config=cfg.to_dict(),
        )
        monitor.close()
    summary = {
        "test_mse": test_mse,
        "trivial_mse": base,
        "test_over_trivial": test_mse / base if base > 0 else None,
        "psnr": psnr(test_mse, data),
        "epochs": prog.epoch,
        "steps": prog.step,
        "samples_per_s": prog.train_samples / prog.train_seconds if prog.train_seconds > 0 else None,
        "train_s": prog.train_seconds,
        "wall_s": time.perf_counter() - wall0,
        "findings": len(findings["findings"]),
        "healthy": findings["healthy"],
        "skipped_steps": guard.skipped,
        "rollbacks": guard.rollbacks,
        "stop_reason": stop_reason,
        "train_samples": len(data.train_x),
        "test_samples": len(data.test_x),
    }
    if dist.is_rank0():
        save_weights(run_dir, model, cfg.model, data.sample_shape, data.normalizer)
        write_json(run_dir / FINDINGS, findings)
        write_json(run_dir / SUMMARY, summary)
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
