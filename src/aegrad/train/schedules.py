"""Learning-rate schedules: ``lr_at`` (a pure function of the step) and the ``Schedule`` the loop steps.

Steps count optimizer steps from 0: optimizer step ``s`` runs with
``lr_at(s, cfg, total_steps)``. ``create_schedule`` sets step 0's rate at once
and ``Schedule.step()``, called after each ``optimizer.step()``, sets the next
one. Every registered rule is a formula of the step; ``plateau`` is constant in
the step and decays from ``Schedule.epoch_end(test_loss)`` instead.

    constant       lr
    step           lr * gamma^floor(s / step_size)
    exponential    lr * gamma^(s / step_size)              (step's smooth twin)
    cosine         min_lr + (lr - min_lr) * (1 + cos(pi * min(s, T) / T)) / 2
                   (Loshchilov & Hutter 2017, SGDR, without restarts; T = total_steps)
    warmup_cosine  lr * (s + 1) / W for s < W (a linear ramp from 0 that wastes no step at lr 0),
                   then cosine from lr to min_lr over the remaining T - W steps (Goyal et al. 2017)
    warmup         lr * (s + 1) / W for s < W, then lr: the same linear ramp, then constant (Goyal et al.
                   2017, "Accurate, Large Minibatch SGD", sec. 2.2 gradual warm-up; Adam needs it in deep
                   nets, whose early updates are the largest: Liu et al. 2020, Xiong et al. 2020)
    plateau        lr, times gamma each time the epoch test loss has failed to improve (by 1e-4
                   relative) for more than plateau_patience epochs in a row, floored at min_lr
                   (torch's ReduceLROnPlateau rule)

Every parameter group gets the same rate. ``Schedule.lr_scale`` multiplies it
(the NaN guard halves it at each rollback) and is part of the saved state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from aegrad.config import TrainConfig
from aegrad.registry import Registry

LrRule = Callable[[int, TrainConfig, int], float]  # (step, cfg, total_steps) -> lr


@dataclass(frozen=True)
class ScheduleRule:
    lr_at: LrRule  # the rate at an optimizer step
    on_plateau: bool = False  # also decays by gamma from epoch_end (the plateau rule)


SCHEDULES: Registry[ScheduleRule] = Registry("schedule")

PLATEAU_THRESHOLD = 1e-4  # relative improvement the plateau rule counts as progress (torch's default)


def _register(name: str, *, on_plateau: bool = False) -> Callable[[LrRule], LrRule]:
    def deco(fn: LrRule) -> LrRule:
        SCHEDULES.register(name)(ScheduleRule(fn, on_plateau))
        return fn

    return deco


def list_schedules() -> list[str]:
    """The registered schedule names (equal to config's ``Schedule`` choices)."""
    return SCHEDULES.names()


def lr_at(step: int, cfg: TrainConfig, total_steps: int) -> float:
    """The ``cfg.schedule`` rate for optimizer step `step` (0-based); for plateau, the rate before any decay."""
    return SCHEDULES.get(cfg.schedule).lr_at(step, cfg, total_steps)


def _cosine(progress: float, hi: float, lo: float) -> float:
    return lo + (hi - lo) * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


@_register("constant")
def _constant(step: int, cfg: TrainConfig, total_steps: int) -> float:
    return cfg.lr


@_register("step")
def _step(step: int, cfg: TrainConfig, total_steps: int) -> float:
    return cfg.lr * cfg.gamma ** (step // cfg.step_size)


@_register("exponential")
def _exponential(step: int, cfg: TrainConfig, total_steps: int) -> float:
    return cfg.lr * cfg.gamma ** (step / cfg.step_size)


@_register("cosine")
def _cos(step: int, cfg: TrainConfig, total_steps: int) -> float:
    return _cosine(step / max(1, total_steps), cfg.lr, cfg.min_lr)


@_register("warmup_cosine")
def _warmup_cosine(step: int, cfg: TrainConfig, total_steps: int) -> float:
    w = cfg.warmup_steps
    if step < w:
        return cfg.lr * (step + 1) / w
    return _cosine((step - w) / max(1, total_steps - w), cfg.lr, cfg.min_lr)


@_register("warmup")
def _warmup(step: int, cfg: TrainConfig, total_steps: int) -> float:
    w = cfg.warmup_steps
    return cfg.lr * (step + 1) / w if step < w else cfg.lr


@_register("plateau", on_plateau=True)
def _plateau(step: int, cfg: TrainConfig, total_steps: int) -> float:
    return cfg.lr


class Schedule:
    """Sets the optimizer's learning rate: ``step()`` per optimizer step, ``epoch_end(loss)`` per epoch."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int) -> None:
        self.optimizer = optimizer
        self.cfg = cfg
        self.total_steps = int(total_steps)
        self.rule = SCHEDULES.get(cfg.schedule)
        self.step_count = 0  # optimizer steps taken
        self.decays = 0  # plateau decays so far
        self.best = math.inf  # best epoch test loss (plateau)
        self.bad_epochs = 0  # consecutive epochs without improvement (plateau)
        self.lr_scale = 1.0  # multiplies the scheduled rate (rollbacks halve it)
        self._apply()

    @property
    def lr(self) -> float:
        """The rate the next optimizer step will use."""
        lr = self.rule.lr_at(self.step_count, self.cfg, self.total_steps)
        if self.rule.on_plateau:
            lr = max(lr * self.cfg.gamma**self.decays, self.cfg.min_lr)
        return lr * self.lr_scale

    def _apply(self) -> None:
        lr = self.lr
        for g in self.optimizer.param_groups:
            g["lr"] = lr

    def step(self) -> None:
        """One optimizer step was taken: set the next step's rate."""
        self.step_count += 1
        self._apply()

    def epoch_end(self, test_loss: float) -> None:
        """An epoch ended with this test loss (only the plateau rule reacts; NaN counts as no improvement)."""
        if not self.rule.on_plateau:
            return
        if test_loss < self.best * (1.0 - PLATEAU_THRESHOLD):  # False for NaN; any finite loss beats inf
            self.best, self.bad_epochs = float(test_loss), 0
        else:
            self.bad_epochs += 1
        if self.bad_epochs > self.cfg.plateau_patience:
            self.decays += 1
            self.bad_epochs = 0
            self._apply()

    def scale(self, factor: float) -> None:
        """Multiply the rate from now on by `factor` (kept across steps and in the state)."""
        self.lr_scale *= factor
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.cfg.schedule,
            "step_count": self.step_count,
            "decays": self.decays,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
            "lr_scale": self.lr_scale,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume exactly where `state` was taken (the optimizer's rates are set again)."""
        if state["schedule"] != self.cfg.schedule:
            raise ValueError(f"state is for schedule {state['schedule']!r}, not {self.cfg.schedule!r}")
        self.step_count = int(state["step_count"])
        self.decays = int(state["decays"])
        self.best = float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
        self.lr_scale = float(state["lr_scale"])
        self._apply()


def create_schedule(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int) -> Schedule:
    """The ``cfg.schedule`` schedule over `total_steps` optimizer steps; sets step 0's rate now."""
    return Schedule(optimizer, cfg, total_steps)
