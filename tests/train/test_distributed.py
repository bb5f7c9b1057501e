"""DDP on CPU (gloo): two processes equal one process with the same global batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import aegrad


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SETS = ["data.limit=512", "train.epochs=2", "train.optimizer=sgd", "train.lr=0.1", "train.momentum=0.9",
        "monitor.sync_every=4"]


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", "-m", "aegrad", "train", "--quiet", "--no-report", "--out", str(out),
           "--set", "train.batch_size=32"]
    for s in SETS:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    overrides = dict(s.split("=", 1) for s in SETS)
    overrides["train.batch_size"] = "64"  # the same global batch in one process
    cfg = aegrad.load_config(overrides={k: aegrad.config.parse_value(v) for k, v in overrides.items()})
    aegrad.train(cfg, out=tmp_path / "single", report=False)
    a = load_file(str(out / "model.safetensors"))
    b = load_file(str(tmp_path / "single" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-5)
    # only rank 0 wrote logs: one epoch line per epoch
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert sum('"kind": "epoch"' in ln for ln in lines) == 2
