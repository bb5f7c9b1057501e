"""Building a run: what it trains on (``RunSpec``) and how it trains (``Training``), both built once.

`prepare` builds everything that can fail on bad input with nothing written: the data, the
model (after a check that its training state fits in memory), the objective and, resuming, the
whole checkpoint loaded and applied. `build_training` builds the optimizer, the schedule, the
step (chosen once here: the dense step or autograd) and the hooks after backward; for a new run
it runs after any pretraining, so those parts see the pretrained model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch import Tensor

from aegrad.config import Config
from aegrad.data import Dataset, load_dataset
from aegrad.data.noise import corrupt
from aegrad.diagnose import GradientMonitor
from aegrad.errors import UserError, excerpt
from aegrad.models import create_model
from aegrad.objectives import MSE, Objective, create_objective
from aegrad.run import STATE, SUMMARY
from aegrad.train import distributed as dist
from aegrad.train.callbacks import Callback
from aegrad.train.checkpoint import load_state
from aegrad.train.clipping import Clipper
from aegrad.train.cursor import steps_per_epoch
from aegrad.train.dense import DenseStep
from aegrad.train.device import check_fits, set_threads
from aegrad.train.guard import NanGuard
from aegrad.train.hooks import ClipHook, GuardHook, MonitorHook
from aegrad.train.optim import create_optimizer, param_groups
from aegrad.train.rundir import RunFolder
from aegrad.train.schedules import Schedule, create_schedule
from aegrad.train.state import TrainState, restore
from aegrad.train.steps import AutogradStep, StepOptions

log = logging.getLogger("aegrad")


@dataclass(frozen=True)
class RunSpec:
    """What one fit trains, on what, and where it writes: fixed once built."""

    cfg: Config
    folder: RunFolder  # the run folder: its lock, config.yaml and logs
    device: torch.device  # train.device resolved (this rank's, when distributed)
    data: Dataset
    train_x: Tensor  # the data's splits on `device`
    test_x: Tensor
    model: nn.Module
    objective: Objective
    gen: torch.Generator  # shuffling and input noise; CPU so it is portable (its state is checkpointed)
    callbacks: Sequence[Callback]  # the caller's
    options: StepOptions  # the fast path's switches (train/steps.py)
    wall0: float  # perf_counter() when the set-up began: the records' wall_s

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    def emit(self, record: dict[str, Any]) -> None:
        """A metrics.jsonl record (rank 0, once the folder is open), handed to every callback."""
        self.folder.log(record)
        for cb in self.callbacks:
            cb.on_log(record)


@dataclass(frozen=True)
class Training:
    """The optimizer, the step and the hooks: fixed once built (their own state changes as they train)."""

    optimizer: torch.optim.Optimizer
    schedule: Schedule
    step: AutogradStep  # or a DenseStep, which is called the same way
    guard: NanGuard
    monitor: GradientMonitor | None  # None with monitor.enabled off
    params: list[Tensor]  # the trained parameters, model.parameters() order
    after_backward: list[Callback]  # the monitor's hook, then the caller's callbacks
    before_update: list[Callback]  # the clipper, the NaN guard, then the caller's callbacks
    clips: bool  # a train.clip_* is set: the steps a clip changed are counted


def prepare(
    cfg: Config,
    folder: RunFolder,
    resume: bool,
    callbacks: Sequence[Callback],
    options: StepOptions,
    device: torch.device,
) -> tuple[RunSpec, tuple[Training, TrainState] | None, int | None]:
    """Everything that can fail on bad input, with nothing written: (the run, the checkpoint's training and state
    when resuming from one, the checkpoint's step).

    A run killed before its first checkpoint (config and logs, no state.pt) starts over: step -1 clears its logs,
    and the result is the uninterrupted run's.
    """
    torch.manual_seed(cfg.seed)
    wall0 = time.perf_counter()
    data = load_dataset(cfg.data, cfg.seed)
    check_fits(cfg, data.sample_shape, device)
    model = create_model(cfg.model, data.sample_shape).to(device)
    objective = create_objective(cfg, model)
    set_threads(cfg.train, model, device)
    spec = RunSpec(
        cfg, folder, device, data, data.train_x.to(device), data.test_x.to(device), model, objective,
        gen=torch.Generator().manual_seed(cfg.seed + 1), callbacks=callbacks, options=options, wall0=wall0,
    )
    run_dir = folder.path
    if not resume:
        return spec, None, None
    if not (run_dir / STATE).exists() and not (run_dir / SUMMARY).exists():
        return spec, None, -1
    damaged = f"cannot resume {run_dir}: {STATE} is damaged or does not fit this config"
    try:
        state = load_state(run_dir)
        model.load_state_dict(state["model"])
        tr = build_training(spec)
        st = restore(state, optimizer=tr.optimizer, schedule=tr.schedule, guard=tr.guard, monitor=tr.monitor,
                     gen=spec.gen, device=spec.train_x.device)
        return spec, (tr, st), int(state["step"])
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - any damage to state.pt is the same bad input
        raise UserError(f"{damaged} ({excerpt(err) or type(err).__name__})") from None


def build_training(spec: RunSpec) -> Training:
    """The optimizer, schedule, step (chosen once here) and the hooks after backward."""
    cfg, t, model = spec.cfg, spec.cfg.train, spec.model
    net = dist.wrap(model)
    optimizer = create_optimizer(param_groups(model, t), t)
    schedule = create_schedule(optimizer, t, total_steps=steps_per_epoch(t, len(spec.train_x)) * t.epochs)
    guard = NanGuard(t.nan_patience, t.max_rollbacks)
    m = cfg.monitor
    monitor = None
    if m.enabled:
        monitor = GradientMonitor(model, sync_every=m.sync_every, activation_every=m.activation_every)
    params = [p for p in model.parameters() if p.requires_grad]
    clipper = Clipper.from_config(t)
    # One float32 norm pass per step serves the monitor, the clipper's logged norm and the guard (with
    # no clip set): the dense step takes it while the gradients are in cache, else the monitor hook.
    share = not clipper.clips
    amp = torch.autocast(spec.device.type, dtype=torch.bfloat16, enabled=t.precision == "bf16")
    noise, level, gen = t.noise, t.noise_level, spec.gen

    def corrupt_input(x: Tensor) -> Tensor:
        return corrupt(x, noise, level, gen)

    autograd = AutogradStep(net, _maybe_compile(net, t.compile), spec.objective, spec.train_x, corrupt_input, amp)
    step = create_step(cfg, model, autograd, spec.options, want_norms=share and not (t.l1 or t.l2))
    monitor_hooks = [MonitorHook(monitor, params, share)] if monitor is not None else []
    return Training(
        optimizer, schedule, step, guard, monitor, params,
        after_backward=[*monitor_hooks, *spec.callbacks],
        before_update=[ClipHook(clipper), GuardHook(guard, model, optimizer, schedule, spec.emit), *spec.callbacks],
        clips=clipper.clips,
    )


def create_step(
    cfg: Config,
    model: nn.Module,
    autograd: AutogradStep,
    options: StepOptions,
    want_norms: bool,
) -> AutogradStep:
    """The dense step when it applies to `model` and the objective is the plain MSE, else `autograd`.

    `want_norms`: the loop would use per-parameter gradient norms measured by the step
    (no clip, no weight penalty): the dense step then takes them on the last micro-batch.
    """
    device = next(model.parameters()).device
    if device.type != "cpu" or type(autograd.objective) is not MSE:
        return autograd
    dense = DenseStep.of(model, cfg, dist.world_size(), options=options)
    if dense is None:
        return autograd
    return dense.bind(autograd, want_norms)


def _maybe_compile(net: nn.Module, enabled: bool):
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
