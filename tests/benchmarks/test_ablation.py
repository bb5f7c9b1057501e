"""Smoke test of the ablation table: every variant runs, and the ratios are recomputed from the medians."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.ablation import SEED_VARIANTS, STEP_VARIANTS, render, seed_command, summarize_step_ab

REPO = Path(__file__).resolve().parents[2]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def test_seed_variants_are_the_shipped_command_with_one_change(tmp_path):
    base = seed_command("aegrad", tmp_path, None)
    assert base[-6:] == ["train", "--preset", "seed-reference", "--quiet", "--out", str(tmp_path)]
    assert seed_command("every_epoch_checkpoint", tmp_path, None)[-2:] == ["--set", "train.checkpoint_interval_s=0"]
    assert seed_command("no_report", tmp_path, None)[-1] == "--no-report"
    assert "defer_dynamo_import = lambda: None" in " ".join(seed_command("dynamo_import", tmp_path, None))
    assert "sys.exit(main())" in " ".join(seed_command("python_shutdown", tmp_path, 2))
    assert seed_command("aegrad", tmp_path, 2)[-2:] == ["--set", "train.epochs=2"]


def test_bad_sections_are_refused_with_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.ablation", "--sections", "step,nope"], cwd=REPO, capture_output=True,
        text=True
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "valid are step, seed" in proc.stderr


def test_render_shows_only_the_sections_that_ran():
    ms = {"median": 6.0, "min": 5.0, "max": 9.0}
    res = {
        "settings": {"repeats": 1, "epochs": 1, "limit": None, "seed_epochs": None, "block": 20},
        "step_ab": {
            "aegrad": {"samples_per_s": 21333.0, "step_ms": ms, "steps": 90},
            "norm_pass": {"samples_per_s": 20000.0, "step_ms": ms, "steps": 18, "slowdown": 1.25,
                          "slowdown_quartiles": [1.1, 1.3], "pairs": 2},
        },
        "seed_wall_s": {},
        "errors": [],
    }
    text = render(res)
    assert "| norm_pass |" in text and "1.250× (1.100–1.300, 2 pairs)" in text and "seed-reference" not in text


def test_block_pairs_compare_each_variant_block_with_the_aegrad_block_before_it():
    blocks = [
        {"variant": "aegrad", "step_s": [0.010, 0.010, 0.011]},
        {"variant": "slow", "step_s": [0.020, 0.021, 0.020]},  # 2.0x the block before it
        {"variant": "aegrad", "step_s": [0.005, 0.005]},  # the machine sped up
        {"variant": "slow", "step_s": [0.006, 0.006]},  # 1.2x its neighbour, not 0.6x the first block
        {"variant": "aegrad", "step_s": []},  # an empty block (settling steps only) is skipped
    ]
    out = summarize_step_ab({"blocks": blocks, "batch_size": 100}, ["slow"])
    assert out["slow"]["pairs"] == 2
    assert out["slow"]["slowdown"] == pytest.approx((2.0 + 1.2) / 2)
    assert out["aegrad"]["steps"] == 5 and out["slow"]["steps"] == 5
    assert out["aegrad"]["samples_per_s"] == pytest.approx(100 / 0.010)
    assert out["aegrad"]["step_ms"]["min"] == pytest.approx(5.0)


@pytest.mark.slow
def test_tiny_ablation_run(tmp_path):
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    out = tmp_path / "ablation.json"
    args = ["--repeats", "1", "--epochs", "1", "--limit", "6400", "--block", "4", "--seed-epochs", "1"]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.ablation", *args, "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["errors"] == []
    assert set(res["step_ab"]) == set(STEP_VARIANTS)  # every variant got blocks in one 50-step run
    for v, r in res["step_ab"].items():
        assert r["steps"] > 0 and r["step_ms"]["min"] <= r["step_ms"]["median"] <= r["step_ms"]["max"]
        if v != "aegrad":
            assert r["pairs"] >= 1 and r["slowdown"] > 0
    assert set(res["seed_wall_s"]) == set(SEED_VARIANTS)
    t0 = res["seed_wall_s"]["aegrad"]["median"]
    for r in res["seed_wall_s"].values():
        assert r["vs_aegrad"] == pytest.approx(r["median"] / t0)
    assert res["seed_wall_s"]["import_only"]["median"] < t0  # the floor is below the whole run
    assert proc.stdout.strip() == render(res)
    assert statistics.median([r["median"] for r in res["seed_wall_s"].values()]) > 0


def test_the_toggles_restore_the_step_as_shipped(monkeypatch):
    """Each variant turns one StepOption off and is undone when its block ends: after a cycle all are on."""
    import dataclasses
    import importlib

    import torch

    from aegrad.train.steps import StepOptions
    from benchmarks.ablation import OPTION_OF, _Toggles

    monitor_cls = importlib.import_module("aegrad.diagnose.monitor").GradientMonitor
    # _Toggles patches the monitor's step for its (child) process; here it is put back after the test
    monkeypatch.setattr(monitor_cls, "step", monitor_cls.__dict__["step"])
    toggles = _Toggles([v for v in STEP_VARIANTS if v != "aegrad"], block=4)
    shipped = dataclasses.asdict(StepOptions())
    assert dataclasses.asdict(toggles.options) == shipped and all(shipped.values())
    for v in [*STEP_VARIANTS, "aegrad"]:
        toggles._switch(v)
        off = {k for k, on in dataclasses.asdict(toggles.options).items() if not on}
        assert off == ({OPTION_OF[v]} if v in OPTION_OF else set()), v
        if v == "monitor_off":
            net = torch.nn.Sequential(torch.nn.Linear(2, 2))
            mon = monitor_cls(net)
            net[0].weight.grad = torch.ones(2, 2)
            mon.step(torch.tensor(1.0))
            assert mon.steps == 0  # skipped while the variant is on
    assert dataclasses.asdict(toggles.options) == shipped
    with pytest.raises(ValueError):
        toggles._switch("no_such_variant")


@pytest.mark.slow
def test_profile_step_prints_operators_whose_shares_add_up():
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.profile_step", "--limit", "256", "--rows", "10000"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith("| `")]
    assert any("aten::mm" in r for r in rows) and any("aten::addmm" in r for r in rows)
    shares = [float(r.split("|")[4].strip().rstrip("%")) for r in rows]
    ms = [float(r.split("|")[3].replace(",", "")) for r in rows]
    assert shares == sorted(shares, reverse=True) and ms == sorted(ms, reverse=True)
    total = float(proc.stdout.split("profiled: ")[1].split(" ms")[0].replace(",", ""))
    # every operator listed: their times add up to the total (each printed to 0.1 ms)
    assert sum(ms) == pytest.approx(total, abs=0.05 * (len(ms) + 1))
    assert shares[0] == pytest.approx(100 * ms[0] / total, abs=0.5)  # both rounded to 0.1 ms
    bad = subprocess.run(
        [sys.executable, "-m", "benchmarks.profile_step", "--limit", "3"], cwd=REPO, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "--limit" in bad.stderr and "Traceback" not in bad.stderr
