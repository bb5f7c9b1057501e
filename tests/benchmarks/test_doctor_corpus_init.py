"""benchmarks.doctor_corpus: the plain-PyTorch measurement builds each case's net as aegrad does (the rules'
"same widths, init, gain, bias, output"), the legacy measurement does not, and the fresh held-out set."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from aegrad.models.base import create_model
from benchmarks.doctor_corpus import (
    ALL_CASES,
    FRESH_CASES,
    build_net,
    case_config,
    corpus_cases,
    recorded_first_remedy,
)

DIMS = {"digits": 64, "fashion-mnist": 784}


def _stds(name: str, base: dict, over: dict, init: str) -> tuple[list[float], list[float], list, list]:
    """Per Linear, in order: the measurement's weight std, aegrad's, and both nets' biases."""
    cfg = case_config(base, over)
    dim = DIMS.get(cfg.data.source, cfg.data.dim)
    torch.manual_seed(0)
    ours = [m for m in create_model(cfg.model, (dim,)).modules() if isinstance(m, nn.Linear)]
    torch.manual_seed(0)
    _, theirs, _ = build_net(cfg, dim, init)
    assert [tuple(m.weight.shape) for m in ours] == [tuple(m.weight.shape) for m in theirs], name
    return ([float(m.weight.detach().std()) for m in theirs], [float(m.weight.detach().std()) for m in ours],
            [m.bias.detach() for m in theirs], [(m.bias.detach(), m.weight.shape[1]) for m in ours])


@pytest.mark.parametrize(("name", "base", "over"), ALL_CASES + FRESH_CASES, ids=[c[0] for c in ALL_CASES + FRESH_CASES])
def test_rule_measurement_inits_every_linear_as_aegrad(name, base, over):
    torch_std, aegrad_std, torch_bias, aegrad_bias = _stds(name, base, over, "rule")
    for i, (a, b) in enumerate(zip(torch_std, aegrad_std)):
        assert a / b == pytest.approx(1.0, abs=0.1), f"{name}: Linear {i} std {a:.4f} vs aegrad's {b:.4f}"
    for i, (a, (b, fan_in)) in enumerate(zip(torch_bias, aegrad_bias)):
        if bool((b == b[0]).all()):  # a constant bias (zero, or bias_init): the same constant
            assert torch.equal(a, b), f"{name}: Linear {i} bias"
        else:  # init=default: PyTorch's U(+-1/sqrt(fan_in)) in both
            assert not bool((a == a[0]).all()) and float(a.abs().max()) <= 1 / math.sqrt(fan_in), f"{name}: Linear {i}"


def test_legacy_measurement_is_the_published_one():
    # digits-default (kaiming, ReLU): legacy gives the latent and output Linears ReLU's gain, sqrt(2) x aegrad's
    name, base, over = ALL_CASES[0]
    torch_std, aegrad_std, _, _ = _stds(name, base, over, "legacy")
    ratios = [a / b for a, b in zip(torch_std, aegrad_std)]
    assert ratios == pytest.approx([1, 1, math.sqrt(2), 1, 1, math.sqrt(2)], rel=0.02)
    # digits-saturation-raw (kaiming, sigmoid): legacy gives every hidden Linear ReLU's gain (sqrt 2),
    # not sigmoid's (1);
    # the published --head-gain check only fixed the latent and output Linears
    name, base, over = next(c for c in ALL_CASES if c[0] == "digits-saturation-raw")
    for init, want in (("legacy", [math.sqrt(2)] * 6),
                       ("legacy-head-gain", [math.sqrt(2)] * 2 + [1] + [math.sqrt(2)] * 2 + [1])):
        torch_std, aegrad_std, _, _ = _stds(name, base, over, init)
        assert [a / b for a, b in zip(torch_std, aegrad_std)] == pytest.approx(want, rel=0.02), init
    with pytest.raises(ValueError, match="init must be one of"):
        build_net(case_config(base, over), 64, "head")


def test_fresh_held_out_set_is_new_and_its_own_split():
    fresh = corpus_cases("fresh")
    published = corpus_cases("published")
    assert len(fresh) >= 12 and {sp for _, sp, _, _ in fresh} == {"fresh held-out"}
    assert [sp for _, sp, _, _ in published].count("new held-out") == 15 and len(published) == 49
    names = [n for n, *_ in fresh + published]
    assert len(set(names)) == len(names)
    configs = [case_config(b, o).model_dump() for _, _, b, o in fresh + published]
    for i in range(len(fresh)):  # no fresh config equals any other case's
        assert configs[i] not in configs[:i] + configs[i + 1:], fresh[i][0]
    assert {case_config(b, o).data.source for _, _, b, o in fresh} == {"digits", "fashion-mnist", "random"}


def test_recorded_first_remedy_of_a_case_turned_failing():
    probes = {"baseline": 0.52, "lr*10 +lr*3": 0.22, "lr*10": 0.25, "adam": 0.27}
    case = {"kinds": ["undertrained"], "first_remedy": None, "winner": "lr*10 +lr*3",
            "winner_patch": {"train.lr": 3.0}, "probe_r": probes}
    assert recorded_first_remedy(case) == {"train.lr": 3.0}  # the best probe is the winner: its patch is recorded
    assert recorded_first_remedy({**case, "winner": "lr*10", "winner_patch": {"train.lr": 1.0}}) is None  # not recorded
    assert recorded_first_remedy(
        {**case, "winner_patch": {"model.activation": "tanh"}}) is None  # not same architecture
    assert recorded_first_remedy({**case, "first_remedy": {"train.lr": 0.01}}) == {"train.lr": 0.01}  # a finding's own
    assert recorded_first_remedy({**case, "kinds": []}) is None


def test_fresh_results_are_scored_against_the_labels_committed_before_them():
    results = Path(__file__).parents[2] / "benchmarks" / "results"
    labels = json.loads((results / "doctor_corpus_fresh_labels.json").read_text())
    scored = json.loads((results / "doctor_corpus_fresh.json").read_text())
    assert [n for n, *_ in FRESH_CASES] == list(labels)
    assert {n: c["label"] for n, c in scored.items()} == {n: c["label"] for n, c in labels.items()}
    assert all(c["init"] == "rule" for c in labels.values())
    corrected = json.loads((results / "doctor_corpus_corrected.json").read_text())
    official = json.loads((results / "doctor_corpus.json").read_text())
    assert set(corrected) == set(official) and len(official) == 49
    changed = {n for n, c in corrected.items() if c["label"] != official[n]["label"]}
    assert all(corrected[n]["official_label"] == official[n]["label"] for n in corrected)
    assert changed == {"digits-momentum", "random-default", "fashion-layernorm-lr3e-3"}


def test_held_out_sets_are_new_and_scored_against_the_labels_and_reach_committed_before_them():
    import benchmarks.doctor_corpus as dc

    results = Path(__file__).parents[2] / "benchmarks" / "results"
    names = [n for c in dc.CORPORA for n, *_ in corpus_cases(c)]
    assert len(set(names)) == len(names)  # no case in two sets
    for corpus in ("round5", "round6", "round7", "round8"):
        labels = json.loads((results / f"doctor_corpus_{corpus}_labels.json").read_text())
        scored = json.loads((results / f"doctor_corpus_{corpus}.json").read_text())
        reached = json.loads((results / f"doctor_corpus_{corpus}_reach.json").read_text())
        assert [n for n, *_ in corpus_cases(corpus)] == list(labels) == list(reached)
        assert {n: c["label"] for n, c in scored.items()} == {n: c["label"] for n, c in labels.items()}
        for name, _, base, over in corpus_cases(corpus):  # the round-4 criterion: random data, latent >= dim
            cfg = case_config(base, over)
            assert cfg.data.source != "random" or cfg.model.latent >= cfg.data.dim, name


def test_reach_is_the_lowest_over_adam_rates_at_the_standard_init(monkeypatch):
    import benchmarks.doctor_corpus as dc

    seen = []

    def fake_measure(cfg, init="rule"):
        seen.append((cfg.train.optimizer, cfg.train.lr, cfg.model.init_gain, cfg.model.bias_init, cfg.train.epochs))
        return {"r": {1e-3: 0.4, 3e-2: None}.get(cfg.train.lr, 0.9)}

    monkeypatch.setattr(dc, "measure", fake_measure)
    cfg = case_config(dc.RANDOM, {"model.init_gain": 0.2, "model.bias_init": -3.0, "train.optimizer": "sgd"})
    got = dc.reach(cfg)
    assert got["r"] == 0.4 and got["by_lr"]["0.03"] is None  # a diverged rate is no bound
    assert [s[1] for s in seen] == list(dc.REACH_LRS)
    assert {(s[0], s[2], s[3], s[4]) for s in seen} == {("adam", 1.0, None, cfg.train.epochs)}  # the case's length


def test_pooled_scores_count_every_case_and_the_cases_that_can_fit():
    from benchmarks.doctor_corpus import split_scores

    def case(label, kinds, winner_r, first_r=None, winner="x"):
        return {"label": label, "kinds": kinds, "winner_r": winner_r, "first_r": first_r, "winner": winner,
                "measure": {"nonfinite": False}}

    cs = [(case("stalled_loss", ["stalled_loss"], 0.3, 0.6), "a"), (case("dead_units", [], 0.7), "b"),
          (case("stalled_loss", ["stalled_loss"], None), "c"),
          (case("healthy", ["dead_units"], None, winner=None), "d"),
          (case("healthy", [], None), "e")]
    line, fits = split_scores("all", cs, {"a": {"r": 0.2}, "b": {"r": 0.9}, "c": {"r": 0.4}})
    assert "3 failing, 2 healthy" in line and "recall 2/3 (67%)" in line and "false alarms 1/2 (50%)" in line
    assert "fix (a) first remedy 0/3" in line and "fix (b) doctor's winner 1/3" in line
    assert "'no change' on healthy 1/2" in line
    assert "can fit (reach < 0.5): 2/3" in fits and "on them 1/2 (50%)" in fits
