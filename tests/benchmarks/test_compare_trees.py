"""benchmarks.compare_trees: one tree against itself trains bit-identically across processes; the tree before the
house refactor and this one give the same results; bad input is one line; the masking masks timings only."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks.compare_trees import first_difference, main, mask_timings, normalise

REPO = Path(__file__).resolve().parents[2]
SRC = str(REPO / "src")
OLD_COMMIT = "5d586f4"  # the last commit before the house refactor (one home per family)
WAMERICAN = Path("/usr/share/dict/american-english")


def test_a_tree_against_itself_is_identical(capsys):
    assert main(["results", SRC, SRC, "--only", "accum-clip"]) == 0
    out = capsys.readouterr().out
    assert "accum-clip       identical" in out and "1 of 1 configs identical" in out


def test_unknown_config_and_bad_pairs_are_one_line(capsys):
    assert main(["results", SRC, SRC, "--only", "nope"]) == 2
    assert main(["speed", SRC, SRC, "--pairs", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "unknown config 'nope'" in err[0] and "--pairs" in err[1]


def test_every_preset_is_a_config(capsys):
    presets = sorted(p.stem for p in (REPO / "src" / "aegrad" / "presets").glob("*.yaml"))
    assert main(["results", SRC, SRC, "--only", "nope"]) == 2
    valid = capsys.readouterr().err.split("valid: ")[1].strip().split(", ")
    assert set(presets) <= set(valid) and {"accum-clip", "diverge"} <= set(valid)


def test_timings_and_paths_are_masked_and_nothing_else():
    record = {"kind": "epoch", "train_loss": 0.5, "wall_s": 1.25, "nested": [{"samples_per_s": 9e4, "steps": 3}]}
    assert mask_timings(record) == {"kind": "epoch", "train_loss": 0.5, "wall_s": "<timing>",
                                    "nested": [{"samples_per_s": "<timing>", "steps": 3}]}
    run, src = Path("/tmp/x/run"), "/nonexistent/src"
    text = ('{\n  "run": "/tmp/x/run",\n  "wall_s": 0.88,\n  "test_mse": 0.03\n}\n'
            "trained 46 steps in 1.5 s (12,000 samples/s)\n/nonexistent/src/aegrad/train/loop.py:120: UserWarning")
    assert normalise(text, run, src) == ('{\n  "run": "<RUN>",\n  "wall_s": "<timing>",\n  "test_mse": 0.03\n}\n'
                                         "trained 46 steps in <timing> (<timing>)\n<SRC>: UserWarning")


def test_first_difference_names_the_place():
    assert first_difference({"a": [1, {"b": 2.0}]}, {"a": [1, {"b": 2.0}]}) is None
    assert first_difference([float("nan")], [float("nan")]) is None
    assert first_difference({"a": [1, {"b": 2.0}]}, {"a": [1, {"b": 2.5}]}) == "a[1].b: 2.0 vs 2.5"
    assert first_difference({"a": 1, "b": 2}, {"b": 2, "a": 1}) == ".: key order ['a', 'b'] vs ['b', 'a']"
    assert first_difference([1], [1.0]) == "[0]: 1 vs 1.0"
    assert first_difference([1, 2], [1]) == ": 2 vs 1 items"
    assert first_difference([0.3], [0.3 + 1e-16], rel=1e-14) is None and first_difference([0.3], [0.3 + 1e-16])


@pytest.fixture(scope="module")
def old_src(tmp_path_factory) -> str:
    """The source tree at OLD_COMMIT, extracted with ``git archive`` (nothing in this clone is written)."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed: the tree before the refactor cannot be extracted")
    known = subprocess.run([git, "-C", str(REPO), "cat-file", "-e", f"{OLD_COMMIT}^{{commit}}"], capture_output=True)
    if known.returncode != 0:
        pytest.skip(f"commit {OLD_COMMIT} (the last before the refactor) is not in this clone (a shallow clone?)")
    dest = tmp_path_factory.mktemp("old")
    archive = subprocess.run([git, "-C", str(REPO), "archive", OLD_COMMIT, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return str(dest / "src")


@pytest.mark.skipif(not WAMERICAN.is_file(), reason="Debian's wamerican is not installed (text-words reads it)")
def test_the_tree_before_the_refactor_gives_the_same_results(old_src, capsys):
    """Weights, findings.json, metrics.jsonl, gradients.jsonl and summary.json (timings masked) of a loop path
    (accumulation and clipping) and of the text preset (the seq family, its data source and objective)."""
    assert main(["results", old_src, SRC, "--only", "accum-clip,text-words"]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 configs identical" in out, out


@pytest.mark.slow
def test_the_cli_mode_against_itself_is_identical(capsys):
    assert main(["cli", SRC, SRC, "--only", "deep-sigmoid"]) == 0
    out = capsys.readouterr().out
    assert "deep-sigmoid     identical" in out and "exit train=0/0 eval=0/0 diagnose=0/0" in out, out
