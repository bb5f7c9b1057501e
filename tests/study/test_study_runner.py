"""Running studies for real on digits with tiny models: results, resume, failures, sweeps, the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

import aegrad.api
from conftest import run_cli
from aegrad.errors import UserError
from aegrad.study import load_spec, parse_spec, run_study

TINY = {
    "data.source": "digits",
    "data.limit": 300,
    "data.test_limit": 100,
    "model.width": 8,
    "model.latent": 4,
    "train.epochs": 1,
    "train.batch_size": 64,
    "monitor.sync_every": 2,
}


def _tiny_spec(**extra):
    data = {
        "name": "tiny",
        "base": {"preset": "digits-mlp", "overrides": dict(TINY)},
        "grid": {"model.depth": [1, 2]},
        "bundles": {"relu": {"model.activation": "relu"}, "tanh": {"model.activation": "tanh"}},
        "seeds": [0],
    }
    data.update(extra)
    return parse_spec(data)


@pytest.fixture
def count_trainings(monkeypatch):
    """Wrap aegrad.api.train (what an in-process trial, jobs=1, calls) to count the trainings run."""
    calls = []
    real = aegrad.api.train

    def counting(cfg, out=None, **kw):
        calls.append(Path(out).name)
        return real(cfg, out=out, **kw)

    monkeypatch.setattr(aegrad.api, "train", counting)
    return calls


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_study_writes_results_and_resumes(tmp_path, count_trainings):
    out = tmp_path / "study"
    result = run_study(_tiny_spec(), out=out, jobs=1)
    assert sorted(count_trainings) == ["relu-depth1-s0", "relu-depth2-s0", "tanh-depth1-s0", "tanh-depth2-s0"]
    assert not result.failed and len(result.trials) == 4
    for name in ("results.csv", "results.json", "report.html", "spec.yaml"):
        assert (out / name).is_file()
    rows = _csv(out / "results.csv")
    assert list(rows[0])[:5] == ["trial", "bundle", "seed", "status", "model.depth"]
    assert {"test_mse", "trivial_mse", "wall_s", "grad_ratio_start", "grad_ratio_end", "findings", "error"} <= set(
        rows[0]
    )
    assert [r["trial"] for r in rows] == ["relu-depth1-s0", "relu-depth2-s0", "tanh-depth1-s0", "tanh-depth2-s0"]
    assert all(r["status"] == "ok" and float(r["test_mse"]) > 0 for r in rows)
    assert all(float(r["grad_ratio_start"]) > 0 and float(r["grad_ratio_end"]) > 0 for r in rows)
    doc = json.loads((out / "results.json").read_text())
    assert doc["trials"][1]["overrides"]["model.depth"] == 2
    assert doc["trials"][1]["overrides"]["model.activation"] == "relu"
    # each trial is a normal run directory
    assert (out / "trials" / "tanh-depth2-s0" / "summary.json").is_file()
    cfg = yaml.safe_load((out / "trials" / "tanh-depth2-s0" / "config.yaml").read_text())
    assert cfg["model"]["depth"] == 2 and cfg["model"]["activation"] == "tanh"

    # a rerun trains nothing; a trial without its summary (killed) is rerun alone
    count_trainings.clear()
    run_study(_tiny_spec(), out=out, jobs=1)
    assert count_trainings == []
    (out / "trials" / "relu-depth2-s0" / "summary.json").unlink()
    run_study(_tiny_spec(), out=out, jobs=1)
    assert count_trainings == ["relu-depth2-s0"]
    assert [r["trial"] for r in _csv(out / "results.csv")] == [r["trial"] for r in rows]

    # a changed spec that maps to the same folder is refused, not silently mixed
    changed = _tiny_spec(base={"preset": "digits-mlp", "overrides": {**TINY, "model.latent": 3}})
    with pytest.raises(UserError, match="another config .*model.latent"):
        run_study(changed, out=out, jobs=1)


def test_failing_trials_are_recorded_and_the_rest_complete(tmp_path):
    spec = _tiny_spec(
        grid={},
        bundles={
            "good": {"model.activation": "relu"},
            "badkey": {"model.activation": "sigmoidal"},  # invalid value: fails before training
            "badpath": {"data.source": "npy", "data.path": str(tmp_path / "missing.npy")},  # fails in the worker
        },
    )
    out = tmp_path / "study"
    result = run_study(spec, out=out, jobs=2)  # the process pool
    rows = {r["trial"]: r for r in _csv(out / "results.csv")}
    assert rows["good-s0"]["status"] == "ok" and float(rows["good-s0"]["test_mse"]) > 0
    assert rows["badkey-s0"]["status"] == "failed" and "model.activation" in rows["badkey-s0"]["error"]
    assert rows["badpath-s0"]["status"] == "failed" and "missing.npy" in rows["badpath-s0"]["error"]
    assert all("\n" not in r["error"] for r in rows.values())
    assert len(result.failed) == 2
    assert (out / "trials" / "badpath-s0" / "failed.json").is_file()
    html = (out / "report.html").read_text()
    for trial in rows:
        assert trial in html


def test_sweep_picks_the_best_value_and_holds_it(tmp_path):
    spec = _tiny_spec(
        bundles={"sgd": {"train.optimizer": "sgd", "train.lr": 0.5}},
        tune={"key": "train.lr", "values": [1e-6, 0.3], "at": {"model.depth": 1}, "metric": "test_mse"},
    )
    out = tmp_path / "study"
    result = run_study(spec, out=out, jobs=1)
    assert result.sweep["chosen"] == {"sgd": {"train.lr": 0.3}}
    sweep = _csv(out / "lr_sweep.csv")
    assert [(r["trial"], r["tune_value"], r["chosen"]) for r in sweep] == [
        ("sgd-lr1e-06", "1e-06", "False"),
        ("sgd-lr0.3", "0.3", "True"),
    ]
    for t in ("sgd-depth1-s0", "sgd-depth2-s0"):
        assert yaml.safe_load((out / "trials" / t / "config.yaml").read_text())["train"]["lr"] == 0.3
    assert (out / "tune" / "sgd-lr0.3" / "summary.json").is_file()
    assert json.loads((out / "results.json").read_text())["tuned"] == {"sgd": {"train.lr": 0.3}}


def test_a_sweep_at_every_point_chooses_per_point(tmp_path):
    spec = _tiny_spec(
        bundles={"sgd": {"train.optimizer": "sgd", "train.lr": 0.5}},
        tune={"key": "train.lr", "values": [1e-6, 0.3], "every_point": True, "metric": "test_mse"},
    )
    out = tmp_path / "study"
    result = run_study(spec, out=out, jobs=1)
    points = sorted(result.sweep["chosen"])
    assert points == ["sgd@depth1", "sgd@depth2"]  # one sweep per grid point
    for point in points:
        depth = point.removeprefix("sgd@")
        rows = {r["tune_value"]: float(r["test_mse"]) for r in _csv(out / "lr_sweep.csv")
                if r["trial"].startswith(f"sgd-{depth}-")}
        best = min(rows, key=rows.get)  # the value with the lower test MSE at that point
        assert result.sweep["chosen"][point] == {"train.lr": float(best)}
        cfg = yaml.safe_load((out / "trials" / f"sgd-{depth}-s0" / "config.yaml").read_text())
        assert cfg["train"]["lr"] == float(best)


def test_a_spec_s_own_thread_count_is_kept(tmp_path):
    spec = _tiny_spec(grid={}, bundles={"one": {"train.threads": 1}, "auto": {}})
    out = tmp_path / "study"
    run_study(spec, out=out, jobs=1)  # one job on this machine's cores: cores // 1 threads unless the spec says
    one = yaml.safe_load((out / "trials" / "one-s0" / "config.yaml").read_text())["train"]["threads"]
    auto = yaml.safe_load((out / "trials" / "auto-s0" / "config.yaml").read_text())["train"]["threads"]
    from aegrad.study.runner import available_cores

    assert one == 1 and auto == available_cores()


def test_cli_study_list_run_and_report(tmp_path):
    listed = run_cli("study", "--list")
    assert listed.returncode == 0 and "vanishing" in listed.stdout and "optimizers" in listed.stdout
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "cli",
        "base": {"preset": "digits-mlp", "overrides": TINY},
        "bundles": {"relu": {"model.activation": "relu"}},
    }))
    out = tmp_path / "study"
    done = run_cli("study", str(spec), "--jobs", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(out)
    (out / "report.html").unlink()
    rep = run_cli("report", str(out))
    assert rep.returncode == 0, rep.stderr
    assert (out / "report.html").is_file()
    bad = run_cli("study", str(tmp_path / "nope.yaml"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not found" in bad.stderr


def test_jobs_must_be_positive(tmp_path):
    with pytest.raises(UserError, match="--jobs"):
        run_study(_tiny_spec(), out=tmp_path / "s", jobs=0)


def test_load_spec_needs_exactly_one_source():
    with pytest.raises(UserError):
        load_spec()
