"""Smoke test of the benchmark harness: `python -m benchmarks --quick` end to end.

No timing is asserted (the numbers of a tiny run on a shared machine mean
nothing); what is checked is the contract of bench.json: every field present,
the derived numbers recomputed here from the raw ones, skipped peers listed, and
the Markdown renderer reproducing the printed tables from the file alone.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
PEER_MODULES = {"pytorch": ("torch",), "pythae": ("pythae", "torch"), "keras": ("keras", "tensorflow")}
CONTESTANTS = ("aegrad", "aegrad_monitor_off", "aegrad_bf16", *PEER_MODULES)
# RT1's layers, 784-512-256-32-256-512-784: 6 FLOPs per weight per sample, minus
# the first layer's input gradient (2 per weight), which nothing needs.
RT1_WEIGHTS = [784 * 512, 512 * 256, 256 * 32, 32 * 256, 256 * 512, 512 * 784]
RT1_FLOPS = 6 * sum(RT1_WEIGHTS) - 2 * RT1_WEIGHTS[0]


def bench(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, subprocess.CompletedProcess[str], Path]:
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    # --peer-python pins the peers to this interpreter whatever $AEGRAD_BENCH_PYTHON says.
    proc = bench("--quick", "--out", str(out), "--peer-python", sys.executable)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8")), proc, out


@pytest.mark.slow
def test_quick_run_writes_every_field(quick) -> None:
    res, _, _ = quick
    for key in (
        "machine",
        "date",
        "rt1",
        "ratios",
        "monitor_overhead_pct",
        "matmul_gflops",
        "aegrad_gflops",
        "ceiling_fraction",
        "matmul_onednn_gflops",
        "ceiling_fraction_onednn",
        "aegrad_bf16_gflops",
        "ceiling_fraction_bf16",
        "targets",
        "seed_reference",
        "scaling",
        "skipped",
        "failed",
    ):
        assert key in res, key
    assert res["failed"] == {}
    assert res["machine"]["cores"] >= 1 and res["machine"]["name"]
    assert res["settings"]["quick"] is True and res["settings"]["repeats"] == 1
    for name, entry in res["rt1"].items():
        assert name in CONTESTANTS
        sps = entry["samples_per_s"]
        assert sps["min"] <= sps["median"] <= sps["max"] and sps["median"] > 0
        assert 0 < entry["test_mse"] < 1  # pixels in [0, 1]
        assert entry["wall_s"] > 0 and entry["peak_rss_mib"] > 10
    assert {"aegrad", "aegrad_monitor_off", "aegrad_bf16", "pytorch"} <= set(res["rt1"])
    for name, t in res["targets"].items():
        assert set(t) >= {"value", "target", "met"}, name
        assert t["met"] in (True, False, None)
    seed = res["seed_reference"]
    assert seed["aegrad_wall_s"] > 0
    assert (seed["tensorflow_wall_s"] is None) == (not installed("tensorflow"))
    for key, values in (("batch_size", [32, 128]), ("depth", [2, 4])):
        points = res["scaling"][key]
        assert [p[key] for p in points] == values
        for p in points:
            assert p["samples_per_s_min"] <= p["samples_per_s"] <= p["samples_per_s_max"] and p["runs"] == 1
            assert p["samples_per_s"] > 0 and p["peak_rss_mib"] > 10 and p["gflops"] > 0
            # each point's fraction is over the ceiling measured just before it
            assert p["ceiling_gflops"] > 0 and p["ceiling_fraction"] == pytest.approx(p["gflops"] / p["ceiling_gflops"])


@pytest.mark.slow
def test_derived_numbers_are_recomputed_from_the_medians(quick) -> None:
    res, _, _ = quick
    rt1 = res["rt1"]
    ours = rt1["aegrad"]["samples_per_s"]["median"]
    peers = [p for p in PEER_MODULES if p in rt1]
    assert set(res["ratios"]) == {f"aegrad_vs_{p}" for p in peers}
    for p in peers:
        assert res["ratios"][f"aegrad_vs_{p}"] == pytest.approx(ours / rt1[p]["samples_per_s"]["median"])
    off = rt1["aegrad_monitor_off"]["samples_per_s"]["median"]
    assert res["monitor_overhead_pct"] == pytest.approx((off / ours - 1) * 100)
    assert res["flops_per_sample"] == pytest.approx(RT1_FLOPS) and abs(RT1_FLOPS - 5.7e6) < 0.05e6
    assert res["aegrad_gflops"] == pytest.approx(ours * RT1_FLOPS / 1e9)
    assert res["ceiling_fraction"] == pytest.approx(res["aegrad_gflops"] / res["matmul_gflops"])
    if res["matmul_onednn_gflops"] is not None:  # torch's CPU wheels have oneDNN
        assert res["matmul_onednn_gflops"] > 0
        assert res["ceiling_fraction_onednn"] == pytest.approx(res["aegrad_gflops"] / res["matmul_onednn_gflops"])
    bf16 = rt1["aegrad_bf16"]["samples_per_s"]["median"]  # a reading beside the targets, not one of them
    assert res["aegrad_bf16_gflops"] == pytest.approx(bf16 * RT1_FLOPS / 1e9)
    assert res["ceiling_fraction_bf16"] == pytest.approx(res["aegrad_bf16_gflops"] / res["matmul_gflops"])
    t = res["targets"]
    assert "aegrad_bf16" not in str(t) and set(res["ratios"]) == {f"aegrad_vs_{p}" for p in peers}
    fastest = max(peers, key=lambda p: rt1[p]["samples_per_s"]["median"])
    assert t["speedup_vs_fastest_peer"]["peer"] == fastest
    assert t["speedup_vs_fastest_peer"]["value"] == pytest.approx(res["ratios"][f"aegrad_vs_{fastest}"])
    assert t["ceiling_fraction"]["value"] == pytest.approx(res["ceiling_fraction"])
    best = min(peers, key=lambda p: rt1[p]["test_mse"])
    assert t["test_mse_vs_best_peer"]["met"] == (rt1["aegrad"]["test_mse"] <= rt1[best]["test_mse"])
    assert t["monitor_overhead_pct"]["met"] == (res["monitor_overhead_pct"] <= 3.0)
    assert t["seed_reference_wall_s"]["met"] == (res["seed_reference"]["aegrad_wall_s"] <= 3.0)


@pytest.mark.slow
def test_absent_peers_are_skipped_and_listed(quick) -> None:
    res, proc, _ = quick
    for peer, modules in PEER_MODULES.items():
        present = all(installed(m) for m in modules)
        assert (peer in res["rt1"]) == present, peer
        assert (peer in res["skipped"]) == (not present), peer
        if not present:
            assert f"skipped {peer}" in proc.stdout
    assert ("seed_tf" in res["skipped"]) == (not installed("tensorflow"))


@pytest.mark.slow
def test_render_reproduces_the_printed_tables(quick) -> None:
    _, proc, out = quick
    rendered = bench("--render", str(out), timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout == proc.stdout
    assert "| aegrad |" in rendered.stdout and "| target |" in rendered.stdout


def test_bad_flags_are_one_line_errors() -> None:
    proc = bench("--only", "aegrad,tensorflow", timeout=120)
    assert proc.returncode == 2
    assert "unknown contestant tensorflow" in proc.stderr and "Traceback" not in proc.stderr


def test_the_ceiling_worker_measures_torch_mm_and_onednn_alike() -> None:
    import torch

    from benchmarks.worker import matmul_gflops

    out = matmul_gflops(64, 3, 1)
    assert out["gflops"] > 0 and out["min"] <= out["gflops"] <= out["max"] and out["repeats"] == 3
    if torch.backends.mkldnn.is_available():
        assert out["onednn_gflops"] > 0


def test_the_target_row_adds_the_onednn_reading_only_when_measured() -> None:
    from benchmarks.table import _onednn_reading

    assert _onednn_reading({"matmul_onednn_gflops": None, "ceiling_fraction_onednn": None}) == ""
    assert _onednn_reading({}) == ""
    assert (_onednn_reading({"matmul_onednn_gflops": 210.04, "ceiling_fraction_onednn": 0.5})
            == " (of oneDNN's 210.0: 50%)")


def test_a_missed_target_never_prints_as_its_goal() -> None:
    from benchmarks.table import _vs_goal

    assert _vs_goal({"value": 1.2494, "target": 1.25, "met": False}, 2, "×") == "1.249×"
    assert _vs_goal({"value": 1.2600, "target": 1.25, "met": True}, 2, "×") == "1.26×"
    assert _vs_goal({"value": 1.2500, "target": 1.25, "met": True}, 2, "×") == "1.25×"  # met at the goal: as is
    assert _vs_goal({"value": 0.6981, "target": 0.70, "met": False}, 0, percent=True) == "69.8%"
    assert _vs_goal({"value": 3.004, "target": 3.0, "met": False}, 2, " s") == "3.004 s"
    assert _vs_goal({"value": None, "target": 3.0, "met": None}, 2, " s") == "—"


def test_the_bf16_reading_is_a_row_without_a_goal_only_when_it_ran() -> None:
    from benchmarks.table import _bf16_reading

    res = {"rt1": {}, "matmul_gflops": 200.0, "aegrad_bf16_gflops": None, "ceiling_fraction_bf16": None}
    assert _bf16_reading(res) == []  # an older bench.json, or --only without it
    res = {"rt1": {"aegrad_bf16": {"test_mse": 0.009894}}, "matmul_gflops": 200.0, "aegrad_bf16_gflops": 150.0,
           "ceiling_fraction_bf16": 0.75}
    ((label, value, goal, met),) = _bf16_reading(res)
    assert "aegrad_bf16" in label and value == "150.0 of 200.0 GFLOP/s = 75%, test MSE 0.00989"
    assert (goal, met) == ("not a target", "—")


def test_scaling_points_are_medians_of_interleaved_runs(monkeypatch, tmp_path) -> None:
    """Each scaling point runs `repeats` times in rounds over all points; it reports the median rate,
    its range, the median of the ceilings taken just before its runs, and their ratio."""
    sys.path.insert(0, str(REPO))
    from benchmarks import harness
    from benchmarks.spec import train_flops_per_sample
    from benchmarks.table import scaling_tables

    s = harness.Settings.make(quick=True, repeats=3)
    order: list[str] = []
    rates = {
        "batch-32": [300.0, 100.0, 200.0],
        "batch-128": [900.0, 700.0, 800.0],
        "depth-2": [50.0, 70.0, 60.0],
        "depth-4": [9.0, 8.0, 7.0],
    }
    ceilings = iter([100.0, 90.0, 80.0, 70.0, 110.0, 95.0, 85.0, 75.0, 120.0, 100.0, 90.0, 80.0])

    def worker(python, request, workdir, label):
        order.append(label)
        point, r = label.rsplit("-", 1)
        return {"ok": True, "samples_per_s": rates[point][int(r)], "peak_rss_mib": 100.0 + int(r)}

    monkeypatch.setattr(harness, "run_worker", worker)
    monkeypatch.setattr(harness, "run_ceiling", lambda *a, **k: next(ceilings))
    sc = harness.run_scaling(s, None, tmp_path, lambda *a: None)
    # rounds: every point once, then every point again (a slow spell hits all points alike)
    assert order == [f"{p}-{r}" for r in range(3) for p in ("batch-32", "batch-128", "depth-2", "depth-4")]
    b32, b128 = sc["batch_size"]
    assert (b32["samples_per_s"], b32["samples_per_s_min"], b32["samples_per_s_max"]) == (200.0, 100.0, 300.0)
    assert b32["runs"] == 3
    assert b32["ceiling_gflops"] == 110.0  # median of 100, 110, 120
    assert b128["ceiling_gflops"] == 95.0 and b128["peak_rss_mib"] == 102.0
    d4 = sc["depth"][1]
    task = s.task.__class__(**{**s.task.__dict__, "widths": (s.scaling_width,) * 4})
    assert d4["gflops"] == pytest.approx(8.0 * train_flops_per_sample(task.layer_dims()) / 1e9)
    assert d4["ceiling_fraction"] == pytest.approx(d4["gflops"] / 75.0) and d4["width"] == s.scaling_width
    table = "\n".join(scaling_tables({"scaling": sc}))
    assert "median of 3 runs" in table and "| 32 | 200 (100–300) |" in table


def test_a_scaling_point_with_a_failed_run_reports_the_error(monkeypatch, tmp_path) -> None:
    sys.path.insert(0, str(REPO))
    from benchmarks import harness

    s = harness.Settings.make(quick=True, repeats=2)

    def worker(python, request, workdir, label):
        if label == "depth-4-1":
            return {"ok": False, "error": "RuntimeError: boom", "peak_rss_mib": 1.0}
        return {"ok": True, "samples_per_s": 10.0, "peak_rss_mib": 100.0}

    monkeypatch.setattr(harness, "run_worker", worker)
    monkeypatch.setattr(harness, "run_ceiling", lambda *a, **k: 100.0)
    sc = harness.run_scaling(s, None, tmp_path, lambda *a: None)
    assert sc["depth"][1] == {"depth": 4, "error": "RuntimeError: boom", "width": s.scaling_width}
    assert sc["depth"][0]["samples_per_s"] == 10.0


def test_rt1_runs_five_times_by_default_and_the_side_sections_at_most_three() -> None:
    sys.path.insert(0, str(REPO))
    from benchmarks import harness

    full = harness.Settings.make()
    assert (full.repeats, full.side_repeats) == (5, 3)
    assert harness.Settings.make(repeats=2).side_repeats == 2
    assert harness.Settings.make(quick=True).side_repeats == 1
