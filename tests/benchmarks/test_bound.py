"""benchmarks.bound: the products it times are the step's, its fractions are per-round ratios, and it runs."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aegrad.config import load_config
from aegrad.models import create_model
from aegrad.train.dense import DenseStep
from benchmarks.bound import ROWS, render, step_products, summarize
from benchmarks.spec import Task, train_flops_per_sample

REPO = Path(__file__).resolve().parents[2]


def _rt1_step() -> DenseStep:
    cfg = load_config("fashion-mlp")
    torch.manual_seed(0)
    step = DenseStep.of(create_model(cfg.model, (784,)), cfg)
    assert step is not None
    return step


@pytest.mark.parametrize("onednn", [True, False])
def test_products_are_the_steps_seventeen_and_compute_what_they_claim(onednn):
    step = _rt1_step()
    step.onednn = onednn and step.onednn  # oneDNN only where this torch has it
    products = step_products(step, 16)
    assert len(products) == 17  # 6 forward, 6 weight gradients, 5 errors (none into the data)
    assert sum(p.flops for p in products) == train_flops_per_sample(Task().layer_dims()) * 16
    with torch.no_grad():
        for p in products:
            torch.testing.assert_close(p.run(), p.expect(), rtol=1e-4, atol=1e-5, msg=p.what)


def test_fractions_are_per_round_ratios_to_the_ceiling():
    n, flops, batch = 100, 4.0e6, 128  # ceiling: 2e6 FLOPs per call
    times = {"ceiling": [0.001, 0.002, 0.001], "lean_step": [0.004, 0.004, 0.008]}
    rows = summarize(times, flops, n, batch)
    # rates: ceiling 2.0, 1.0, 2.0 GFLOP/s; lean 1.0, 1.0, 0.5 -> fractions 0.5, 1.0, 0.25
    assert rows["lean_step"]["fraction"] == pytest.approx(0.5)
    assert rows["lean_step"]["fraction_quartiles"] == pytest.approx(
        statistics.quantiles([0.5, 1.0, 0.25], n=4, method="inclusive")[::2])
    assert rows["lean_step"]["gflops"] == pytest.approx(1.0)
    assert rows["lean_step"]["samples_per_s"] == pytest.approx(128 / 0.004)
    assert rows["lean_step"]["ms"] == pytest.approx({"median": 4.0, "min": 4.0, "max": 8.0})
    assert rows["ceiling"]["fraction"] == 1.0 and rows["ceiling"]["samples_per_s"] is None
    assert rows["ceiling"]["gflops"] == pytest.approx(2.0)


def test_render_names_every_row_with_its_fraction():
    rows = summarize({"ceiling": [0.001, 0.001], "products": [0.002, 0.004]}, 2.0e6, 100, 128)
    res = {"settings": {"rounds": 2, "block": 3, "n": 100, "batch": 128, "threads": 2, "data": "d",
                        "step_gflop": 0.001},
           "machine": "m", "rows": rows, "errors": ["compiled_step: boom"]}
    text = render(res)
    assert "| products | " + ROWS["products"][0] in text
    assert "| 38% (31–44%) |" in text  # fractions 0.5 and 0.25
    assert "100×100" in text and "error: compiled_step: boom" in text


@pytest.mark.parametrize(
    "args, says",
    [
        (["--rows", "products,nope"], "valid are ceiling, products"),
        (["--rounds", "0"], "must be >= 1"),
        (["--data-dir", "/nonexistent"], "no Fashion-MNIST IDX image files"),
        (["--out", "/nonexistent/bound.json"], "the folder /nonexistent does not exist"),
    ],
)
def test_bad_input_is_refused_with_one_line(args, says, tmp_path):
    out = tmp_path / "bound.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bound", "--out", str(out), *args],
                          cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and proc.stdout == "" and not out.exists()
    assert proc.stderr.strip().count("\n") == 0 and says in proc.stderr


@pytest.mark.slow
def test_every_row_runs_and_the_json_matches_the_table(tmp_path):
    out = tmp_path / "bound.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bound", "--rounds", "2", "--block", "2", "--n", "64", "--limit", "256",
         "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert list(res["rows"]) == list(ROWS) and res["errors"] == []
    assert res["settings"]["step_gflop"] == pytest.approx(train_flops_per_sample(Task().layer_dims()) * 128 / 1e9)
    for name, row in res["rows"].items():
        assert row["rounds"] == 2 and row["gflops"] > 0 and row["fraction"] > 0
        assert f"| {name} |" in proc.stdout
    assert proc.stdout.strip() == render(res)


def test_weight_gradients_land_in_grad_where_adam_reads_them():
    step = _rt1_step()
    w = step.stages[0].linear.weight
    w.grad = torch.zeros_like(w)
    product = next(p for p in step_products(step, 8) if p.what == "weight gradient 0")
    with torch.no_grad():
        out = product.run()
    assert out.data_ptr() == w.grad.data_ptr() and torch.equal(w.grad, product.expect())


@pytest.mark.parametrize("tool", ["benchmarks", "benchmarks.ablation"])
def test_every_tool_refuses_an_out_it_could_not_write_before_running(tool, tmp_path):
    for out, says in ((tmp_path / "missing" / "r.json", "does not exist"), (tmp_path, "is a folder")):
        proc = subprocess.run([sys.executable, "-m", tool, "--out", str(out)], cwd=REPO, capture_output=True,
                              text=True, timeout=120, check=False)
        assert proc.returncode == 2 and proc.stdout == "", proc.stderr
        assert proc.stderr.strip().count("\n") == 0 and says in proc.stderr


def test_without_fashion_mnist_the_steps_draw_seeded_uniform_pixels(monkeypatch):
    import benchmarks.data
    from benchmarks.bound import _data

    monkeypatch.setattr(benchmarks.data, "find_dir", lambda explicit=None: None)
    x, said = _data(Task(), 300, None)
    again, _ = _data(Task(), 300, None)
    assert x.shape == (300, 784) and x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1
    assert torch.equal(x, again) and "Fashion-MNIST not found" in said
