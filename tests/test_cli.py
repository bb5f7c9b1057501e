"""The command line as a user runs it: subprocesses, exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pytest

from conftest import run_cli


def _assert_user_error(proc, needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0], lines[0]


def test_presets_command():
    proc = run_cli("presets")
    assert proc.returncode == 0
    names = [ln.split()[0] for ln in proc.stdout.splitlines()]
    assert names == sorted(names)
    assert set(names) >= {"digits-mlp", "fashion-conv", "fashion-mlp", "seed-reference"}  # others add theirs


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--set", "model.activaton=relu"], "unknown config key 'model.activaton'"),
        (["--set", "model.activation=relux"], "model.activation"),
        (["--set", "train.lr=-3"], "train.lr"),
        (["--set", "train.epochs=abc"], "train.epochs"),
        (["--config", "/nonexistent.yaml"], "config file not found"),
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--set", "data.source=npy", "--set", "data.path=/nonexistent.npy"], "/nonexistent.npy"),
        (["--set", "data.source=fashion-mnist", "--set", "data.path=/nonexistent-dir"], "fashion-mnist"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, needle):
    proc = run_cli("train", *args, "--out", str(tmp_path / "r"), "--quiet")
    _assert_user_error(proc, needle)


def test_malformed_npy_and_csv(tmp_path):
    bad_npy = tmp_path / "bad.npy"
    bad_npy.write_bytes(b"not an npy file")
    proc = run_cli("train", "--set", "data.source=npy", "--set", f"data.path={bad_npy}", "--quiet")
    _assert_user_error(proc, "bad.npy")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("1,2,3\n4,x,6\n7,8\n")
    proc = run_cli("train", "--set", "data.source=csv", "--set", f"data.path={bad_csv}", "--quiet")
    _assert_user_error(proc, "bad.csv")
    nan_npy = tmp_path / "nan.npy"
    np.save(nan_npy, np.array([[1.0, np.nan], [2.0, 3.0], [4.0, 5.0]]))
    proc = run_cli("train", "--set", "data.source=npy", "--set", f"data.path={nan_npy}", "--quiet")
    _assert_user_error(proc, "nan.npy")


def test_existing_out_is_not_overwritten(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    proc = run_cli("train", "--out", str(out), "--quiet")
    _assert_user_error(proc, "not empty")
    assert (out / "keep.txt").read_text() == "precious"


def test_train_eval_diagnose_report_rerun(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("train", "--set", "train.epochs=3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert str(out) in proc.stdout and "test_mse" in proc.stdout
    for name in ("config.yaml", "metrics.jsonl", "gradients.jsonl", "findings.json", "model.safetensors",
                 "state.pt", "summary.json", "report.html"):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    ev = run_cli("eval", str(out))
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads(ev.stdout)
    assert metrics["test_mse"] == pytest.approx(summary["test_mse"], rel=1e-5)
    assert metrics["trivial_mse"] == pytest.approx(summary["trivial_mse"], rel=1e-6)
    dj = run_cli("diagnose", str(out), "--json")
    assert dj.returncode == 0 and json.loads(dj.stdout) == json.loads((out / "findings.json").read_text())
    assert run_cli("diagnose", str(out)).returncode == 0
    rep = run_cli("report", str(out))
    assert rep.returncode == 0 and "report.html" in rep.stdout
    # the written config reruns the same training exactly
    again = tmp_path / "again"
    proc = run_cli("train", "--config", str(out / "config.yaml"), "--out", str(again), "--quiet", "--no-report")
    assert proc.returncode == 0, proc.stderr
    s2 = json.loads((again / "summary.json").read_text())
    assert s2["test_mse"] == summary["test_mse"]


def test_missing_run_dir():
    _assert_user_error(run_cli("eval", "/nonexistent/run"), "run directory not found")
    _assert_user_error(run_cli("diagnose", "/nonexistent/run"), "run directory not found")


# ---- usage errors, the summary, torchrun (in-process: no training needed)


def test_usage_errors_name_the_right_help(capsys):
    from aegrad.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["tran"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.rstrip().endswith("(see `aegrad --help`)") and "aegrad aegrad" not in err
    with pytest.raises(SystemExit):
        main(["train", "--preset", "digits-mlp", "--config", "x.yaml"])
    err = capsys.readouterr().err
    assert err.rstrip().endswith("(see `aegrad train --help`)") and len(err.strip().splitlines()) == 1


def _fake_run(tmp_path):
    from types import SimpleNamespace

    summary = {"test_mse": 0.0123456789, "trivial_mse": 0.07, "test_over_trivial": 0.17636684, "psnr": 21.5,
               "epochs": 3, "steps": 1200, "samples_per_s": 95192.34, "wall_s": 2.5, "stop_reason": "completed"}
    return SimpleNamespace(path=tmp_path / "run", summary=summary, findings={"healthy": True, "findings": []})


def test_train_summary_json_table_and_plain(tmp_path, capsys):
    from aegrad.cli import print_train_summary

    run = _fake_run(tmp_path)
    print_train_summary(run, as_json=True)
    doc = json.loads(capsys.readouterr().out)  # one JSON object, nothing else
    assert doc["run"] == str(run.path) and doc["test_mse"] == 0.0123457 and doc["steps"] == 1200
    assert doc["findings"] == {"healthy": True, "findings": []} and doc["stop_reason"] == "completed"
    print_train_summary(run, table=True)
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"run: {run.path}"
    rows = {ln.split("│")[1].strip(): ln.split("│")[2].strip() for ln in out.splitlines() if ln.count("│") == 3}
    assert "metric" in out and "value" in out  # the header
    assert rows["test_mse"] == "0.0123457" and rows["steps"] == "1,200" and len(rows) == 8
    assert rows["samples_per_s"] == "95192.3" and out.rstrip().endswith("healthy: no gradient-health findings")
    print_train_summary(run)  # piped: the path, then the metrics as JSON, then the findings
    out = capsys.readouterr().out
    body = out.split("\n", 1)[1].rsplit("healthy:", 1)[0]
    assert json.loads(body)["psnr"] == 21.5


def test_only_rank_0_prints(tmp_path, monkeypatch, capsys):
    import aegrad.api
    dist = importlib.import_module("aegrad.train.distributed")
    from aegrad.cli import main

    monkeypatch.setattr(aegrad.api, "train", lambda *a, **k: _fake_run(tmp_path))
    args = ["train", "--set", "train.compile=true", "--out", str(tmp_path / "r")]
    monkeypatch.setattr(dist, "is_rank0", lambda: False)
    assert main(args) == 0 and capsys.readouterr().out == ""
    assert main([*args, "--quiet"]) == 0 and capsys.readouterr().out == ""
    monkeypatch.setattr(dist, "is_rank0", lambda: True)
    assert main([*args, "--quiet"]) == 0 and capsys.readouterr().out == f"{tmp_path / 'run'}\n"
    assert main([*args, "--json"]) == 0 and json.loads(capsys.readouterr().out)["run"] == str(tmp_path / "run")


def test_train_summary_shows_the_objectives_terms_and_no_nan(tmp_path, capsys):
    """A token model has no MSE (NaN in summary.json): the JSON says null; the objective's test terms are shown."""
    from aegrad.cli import print_train_summary

    run = _fake_run(tmp_path)
    run.summary.update({"test_mse": math.nan, "trivial_mse": math.nan, "test_over_trivial": math.nan, "psnr": None,
                        "test_loss": 1.7751234, "test_ce": 1.7751234, "test_samples": 374})
    print_train_summary(run, as_json=True)
    doc = json.loads(capsys.readouterr().out)  # strict JSON: json.loads would accept NaN, so check the text too
    assert doc["test_mse"] is None and doc["test_loss"] == 1.77512 and doc["test_ce"] == 1.77512
    assert "test_samples" not in doc
    print_train_summary(run, as_json=True)
    assert "NaN" not in capsys.readouterr().out


def test_an_unknown_option_of_a_subcommand_points_at_that_subcommands_help(capsys):
    from aegrad.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["train", "--bogus"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1
    assert "unrecognized arguments: --bogus" in err[0] and err[0].endswith("(see `aegrad train --help`)")
