"""benchmarks.compare_trees: one tree against itself trains bit-identically across processes; bad input is one line."""

from __future__ import annotations

from pathlib import Path

from benchmarks.compare_trees import main

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_a_tree_against_itself_is_identical(capsys):
    assert main(["results", SRC, SRC, "--only", "accum-clip"]) == 0
    out = capsys.readouterr().out
    assert "accum-clip       identical" in out and "1 of 1 configs identical" in out


def test_unknown_config_and_bad_pairs_are_one_line(capsys):
    assert main(["results", SRC, SRC, "--only", "nope"]) == 2
    assert main(["speed", SRC, SRC, "--pairs", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "unknown config 'nope'" in err[0] and "--pairs" in err[1]
