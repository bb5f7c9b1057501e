"""The training loop: in-memory tensors, a seeded permutation per epoch, one screen of logic.

`fit(cfg, run_dir)` trains the model the config describes on its objective and writes the run
directory's data files (config, metrics, gradients, findings, weights, state, summary). It reads
top to bottom: `_start` builds the run (train/setup.py) in its folder (train/rundir.py),
`_run_epoch` / `_optimizer_step` / `_end_epoch` train it, `_finish` scores and diagnoses it.
What training changes is a `TrainState` (train/state.py), which a checkpoint carries. The loop
never names a loss (aegrad.objectives), never chooses a step per batch (train/steps.py), and the
monitor, clipper and NaN guard are hooks after backward (train/hooks.py). Drawing (plots, HTML)
is `aegrad.report`'s job.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from aegrad.config import Config
from aegrad.diagnose import diagnose
from aegrad.diagnose.records import read_records
from aegrad.run import FINDINGS, GRADIENTS, METRICS, SUMMARY, read_jsonl, write_json
from aegrad.train import distributed as dist
from aegrad.train.artifacts import write_reconstructions
from aegrad.train.callbacks import Callback, StepContext
from aegrad.train.checkpoint import save_state, save_weights
from aegrad.train.cursor import Cursor, epoch_order, micro_batches, steps_per_epoch
from aegrad.train.device import resolve_device
from aegrad.train.optim import fused_adam_step
from aegrad.train.penalties import weight_penalty
from aegrad.train.pretrain import pretrain_layerwise
from aegrad.train.records import epoch_record, step_record, summary_record
from aegrad.train.rundir import RunFolder
from aegrad.train.scoring import evaluate_terms, trivial_mse
from aegrad.train.setup import RunSpec, Training, build_training, prepare
from aegrad.train.state import Sums, TrainState, checkpoint_state
from aegrad.train.steps import StepOptions, terms_vector


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
        device = dist.device_for_rank(resolve_device(cfg.train.device))
        with RunFolder(Path(run_dir), writer=dist.is_rank0()) as folder:  # the writer lock, held to the end
            st, run, tr = _start(cfg, folder, resume, callbacks, options or StepOptions(), device)
            stop = None
            while st.prog.epoch < cfg.train.epochs and stop is None:
                stop = _run_epoch(st, run, tr) or _end_epoch(st, run, tr)
            return _finish(st, run, tr, stop or "completed")
    finally:
        torch.set_num_threads(previous_threads)


def _start(
    cfg: Config, folder: RunFolder, resume: bool, callbacks: Sequence[Callback], options: StepOptions,
    device: torch.device,
) -> tuple[TrainState, RunSpec, Training]:
    """The run and (resuming) the checkpoint, all checked before the folder is touched; then the folder,
    and after any pretraining the optimizer, step and hooks."""
    run, resumed, after = prepare(cfg, folder, resume, callbacks, options, device)
    folder.open(cfg, resume=resume, after=after, mid_epoch=resumed is not None and resumed[1].resume_at is not None)
    if resumed is not None:
        tr, st = resumed
        st.grad_records = list(read_records(folder.path / GRADIENTS))
    else:
        if cfg.train.pretrain == "layerwise":
            pretrain_layerwise(run.model, run.train_x, cfg.train, generator=run.gen, device=device, log=run.emit)
        tr, st = build_training(run), TrainState()
    st.pen = weight_penalty(run.model, 0.0, 0.0)  # constant zeros, unless penalised
    tr.guard.snapshot(run.model, tr.optimizer)
    folder.started()
    for cb in callbacks:
        cb.on_fit_start(steps_per_epoch(cfg.train, len(run.train_x)) * cfg.train.epochs, st.prog.step)
    st.last_checkpoint = time.perf_counter()
    run.model.train()
    return st, run, tr


# ------------------------------------------------------------------------------------------------ training


def _run_epoch(st: TrainState, run: RunSpec, tr: Training) -> str | None:
    """One pass over the training split; the reason when the run must stop, else None."""
    t = run.cfg.train
    epoch_t0 = time.perf_counter()
    if st.resume_at is not None:  # resumed mid-epoch, with the sums the checkpoint carried
        cur, st.resume_at = st.resume_at, None
    else:
        cur = epoch_order(t, len(run.train_x), run.gen, run.train_x.device)
    if not cur.done:
        st.epoch_sums, st.window = Sums(), Sums()
    stop = None
    for gi, group in enumerate(micro_batches(cur.perm, t.batch_size, t.accumulate)):
        if gi < cur.done:
            continue  # done before the mid-epoch checkpoint this run resumed from
        ctx, vec = _optimizer_step(st, run, tr, group)
        if ctx.stop is not None:
            stop = ctx.stop
            break
        if ctx.skip:
            continue
        _after_update(st, run, tr, ctx, vec)
        if t.checkpoint_every and st.prog.step % t.checkpoint_every == 0 and dist.is_rank0():
            _checkpoint(st, run, tr, Cursor(cur.perm, gi + 1))
    if stop is not None and st.window.steps and st.last_ctx is not None:
        run.emit(step_record(st, st.last_ctx, tr.optimizer, tr.guard))  # the partial window before the stop
    st.prog.train_seconds += time.perf_counter() - epoch_t0
    st.prog.train_samples += len(cur.perm) * dist.world_size()
    return stop


def _optimizer_step(st: TrainState, run: RunSpec, tr: Training, group: list[Tensor]) -> tuple[StepContext, Tensor]:
    """Backward over the group's micro-batches, the hooks, and (unless a hook said no) the update."""
    for p in tr.params:
        p.grad = None  # optimizer.zero_grad(set_to_none=True), without its per-call overhead
    run.objective.begin_step(st.prog.step)
    n = sum(len(i) for i in group)
    vec: Tensor | None = None
    for k, idx in enumerate(group):
        terms = tr.step(idx, len(idx) / n, last=k == len(group) - 1)
        if len(group) == 1:
            vec = terms_vector(terms)
        else:
            part = terms_vector(terms) * (len(idx) / n)
            vec = part if vec is None else vec + part
    assert vec is not None
    if not st.names:
        st.names = list(terms)
    t = run.cfg.train
    if t.l1 or t.l2:
        st.pen = weight_penalty(run.model, t.l1, t.l2)
        (st.pen["l1"] + st.pen["l2"]).backward()
    sq = tr.step.last_sq_norms
    ctx = StepContext(st.prog.step, st.prog.epoch, tr.params, dict(zip(st.names, vec.unbind(0))),
                      grad_norms=None if sq is None else sq.sqrt())
    for hook in tr.after_backward:
        hook.on_after_backward(ctx)
    for hook in tr.before_update:
        hook.on_before_update(ctx)
    if ctx.stop is None and ctx.skip:
        tr.optimizer.zero_grad(set_to_none=True)
    elif ctx.stop is None:
        if not (run.options.fused_adam and fused_adam_step(tr.optimizer)):
            tr.optimizer.step()
        tr.schedule.step()
    return ctx, vec


def _after_update(st: TrainState, run: RunSpec, tr: Training, ctx: StepContext, vec: Tensor) -> None:
    """Count the step, log it when due, drain the monitor."""
    prog = st.prog
    prog.step += 1
    st.epoch_sums.add(vec, ctx.clipped if tr.clips else None)
    st.window.add(vec, None)
    st.last_ctx = ctx
    for cb in run.callbacks:
        cb.on_step_end(prog.step, prog.epoch)
    if prog.step % run.cfg.train.log_every == 0:
        run.emit(step_record(st, ctx, tr.optimizer, tr.guard))
        st.window = Sums()
    if tr.monitor is not None:
        _drain(st, run, tr)


def _end_epoch(st: TrainState, run: RunSpec, tr: Training) -> str | None:
    """Evaluate, log the epoch, snapshot, checkpoint when due; the reason when the run stops early."""
    t, prog = run.cfg.train, st.prog
    prog.epoch += 1
    test = evaluate_terms(run.model, run.test_x, run.objective, run.callbacks)
    test_loss = test.get("loss", test["mse"])
    tr.schedule.epoch_end(test_loss)
    record = epoch_record(st, test, tr.optimizer, tr.guard, run.wall0)
    run.emit(record)
    for cb in run.callbacks:
        cb.on_epoch_end(record)
    if math.isfinite(test_loss):
        tr.guard.snapshot(run.model, tr.optimizer)
    if test_loss < prog.best_test - 1e-12:
        prog.best_test, prog.bad_epochs = test_loss, 0
    else:
        prog.bad_epochs += 1
    stop_early = t.patience is not None and prog.bad_epochs >= t.patience
    # Short epochs are not each worth a checkpoint (~5 ms apiece for the seed's 50 epochs of 0.02 s).
    due = prog.epoch >= t.epochs or stop_early or time.perf_counter() - st.last_checkpoint >= t.checkpoint_interval_s
    if dist.is_rank0() and due:
        _checkpoint(st, run, tr)
        st.last_checkpoint = time.perf_counter()
    return f"early stopping: no test improvement for {t.patience} epochs" if stop_early else None


def _checkpoint(st: TrainState, run: RunSpec, tr: Training, cursor: Cursor | None = None) -> None:
    """Weights and resume state; `cursor` = the epoch's position when mid-epoch."""
    save_weights(run.run_dir, run.model, run.cfg.model, run.data.sample_shape, run.data.normalizer)
    save_state(run.run_dir, checkpoint_state(st, model=run.model, optimizer=tr.optimizer, schedule=tr.schedule,
                                             guard=tr.guard, monitor=tr.monitor, gen=run.gen, cursor=cursor))


def _drain(st: TrainState, run: RunSpec, tr: Training) -> None:
    """Move the monitor's synced window records to gradients.jsonl and the in-memory history."""
    gradlog = run.folder.gradlog
    for r in tr.monitor.drain():
        st.grad_records.append(r)
        if gradlog is not None:
            gradlog.write(r)


# ------------------------------------------------------------------------------------------------ finish


def _finish(st: TrainState, run: RunSpec, tr: Training, stop_reason: str) -> dict:
    """Evaluate, diagnose, and write weights, findings, reconstructions and summary (rank 0)."""
    data, prog, folder = run.data, st.prog, run.folder
    test = evaluate_terms(run.model, run.test_x, run.objective, run.callbacks)
    base = trivial_mse(data)
    findings: dict[str, Any] = {"healthy": True, "findings": []}
    if folder.metrics is not None:
        folder.metrics.close()  # the detectors that read the logged terms (posterior collapse, ...) read it whole
    if tr.monitor is not None:
        tr.monitor.flush()
        _drain(st, run, tr)
        metrics = read_jsonl(run.run_dir / METRICS) if folder.metrics is not None else None
        findings = diagnose(st.grad_records, metrics=metrics, trivial_mse=base, test_mse=test["mse"],
                            config=run.cfg.to_dict())
        tr.monitor.close()
    summary = summary_record(prog, test, base, data, findings, tr.guard, stop_reason, run.wall0)
    if dist.is_rank0():
        save_weights(run.run_dir, run.model, run.cfg.model, data.sample_shape, data.normalizer)
        write_reconstructions(run.run_dir, run.model, data)
        write_json(run.run_dir / FINDINGS, findings)
        write_json(run.run_dir / SUMMARY, summary)
    if folder.gradlog is not None:
        folder.gradlog.close()
    for cb in run.callbacks:
        cb.on_fit_end(summary)
    return summary  # leaving fit's `with RunFolder` releases the folder's writer lock
