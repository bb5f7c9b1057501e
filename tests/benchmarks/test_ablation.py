"""Smoke test of the ablation table: every variant runs, and the ratios are recomputed from the medians."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.ablation import SEED_VARIANTS, STEP_VARIANTS, render, seed_command

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
        [sys.executable, "-m", "benchmarks.ablation", "--sections", "step,nope"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "valid are step, seed" in proc.stderr


def test_render_shows_only_the_sections_that_ran():
    row = {"median": 10.0, "min": 9.0, "max": 11.0}
    res = {
        "settings": {"repeats": 1, "epochs": 1, "limit": None, "seed_epochs": None},
        "step_samples_per_s": {"aegrad": {**row, "slowdown": 1.0}, "norm_pass": {**row, "slowdown": 1.25}},
        "seed_wall_s": {},
        "errors": [],
    }
    text = render(res)
    assert "| norm_pass |" in text and "1.25×" in text and "seed-reference" not in text


@pytest.mark.slow
def test_tiny_ablation_run(tmp_path):
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    out = tmp_path / "ablation.json"
    args = ["--repeats", "1", "--epochs", "1", "--limit", "512", "--seed-epochs", "1", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.ablation", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["errors"] == []
    assert set(res["step_samples_per_s"]) == set(STEP_VARIANTS)
    assert set(res["seed_wall_s"]) == set(SEED_VARIANTS)
    base = res["step_samples_per_s"]["aegrad"]["median"]
    for r in res["step_samples_per_s"].values():
        assert r["min"] <= r["median"] <= r["max"] and r["median"] > 0
        assert r["slowdown"] == pytest.approx(base / r["median"])
    t0 = res["seed_wall_s"]["aegrad"]["median"]
    for r in res["seed_wall_s"].values():
        assert r["vs_aegrad"] == pytest.approx(r["median"] / t0)
    assert res["seed_wall_s"]["import_only"]["median"] < t0  # the floor is below the whole run
    assert proc.stdout.strip() == render(res)
    assert statistics.median([r["median"] for r in res["seed_wall_s"].values()]) > 0


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
