"""Reliability: exit statuses, one writer per run folder, a killed run resumes and says it is incomplete,
nothing half-written, YAML with limits, and a small hypothesis fuzz of the config loader and the data readers."""

from __future__ import annotations

import fcntl
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

import aegrad
from aegrad import safeyaml
from aegrad.cli import main
from aegrad.config import load_config
from aegrad.data.files import _load_csv, _load_npy
from aegrad.data.idx import parse_idx
from aegrad.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_STOPPED, EXIT_TRIALS_FAILED, UserError
from aegrad.run import read_jsonl

SMALL = {"data.limit": 120, "data.test_limit": 40, "model.widths": [16], "model.latent": 4, "train.batch_size": 32,
         "monitor.sync_every": 2, "train.log_every": 2}
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _sets(over: dict) -> list[str]:
    return [a for k, v in over.items() for a in ("--set", f"{k}={json.dumps(v)}")]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model.safetensors"))


def _records(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in read_jsonl(run / "metrics.jsonl")]


# ------------------------------------------------------------------------------------------------ exit statuses

def test_exit_3_when_the_nan_guard_stops_the_run(tmp_path, capsys):
    over = {**SMALL, "train.lr": 1e30, "model.output": "identity",
            "train.nan_patience": 1, "train.max_rollbacks": 0, "train.epochs": 2}
    code = main(["train", *_sets(over), "--out", str(tmp_path / "r"), "--quiet", "--no-report"])
    assert code == EXIT_STOPPED == 3
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["stop_reason"].startswith("stopped: non-finite")
    assert capsys.readouterr().out.strip() == str(tmp_path / "r")  # --quiet still prints the run folder


def test_exit_0_for_early_stopping(tmp_path):
    over = {**SMALL, "train.epochs": 3, "train.patience": 1, "train.lr": 1e-9}
    assert main(["train", *_sets(over), "--out", str(tmp_path / "r"), "--quiet", "--no-report"]) == 0


def test_exit_4_for_a_study_with_failed_trials(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: s\nbase:\n  preset: digits-mlp\ngrid:\n  model.nope: [1, 2]\n")
    assert main(["study", str(spec), "--out", str(tmp_path / "st"), "--jobs", "1"]) == EXIT_TRIALS_FAILED == 4
    assert "FAILED" in capsys.readouterr().out


def test_exit_130_when_interrupted(monkeypatch, capsys):
    import aegrad.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "presets", interrupted)
    assert main(["presets"]) == EXIT_INTERRUPTED == 130
    assert capsys.readouterr().err.strip() == "aegrad: interrupted"


def test_statuses_are_distinct():
    assert len({0, EXIT_BAD_INPUT, EXIT_STOPPED, EXIT_TRIALS_FAILED, EXIT_INTERRUPTED}) == 5


# ------------------------------------------------------------------------------------------------ one writer

@pytest.fixture
def finished_run(tmp_path) -> Path:
    aegrad.train(load_config(overrides={**SMALL, "train.epochs": 1}), out=tmp_path / "run", report=False)
    return tmp_path / "run"


def test_a_second_writer_is_refused_and_a_killed_holder_is_taken_over(finished_run, capsys):
    """A process holding the folder's lock refuses `train --resume`; killed (-9), its lock is gone with it."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY);"
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(120)", str(finished_run)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = sorted((p.name, p.stat().st_mtime_ns) for p in finished_run.iterdir())
        code = main(["train", "--resume", str(finished_run), "--set", "train.epochs=2", "--quiet", "--no-report"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and "in use" in err and len(err.splitlines()) == 1
        assert sorted((p.name, p.stat().st_mtime_ns) for p in finished_run.iterdir()) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert main(["train", "--resume", str(finished_run), "--set", "train.epochs=2", "--quiet", "--no-report"]) == 0
    assert json.loads((finished_run / "summary.json").read_text())["epochs"] == 2


def test_the_lock_is_held_while_training_and_released_after(finished_run, tmp_path):
    seen = []

    class Probe(aegrad.Callback):
        def on_epoch_end(self, record):
            fd = os.open(tmp_path / "new", os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                seen.append("free")
            except BlockingIOError:
                seen.append("held")
            finally:
                os.close(fd)

    aegrad.train(load_config(overrides={**SMALL, "train.epochs": 1}), out=tmp_path / "new", report=False,
                 callbacks=[Probe()])
    assert seen == ["held"]
    fd = os.open(tmp_path / "new", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when training ended
    os.close(fd)


# ------------------------------------------------------------------------------------------------ killed runs

def test_a_run_killed_before_its_first_checkpoint_resumes_exactly(finished_run, tmp_path, capsys):
    """What a kill in the first second leaves (config + partial logs, no state.pt): diagnose says incomplete,
    --resume trains it to the very weights and metrics of an uninterrupted run."""
    killed = tmp_path / "killed"
    shutil.copytree(finished_run, killed)
    for name in ("state.pt", "model.safetensors", "summary.json", "findings.json", "reconstructions.npz"):
        (killed / name).unlink()
    (killed / "metrics.jsonl").write_text((finished_run / "metrics.jsonl").read_text().splitlines()[0] + "\n{\"torn")
    (killed / ".model.safetensors.x.tmp").write_bytes(b"partial")
    assert main(["diagnose", str(killed)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("incomplete") and "healthy" not in out.lower()
    assert main(["train", "--resume", str(killed), "--quiet", "--no-report"]) == 0
    a, b = _weights(finished_run), _weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _records(killed) == _records(finished_run)
    assert not list(killed.glob(".*.tmp"))


def test_diagnose_names_a_stopped_run(tmp_path, capsys):
    over = {**SMALL, "train.lr": 1e30, "model.output": "identity",
            "train.nan_patience": 1, "train.max_rollbacks": 0, "train.epochs": 1}
    main(["train", *_sets(over), "--out", str(tmp_path / "r"), "--quiet", "--no-report"])
    capsys.readouterr()
    assert main(["diagnose", str(tmp_path / "r")]) == 0
    assert "stopped: non-finite" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------------ nothing half-written

def test_a_set_up_that_fails_after_the_folder_exists_removes_it(tmp_path, monkeypatch):
    loop = importlib.import_module("aegrad.train.loop")  # (aegrad.train is also the function)

    def fails(*args, **kwargs):
        raise UserError("pretraining refused")

    monkeypatch.setattr(loop, "pretrain_layerwise", fails)
    cfg = load_config(overrides={**SMALL, "train.pretrain": "layerwise"})
    with pytest.raises(UserError):
        aegrad.train(cfg, out=tmp_path / "new", report=False)
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(UserError):
        aegrad.train(cfg, out=tmp_path / "mine", report=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"  # a folder we did not create stays


def test_resume_with_a_damaged_checkpoint_leaves_config_yaml_alone(finished_run, capsys):
    before = (finished_run / "config.yaml").read_bytes()
    (finished_run / "state.pt").write_bytes(b"\0" * 10)
    assert main(["train", "--resume", str(finished_run), "--set", "train.epochs=5", "--quiet"]) == 2
    assert (finished_run / "config.yaml").read_bytes() == before


# ------------------------------------------------------------------------------------------------ inputs read right

def test_csv_with_a_byte_order_mark_keeps_its_first_row(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufeff1,2\n3,4\n5,6\n".encode())
    assert _load_csv(p).tolist() == [[1, 2], [3, 4], [5, 6]]
    p.write_bytes("\ufeffa,b\n3,4\n5,6\n".encode())
    assert _load_csv(p).tolist() == [[3, 4], [5, 6]]


def test_yaml_limits():
    with pytest.raises(UserError, match="duplicate key 'lr'"):
        safeyaml.load("train:\n  lr: 1\n  lr: 2\n")
    base = "a: &a {x: 1, y: 2}\nb:\n  <<: *a\n  y: 3\n"  # a merge key may override: not a duplicate
    assert safeyaml.load(base) == {"a": {"x": 1, "y": 2}, "b": {"x": 1, "y": 3}}
    bomb = 'a: &a ["l","l","l","l","l","l","l","l","l"]\n' + "".join(
        f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}" if i > 1 else "*a"] * 9) + "]\n" for i in range(1, 10))
    t0 = time.perf_counter()
    with pytest.raises(UserError, match="expands to more than") as err:
        safeyaml.load(bomb)
    assert time.perf_counter() - t0 < 2 and len(str(err.value)) < 200
    with pytest.raises(UserError, match="nested more than"):
        safeyaml.load("[" * 5000)
    with pytest.raises(UserError, match="not valid YAML"):
        safeyaml.load("!!python/object/apply:os.system ['true']")
    with pytest.raises(UserError, match="UTF-8"):
        safeyaml.load(b"a: caf\xe9")


# ------------------------------------------------------------------------------------------------ fuzz

@FUZZ
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_fuzz_config_loader(tmp_path, content):
    p = tmp_path / "c.yaml"
    p.write_bytes(content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content)
    try:
        cfg = load_config(path=p)
    except UserError as err:
        assert "\n" not in str(err) and len(str(err)) < 1000
    else:
        assert cfg.train.lr > 0


@FUZZ
@given(st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                                   st.text(alphabet="0123456789.e-x, ", max_size=6)), min_size=1, max_size=4),
                max_size=6), st.booleans())
def test_fuzz_csv_reader(tmp_path, rows, bom):
    text = "\n".join(",".join(str(v) for v in row) for row in rows) + "\n"
    p = tmp_path / "d.csv"
    p.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    try:
        arr = _load_csv(p)
    except UserError as err:
        assert "\n" not in str(err)
    else:
        assert arr.ndim == 2 and arr.dtype == np.float64


@FUZZ
@given(st.binary(max_size=200), st.booleans())
def test_fuzz_npy_reader(tmp_path, tail, with_magic):
    p = tmp_path / "d.npy"
    p.write_bytes((b"\x93NUMPY\x01\x00" if with_magic else b"") + tail)
    try:
        arr = _load_npy(p)
    except UserError as err:
        assert "\n" not in str(err)
    else:
        assert isinstance(arr, np.ndarray) and arr.dtype != object


@FUZZ
@given(st.binary(max_size=64), st.sampled_from([b"", b"\x00\x00\x08\x01", b"\x00\x00\x08\x02", b"\x00\x00\x0d\x03"]))
def test_fuzz_idx_parser(data, magic):
    try:
        arr = parse_idx(magic + data)
    except UserError as err:
        assert "\n" not in str(err)
    else:
        assert isinstance(arr, np.ndarray)


def test_eval_names_an_incomplete_run(finished_run, capsys):
    (finished_run / "summary.json").unlink()  # what a kill after a checkpoint leaves: weights, no summary
    assert main(["eval", str(finished_run)]) == 0
    assert json.loads(capsys.readouterr().out)["state"].startswith("incomplete")


def test_a_model_too_large_for_memory_is_refused_before_anything_is_allocated(tmp_path, capsys):
    """Counted on the meta device: 784 x 1e9 weights need ~2.4 TB; one line, exit 2, no folder."""
    from aegrad.cli import main

    out = tmp_path / "huge"
    assert main(["train", "--set", "model.widths=[1000000000]", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "GiB" in err[0] and "model.widths" in err[0]
    assert not out.exists()
