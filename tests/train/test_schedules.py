"""Each schedule's rate against its formula, and exact resume from state_dict."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from aegrad.config import TrainConfig
from aegrad.train.schedules import create_schedule, list_schedules, lr_at

LR, GAMMA, STEP, WARM, MIN, TOTAL = 0.1, 0.5, 100, 10, 0.001, 1000
STEPS = [0, 1, 5, 9, 10, 11, 99, 100, 101, 250, 500, 999, 1000, 1500]


def cos_from(hi: float, s: float, span: float) -> float:
    return MIN + (hi - MIN) * (1 + math.cos(math.pi * min(s / span, 1.0))) / 2


FORMULAS = {
    "constant": lambda s: LR,
    "step": lambda s: LR * GAMMA ** (s // STEP),
    "exponential": lambda s: LR * GAMMA ** (s / STEP),
    "cosine": lambda s: cos_from(LR, s, TOTAL),
    "warmup_cosine": lambda s: LR * (s + 1) / WARM if s < WARM else cos_from(LR, s - WARM, TOTAL - WARM),
    "warmup": lambda s: LR * (s + 1) / WARM if s < WARM else LR,
    "plateau": lambda s: LR,  # constant in the step; decays come from epoch_end
}


def _cfg(name: str, **kw) -> TrainConfig:
    base = dict(schedule=name, lr=LR, gamma=GAMMA, step_size=STEP, warmup_steps=WARM, min_lr=MIN)
    return TrainConfig(**{**base, **kw})


def _opt() -> torch.optim.Optimizer:
    w = torch.nn.Parameter(torch.zeros(2))
    return torch.optim.SGD([{"params": [w]}, {"params": [torch.nn.Parameter(torch.zeros(1))]}], lr=123.0)


def test_every_schedule_has_a_formula():
    assert sorted(FORMULAS) == list_schedules()


@pytest.mark.parametrize("name", list_schedules())
def test_lr_at_equals_formula(name: str):
    cfg = _cfg(name)
    for s in STEPS:
        assert lr_at(s, cfg, TOTAL) == pytest.approx(FORMULAS[name](s), rel=1e-12, abs=1e-15), (name, s)


def test_formula_landmarks():
    assert lr_at(TOTAL, _cfg("cosine"), TOTAL) == pytest.approx(MIN)
    assert lr_at(TOTAL // 2, _cfg("cosine"), TOTAL) == pytest.approx((LR + MIN) / 2)
    assert lr_at(WARM - 1, _cfg("warmup_cosine"), TOTAL) == pytest.approx(LR)  # ramp ends at lr
    assert lr_at(WARM, _cfg("warmup_cosine"), TOTAL) == pytest.approx(LR)  # cosine starts there
    assert lr_at(250, _cfg("exponential"), TOTAL) == pytest.approx(LR * GAMMA**2.5)
    for s in range(0, 40, 7):  # no warm-up is plain cosine
        assert lr_at(s, _cfg("warmup_cosine", warmup_steps=0), 40) == lr_at(s, _cfg("cosine"), 40)


@pytest.mark.parametrize("name", list_schedules())
def test_schedule_sets_every_group_per_step(name: str):
    opt = _opt()
    sched = create_schedule(opt, _cfg(name), TOTAL)
    for s in range(0, 120):
        expected = FORMULAS[name](s)
        assert sched.lr == pytest.approx(expected, rel=1e-12)
        assert [g["lr"] for g in opt.param_groups] == [pytest.approx(expected, rel=1e-12)] * 2
        opt.step()
        sched.step()


def test_plateau_decays_after_patience_epochs_without_improvement():
    opt = _opt()
    sched = create_schedule(opt, _cfg("plateau", plateau_patience=2, min_lr=0.02), TOTAL)
    losses = [1.0, 0.9, 0.95, 0.9, 0.9, 0.8, 0.89999, float("nan"), 0.85, 0.85, 0.85, 0.85, 0.85, 0.85]
    # bad epochs: 0, 0, 1, 2, 3 -> decay (reset), 0, 1, 2 (NaN), 3 -> decay, 1, 2, 3 -> decay to LR/8,
    # floored at min_lr = 0.02, 1, 2
    expected = [LR, LR, LR, LR, LR / 2, LR / 2, LR / 2, LR / 2, LR / 4, LR / 4, LR / 4, 0.02, 0.02, 0.02]
    got = []
    for loss in losses:
        sched.epoch_end(loss)
        got.append(opt.param_groups[0]["lr"])
    assert got == pytest.approx(expected)
    sched.step()  # an optimizer step keeps the decayed rate
    assert opt.param_groups[0]["lr"] == pytest.approx(0.02)


def test_non_plateau_schedules_ignore_epoch_end():
    opt = _opt()
    sched = create_schedule(opt, _cfg("step"), TOTAL)
    for _ in range(10):
        sched.epoch_end(1.0)
    assert opt.param_groups[0]["lr"] == LR


def test_scale_multiplies_from_now_on():
    opt = _opt()
    sched = create_schedule(opt, _cfg("cosine"), TOTAL)
    sched.step()
    sched.scale(0.5)
    assert opt.param_groups[0]["lr"] == pytest.approx(FORMULAS["cosine"](1) / 2)
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(FORMULAS["cosine"](2) / 2)


@pytest.mark.parametrize("name", list_schedules())
def test_state_dict_round_trip_continues_identically(name: str):
    cfg = _cfg(name, step_size=7, warmup_steps=5, plateau_patience=0)
    losses = [1.0, 0.5, 0.6, 0.7, 0.4, 0.4, 0.4, 0.3]

    def run(sched, opt, epochs, lrs):
        for e in epochs:
            for _ in range(6):
                lrs.append(opt.param_groups[0]["lr"])
                sched.step()
            sched.epoch_end(losses[e])

    opt_a = _opt()
    a = create_schedule(opt_a, cfg, 48)
    straight: list[float] = []
    run(a, opt_a, range(8), straight)

    opt_b = _opt()
    b = create_schedule(opt_b, cfg, 48)
    resumed: list[float] = []
    run(b, opt_b, range(3), resumed)
    b.scale(0.5)
    a2_opt = _opt()
    a2 = create_schedule(a2_opt, cfg, 48)
    a2.load_state_dict(copy.deepcopy(b.state_dict()))
    assert a2_opt.param_groups[0]["lr"] == opt_b.param_groups[0]["lr"]
    run(a2, a2_opt, range(3, 8), resumed)
    assert resumed[:18] == straight[:18]
    assert resumed[18:] == [v / 2 for v in straight[18:]]  # the scale survived the round trip


def test_load_state_of_another_schedule_fails():
    state = create_schedule(_opt(), _cfg("cosine"), 10).state_dict()
    with pytest.raises(ValueError, match="cosine"):
        create_schedule(_opt(), _cfg("step"), 10).load_state_dict(state)
