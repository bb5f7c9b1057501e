"""Text runs trained end to end (slow: two small trainings on the fortunes corpus, ~1 min on 2 busy cores)."""

from __future__ import annotations

import json

import pytest

import aegrad
from aegrad.cli import main
from aegrad.diagnose import Kind
from aegrad.models.seq.findings import vanishing_through_time

pytestmark = pytest.mark.slow
KIND = Kind.VANISHING_THROUGH_TIME


def detect_vanishing_through_time(metrics, config):
    return [f.to_dict() for f in vanishing_through_time(metrics, config)]


SMALL = {"model.seq.hidden": 64, "model.seq.embed": 32, "model.latent": 16, "data.limit": 640, "data.test_limit": 128,
         "train.batch_size": 32, "train.lr": 0.005, "train.epochs": 4, "monitor.enabled": False}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    try:
        aegrad.load_dataset(aegrad.load_config(preset="text-fortunes").data, 0)
    except aegrad.UserError:
        pytest.skip("Debian package fortunes is not installed")
    root = tmp_path_factory.mktemp("text")
    return {cell: aegrad.train(aegrad.load_config(preset="text-fortunes", overrides={**SMALL, "model.seq.cell": cell}),
                               out=root / cell, report=False) for cell in ("rnn", "gru")}


def test_tanh_rnn_on_long_lines_vanishes_through_time_and_gru_does_not(runs):
    rnn = detect_vanishing_through_time(runs["rnn"].metrics, runs["rnn"].config)
    gru = detect_vanishing_through_time(runs["gru"].metrics, runs["gru"].config)
    assert [f["kind"] for f in rnn] == [KIND] and rnn[0]["remedies"][0]["patch"] == {"model.seq.cell": "gru"}
    assert gru == []
    assert runs["gru"].summary["test_tgrad_ratio"] > 1e3 * runs["rnn"].summary["test_tgrad_ratio"]


def test_probe_beats_the_majority_class_widely(runs):
    from aegrad.apps.text.probe import probe_text
    from aegrad.apps.text.run import open_text_run

    r = probe_text(open_text_run(runs["gru"].path))
    assert r["classes"] == 6 and r["latent_logistic"] > r["majority_class"] + 0.15, r
    assert r["tfidf_logistic"] > r["majority_class"] + 0.15, r


def test_cli_compress_decompress_round_trip_and_generation(runs, tmp_path, capsys):
    from aegrad.apps.text.run import open_text_run

    lines = open_text_run(runs["gru"].path).test_lines[:20] + ["Ünïcode line ☃ outside the vocabulary"]
    src = tmp_path / "in.txt"
    src.write_text("".join(s + "\n" for s in lines), encoding="utf-8")
    run = str(runs["gru"].path)
    assert main(["text-compress", run, str(src), "-o", str(tmp_path / "c.aetx")]) == 0
    assert "bits/char" in capsys.readouterr().out
    assert main(["text-decompress", run, str(tmp_path / "c.aetx"), "-o", str(tmp_path / "out.txt")]) == 0
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == src.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["text-sample", run, "-n", "3", "--seed", "1"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4  # the prior's line and 3 samples
    assert main(["text-interpolate", run, "--between", "0", "1", "--steps", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 5
    assert main(["text-eval", run, "--limit", "30"]) == 0
    out = capsys.readouterr().out
    assert all(m in out for m in ("aegrad", "gzip", "bzip2", "xz", "zstd"))
    assert main(["text-eval", run, "--limit", "30", "--reconstruction-only", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["lines"] == 30 and 0 <= r["exact_match"] <= 1 and 0 <= r["char_accuracy"] <= 1 and "methods" not in r
    assert main(["text-probe", str(tmp_path / "nope")]) == 2
    capsys.readouterr()
    # the generic commands hand a text run to apps/text
    assert main(["sample", run, "-n", "2"]) == 0 and len(capsys.readouterr().out.strip().splitlines()) == 3
    assert main(["interpolate", run, "--between", "0", "1", "--steps", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4
    assert main(["probe", run]) == 0 and "tf-idf" in capsys.readouterr().out
