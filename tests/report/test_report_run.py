"""The single-run report: PNG plots and one self-contained report.html, drawn from a run directory alone.

The fixture writes a realistic run directory by hand (config, metrics, summary,
findings, and a briefly trained model), so these tests do not depend on the
training loop.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from aegrad.config import dump_yaml, load_config, parse_set_args, parse_value
from aegrad.diagnose import GradientMonitor
from aegrad.diagnose.patches import format_patch
from aegrad.errors import UserError
from aegrad.report import render_run_report, write_plots, write_report, write_run_report
from aegrad.run import (
    CONFIG,
    FINDINGS,
    GRADIENTS,
    METRICS,
    PLOTS,
    RECONSTRUCTIONS,
    REPORT,
    SUMMARY,
    WEIGHTS,
    write_json,
)
from aegrad.train.artifacts import write_reconstructions

SUMMARY_VALUES = {
    "test_mse": 0.0123,
    "trivial_mse": 0.0641,
    "test_over_trivial": 0.1919,
    "psnr": 19.1,
    "epochs": 3,
    "steps": 1234,
    "samples_per_s": 45678.9,
    "train_s": 70.0,
    "wall_s": 83.4,
    "findings": 2,
    "healthy": False,
    "stop_reason": "completed",
}
# How the report must show each summary value.
FORMATTED = {
    "test_mse": "0.0123",
    "trivial_mse": "0.0641",
    "test_over_trivial": "0.192",
    "psnr": "19.10 dB",
    "epochs": "3",
    "steps": "1,234",
    "samples_per_s": "45,679",
    "wall_s": "1 min 23 s",
    "stop_reason": "completed",
}
FINDINGS_VALUES = {
    "healthy": False,
    "findings": [
        {
            "kind": "vanishing_gradients",
            "severity": "error",
            "layers": ["encoder.0", "encoder.1"],
            "evidence": {
                "first_over_last_grad_norm": 3.2e-9,
                "windows": 12,
                "note": "ratio < 1e-6 <all windows>",
                "grad_rms": {"encoder.0": 1.234567e-12, "encoder.1": 5.0e-8},
            },
            "explanation": "The first layers' gradients are 1e-9 of the last layer's: early layers do not learn.",
            "remedies": [
                {"patch": {"model.activation": "leaky_relu", "model.init": "kaiming_normal"}, "why": "keeps gain ~1"},
                {"patch": {"model.residual": True}, "why": "identity paths carry the gradient"},
            ],
        },
        {
            "kind": "loss_plateau",
            "severity": "warning",
            "layers": [],
            "evidence": "test MSE within 5% of the trivial MSE for 3 epochs",
            "explanation": "The model predicts about the mean.",
            "remedies": [{"patch": {"model.widths": [64, 32], "train.clip_norm": None}, "why": "narrower & easier"}],
        },
    ],
}


def _train_tiny_model(cfg, steps: int = 150):
    """A model trained briefly on the run's data (reconstructions look like digits), and its gradient records."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only contend on a shared machine
    try:
        return _train(cfg, steps)
    finally:
        torch.set_num_threads(threads)


def _train(cfg, steps: int):
    from aegrad.data import load_dataset
    from aegrad.models import create_model

    torch.manual_seed(0)
    ds = load_dataset(cfg.data, cfg.seed)
    model = create_model(cfg.model, ds.sample_shape)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    monitor = GradientMonitor(model, sync_every=25, activation_every=25)
    records = []
    for i in range(steps):
        x = ds.train_x[(i * 64) % (len(ds.train_x) - 64) :][:64]
        loss = ((model(x)["x_hat"] - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        monitor.step(loss)
        opt.step()
        records += monitor.drain()
    monitor.flush()
    records += monitor.drain()
    monitor.close()
    return model, ds, records


def make_run(root: Path, *, model: bool = True, lr_schedule: bool = True, train_steps: int = 150) -> Path:
    """Write a fake-but-realistic digits run directory under `root` and return it."""
    from aegrad.models import save_model

    run = root / "digits-mlp-20250101-120000"
    run.mkdir(parents=True)
    cfg = load_config(overrides={"train.epochs": 3, "train.schedule": "cosine" if lr_schedule else "constant"})
    (run / CONFIG).write_text(dump_yaml(cfg), encoding="utf-8")
    lines, steps_per_epoch = [], 400
    for s in range(50, 3 * steps_per_epoch + 1, 50):
        lr = 0.003 * (0.5 + 0.5 * math.cos(math.pi * s / 1234)) if lr_schedule else 0.003
        lines.append({"kind": "step", "epoch": (s - 1) // steps_per_epoch, "step": s,
                      "loss": 0.06 * math.exp(-s / 300) + 0.01, "lr": lr, "grad_norm": 0.5})
        if s % steps_per_epoch == 0:
            e = s // steps_per_epoch
            lines.append({"kind": "epoch", "epoch": e, "step": s, "train_loss": 0.06 * math.exp(-s / 300) + 0.011,
                          "test_mse": 0.013 + 0.01 / e, "lr": lr, "wall_s": 27.8 * e})
    lines.append({"kind": "step", "epoch": 3, "step": 1234, "loss": float("nan"), "lr": 0.0, "grad_norm": 1.0})
    (run / METRICS).write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    write_json(run / SUMMARY, SUMMARY_VALUES)
    write_json(run / FINDINGS, FINDINGS_VALUES)
    if model:
        net, ds, grad_records = _train_tiny_model(cfg, train_steps)
        extra = {f"normalizer.{k}": v for k, v in ds.normalizer.state_dict().items()}
        save_model(net, run / WEIGHTS, cfg.model, ds.sample_shape, extra)
        write_reconstructions(run, net, ds)
        (run / GRADIENTS).write_text("".join(json.dumps(r) + "\n" for r in grad_records), encoding="utf-8")
    return run


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("runs"))


@pytest.fixture
def run_dir(base_run, tmp_path) -> Path:
    """A private copy of the module's run, free to change."""
    return Path(shutil.copytree(base_run, tmp_path / base_run.name))


def _png_ok(path: Path) -> tuple[int, int]:
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def test_write_plots_draws_every_plot(run_dir):
    had_pyplot = "matplotlib.pyplot" in sys.modules
    written = write_plots(run_dir)
    names = {p.name for p in written}
    assert names == {"loss.png", "lr.png", "reconstructions.png", "gradflow.png", "gradflow_layers.png"}
    assert all(p.parent == run_dir / PLOTS for p in written)
    for p in written:
        w, h = _png_ok(p)
        assert w > 100 and h > 100
    # The reconstruction grid is wide: 8 columns over 2 rows.
    w, h = _png_ok(run_dir / PLOTS / "reconstructions.png")
    assert w > 2 * h
    with Image.open(run_dir / PLOTS / "reconstructions.png") as im:
        lo, hi = im.convert("L").getextrema()
    assert hi - lo > 150  # white strokes on black: real digits, not a blank canvas
    if not had_pyplot:
        assert "matplotlib.pyplot" not in sys.modules  # figures are drawn without pyplot's global state


def test_lr_plot_only_when_lr_varies(tmp_path):
    run = make_run(tmp_path, model=False, lr_schedule=False)
    # The constant-lr run still logs lr 0.0 on its last (NaN) step: drop it to keep lr constant.
    recs = [json.loads(x) for x in (run / METRICS).read_text().splitlines()]
    (run / METRICS).write_text("".join(json.dumps(r) + "\n" for r in recs if r.get("lr") != 0.0))
    names = {p.name for p in write_plots(run)}
    assert names == {"loss.png"}  # no model: no reconstructions and no gradient records


def test_missing_inputs_skip_plots_and_sections(run_dir):
    for name in (METRICS, SUMMARY, FINDINGS, WEIGHTS, GRADIENTS, RECONSTRUCTIONS):
        (run_dir / name).unlink(missing_ok=True)
    assert write_plots(run_dir) == []
    out = write_run_report(run_dir)
    text = out.read_text(encoding="utf-8")
    assert "not diagnosed" in text
    assert "No summary.json" in text
    assert "No loss plot" in text
    assert "No gradient-flow plots" in text and "monitor.enabled was false" in text
    assert "No reconstructions" in text
    assert "data:image/png" not in text


def test_non_image_model_has_no_reconstructions(tmp_path):
    from aegrad.data import load_dataset
    from aegrad.models import create_model

    run = make_run(tmp_path, model=False)
    cfg = load_config(overrides={"data.source": "random", "data.samples": 50, "data.dim": 12})
    (run / CONFIG).write_text(dump_yaml(cfg), encoding="utf-8")
    write_reconstructions(run, create_model(cfg.model, (12,)), load_dataset(cfg.data, cfg.seed))
    assert (run / RECONSTRUCTIONS).is_file()
    assert "reconstructions.png" not in {p.name for p in write_plots(run)}


def test_rgb_reconstructions_keep_their_colours(tmp_path):
    import numpy as np

    from aegrad.data import load_dataset
    from aegrad.models import create_model

    # 3-channel images: half pure red, half pure blue, in 0..255 data units.
    x = np.zeros((20, 3, 8, 8), dtype=np.uint8)
    x[::2, 0] = 255
    x[1::2, 2] = 255
    np.save(tmp_path / "rgb.npy", x)
    run = make_run(tmp_path / "runs", model=False)
    cfg = load_config(overrides={"data.source": "npy", "data.path": str(tmp_path / "rgb.npy")})
    (run / CONFIG).write_text(dump_yaml(cfg), encoding="utf-8")
    write_reconstructions(run, create_model(cfg.model, (3, 8, 8)), load_dataset(cfg.data, cfg.seed))
    (tmp_path / "rgb.npy").unlink()  # the report draws from the run directory alone
    assert "reconstructions.png" in {p.name for p in write_plots(run)}
    with Image.open(run / PLOTS / "reconstructions.png") as im:
        px = np.asarray(im.convert("RGB")).astype(int)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    assert ((r > 200) & (g < 50) & (b < 50)).sum() > 100  # red inputs drawn red (channels not swapped)
    assert ((b > 200) & (r < 50) & (g < 50)).sum() > 100


def test_missing_or_torn_reconstructions_skip_the_plot(run_dir):
    (run_dir / RECONSTRUCTIONS).write_bytes(b"PK\x03\x04 torn")
    names = {p.name for p in write_plots(run_dir)}
    assert "reconstructions.png" not in names and "loss.png" in names
    (run_dir / RECONSTRUCTIONS).unlink()
    (run_dir / PLOTS / "reconstructions.png").unlink(missing_ok=True)
    assert "reconstructions.png" not in {p.name for p in write_plots(run_dir)}
    assert "No reconstructions" in render_run_report(run_dir)


def test_pretraining_and_epoch_only_metrics_are_drawn(tmp_path):
    run = make_run(tmp_path, model=False)
    recs = [{"kind": "pretrain", "stage": s, "epoch": e, "loss": 0.05 / (s + e)} for s in (1, 2) for e in (1, 2)]
    recs += [{"kind": "epoch", "epoch": 1, "step": 10, "train_loss": 0.04, "test_mse": 0.05, "lr": 0.001}]
    (run / METRICS).write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    written = write_plots(run)
    assert [p.name for p in written] == ["loss.png"]
    w, h = _png_ok(written[0])
    assert w > 1.8 * h  # the second (pretraining) panel widens the figure


def test_report_is_self_contained_and_shows_every_value(run_dir):
    out = write_report(run_dir)  # what `aegrad report RUN_DIR` runs: write_plots, then write_run_report
    assert out == run_dir / REPORT
    written = list((run_dir / PLOTS).glob("*.png"))
    assert len(written) == 5
    text = out.read_text(encoding="utf-8")

    assert f"<h1>{run_dir.name}</h1>" in text
    assert "2 findings: vanishing_gradients, loss_plateau" in text
    for key, shown in FORMATTED.items():
        assert re.search(rf'<td class="num">{re.escape(html.escape(shown))}</td>', text), (key, shown)
    for f in FINDINGS_VALUES["findings"]:
        assert f["kind"] in text
        for r in f["remedies"]:
            assert html.escape(format_patch(r["patch"])) in text
    assert "--set model.activation=leaky_relu --set model.init=kaiming_normal" in text
    assert "--set model.residual=true" in text
    assert "--set &#x27;model.widths=[64, 32]&#x27; --set train.clip_norm=null" in text
    assert "3.2e-09" in text  # evidence numbers, formatted
    assert "encoder.0: 1.235e-12, encoder.1: 5e-08" in text
    # Text from the run is escaped, never markup.
    assert "&lt;all windows&gt;" in text and "<all windows>" not in text
    assert "narrower &amp; easier" in text
    # The config, collapsible.
    assert "<details>" in text and "source: digits" in text
    gradient_section = text[text.index("<h2>Gradient flow</h2>") : text.index("<h2>Findings</h2>")]
    assert gradient_section.count("data:image/png;base64,") == 2

    # Every plot inlined as a PNG data URI that decodes; nothing fetched from anywhere.
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(uris) == len(written)
    for data in uris:
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            assert im.size[0] > 0
    assert "http://" not in text and "https://" not in text
    assert not re.search(r'(src|href)="(?!data:)', text)
    assert "<script" not in text.lower()


def test_healthy_run_verdict(run_dir):
    write_json(run_dir / FINDINGS, {"healthy": True, "findings": []})
    text = render_run_report(run_dir)
    assert '<p class="verdict healthy">healthy</p>' in text
    assert "No findings" in text


def test_unfinished_run_summary_from_metrics(run_dir):
    (run_dir / SUMMARY).unlink()
    text = render_run_report(run_dir)
    assert "No summary.json" in text
    assert '<td class="num">0.01633</td>' in text  # the last epoch's test_mse: 0.013 + 0.01/3
    assert '<td class="num">1,200</td>' in text  # its step


@pytest.mark.parametrize(
    "patch",
    [
        {"model.activation": "leaky_relu"},
        {"train.lr": 0.0003, "train.clip_norm": 1.0},
        {"model.residual": True, "model.norm": "batch"},
        {"model.widths": [64, 32], "train.clip_norm": None},
        {"train.lr": 1e-10, "train.accumulate": 4},
    ],
)
def test_remedy_fragments_round_trip_through_the_cli_parser(patch):
    words = shlex.split(format_patch(patch))
    assert words[::2] == ["--set"] * len(patch)
    parsed = {k: parse_value(v) for k, v in parse_set_args(words[1::2]).items()}
    assert parsed == patch


def test_write_report_rejects_other_folders(tmp_path):
    with pytest.raises(UserError, match="neither a run directory"):
        write_report(tmp_path)


def test_gradient_plots_without_monitor_records(run_dir):
    (run_dir / GRADIENTS).write_text("", encoding="utf-8")  # monitor on, but no window synced
    assert not any(p.name.startswith("gradflow") for p in write_plots(run_dir))
    assert "gradients.jsonl holds no complete monitor window" in render_run_report(run_dir)
