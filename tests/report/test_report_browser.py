"""report.html rendered by a real browser (headless Chromium): the DOM, the console, a screenshot.

Skipped where Chromium is not installed (Debian's `chromium` package puts it at /usr/bin/chromium).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aegrad.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
WINDOW = (1200, 2000)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed")


def _make_run(root: Path) -> Path:
    # The run-directory fixture lives beside this file; loaded by path so no package layout is assumed.
    spec = importlib.util.spec_from_file_location("_report_fixture", Path(__file__).with_name("test_report_run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.make_run(root, train_steps=50)  # two monitor windows; the browser needs no better digits


def _chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *extra,
        url,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_report_renders_in_chromium(tmp_path):
    run = _make_run(tmp_path / "runs")
    report = write_report(run)
    n_plots = len(list((run / "plots").glob("*.png")))
    shot = tmp_path / "shot.png"

    # One browser run: the DOM after loading, and a screenshot of the first screenful.
    proc = _chromium(
        tmp_path,
        report.resolve().as_uri(),
        "--dump-dom",
        "--hide-scrollbars",
        f"--screenshot={shot}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout

    # The DOM: the summary table with its values, every plot as an inline PNG, the findings.
    assert re.search(r'<table class="metrics">.*test MSE.*0\.0123.*</table>', dom, re.S)
    imgs = re.findall(r"<img [^>]*>", dom)
    assert len(imgs) == n_plots >= 3
    assert all('src="data:image/png;base64,' in tag for tag in imgs)
    assert dom.count('class="finding ') == 2
    assert "<details>" in dom

    # The console: Chromium logs every console message as an INFO:CONSOLE line (errors included).
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == []

    # The screenshot: the window's size, and the loss plot's orange test-MSE curve drawn in it,
    # so the inlined PNGs decoded and rendered.
    with Image.open(shot) as im:
        assert im.size == WINDOW
        rgb = im.convert("RGB")
        px = np.asarray(rgb).astype(int)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    orange = int(((r > 220) & (g > 100) & (g < 160) & (b < 60)).sum())
    assert orange > 200
