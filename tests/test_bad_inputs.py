"""The bad-input corpus: every case exits 2 with one line on stderr, no traceback, nothing changed on disk.

Cases run in-process through ``aegrad.cli.main`` (a subprocess costs ~2 s of imports each). Each case gets a
fresh folder; the folder's every file (name, bytes, mode) is compared before and after the command.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from aegrad.cli import main

TINY = ["--set", "data.limit=60", "--set", "data.test_limit=20", "--set", "model.widths=[8]",
        "--set", "model.latent=2", "--set", "train.epochs=1", "--set", "train.batch_size=32"]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under `root`: its kind, permission bits and (files) content hash."""
    out: dict[str, tuple] = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else None
        out[str(p.relative_to(root))] = (p.is_dir(), st.st_mode, digest)
    return out


def refuse(capsys, argv: list[str], root: Path, needle: str = "") -> str:
    """Run `aegrad ARGV`: exit 2, exactly one line on stderr (no traceback), `root` unchanged. The line."""
    before = snapshot(root)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors (one line, exit 2, see cli._Parser)
        code = exc.code
    _out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (argv, code, err)
    assert len(lines) == 1, (argv, err)
    assert "Traceback" not in err
    assert lines[0].startswith("aegrad: error: "), lines[0]
    assert len(lines[0]) < 1200, lines[0][:200]
    assert needle in lines[0], (needle, lines[0])
    assert snapshot(root) == before, f"{argv} changed {root}"
    return lines[0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A tiny finished run (digits, 60 samples, one epoch) that cases copy and damage."""
    import aegrad
    from aegrad.config import load_config

    out = tmp_path_factory.mktemp("good") / "run"
    cfg = load_config(overrides={"data.limit": 60, "data.test_limit": 20, "model.widths": [8], "model.latent": 2,
                                 "train.epochs": 1, "train.batch_size": 32, "monitor.sync_every": 1})
    aegrad.train(cfg, out=out, report=False)
    return out


# ------------------------------------------------------------------------------------------------ configs (--set)

NONFINITE_FIELDS = [
    "train.lr", "train.eps", "model.init_gain", "model.bias_init", "train.noise_level", "train.min_lr",
    "model.negative_slope", "train.momentum", "train.gamma", "train.clip_norm", "train.clip_value", "train.clip_agc",
    "train.l1", "train.l2", "train.weight_decay", "train.latent_l1", "train.checkpoint_interval_s", "train.alpha",
    "model.dropout", "data.test_fraction", "model.vae.sigma", "model.vae.beta", "model.vae.free_bits",
    "model.codec.lmbda",
]
SET_CASES = (
    [([f"{k}=.inf"], k) for k in NONFINITE_FIELDS]
    + [([f"{k}=.nan"], k) for k in ("train.lr", "train.eps", "model.init_gain", "model.bias_init", "train.noise_level",
                                     "train.min_lr", "model.negative_slope")]
    + [([f"{k}=1e39"], k) for k in ("train.lr", "model.bias_init", "train.noise_level", "model.init_gain")]
    + [(["model.bias_init=-.inf"], "model.bias_init")]
    + [([f"train.betas={v}"], "train.betas") for v in ("[0.9, 1.0]", "[-0.1, 0.9]", "[1.5, 0.9]", "[0.9]", "x",
                                                         "[.nan, 0.9]")]
    + [([f"seed={v}"], "seed") for v in (str(2**64), str(2**63), "-1", "1.5", "abc")]
    + [([f"model.widths={v}"], "model.widths") for v in ("[0]", "[-5]", "[]", "x", "[8, 0]")]
    + [(["model.vae.decoder_widths=[0]"], "decoder_widths"), (["model.kind=conv", "model.channels=[0]"], "channels"),
       (["model.kind=conv", "model.channels=[]"], "channels")]
    + [([f"name={v}"], "name") for v in ("../escape", "/abs/path", "a/b", "..", "a\\b")]
    + [([f"{k}={v}"], k) for k, v in (("train.epochs", "-1"), ("train.batch_size", "0"), ("train.accumulate", "0"),
                                       ("data.limit", "0"), ("model.depth", "0"), ("model.latent", "0"),
                                       ("train.lr", "0"), ("train.lr", "-3"), ("model.dropout", "1"),
                                       ("train.optimizer", "adamm"), ("model.activation", "relux"),
                                       ("data.normalize", "zscore"))]
    + [(["train.noise=masking", "train.noise_level=1.5"], "noise_level"),
       (["model.activaton=relu"], "unknown config key"), (["train=5"], "train"), (["train.lr.x=3"], "train.lr"),
       (["noequals"], "key=value"), (["=3"], "key=value"), (["data.source=npy"], "data.path"),
       (["data.labels_path=/x.npy"], "labels_path"), (["train.device=cuda"] if not torch.cuda.is_available()
                                                      else ["train.device=tpu"], "train.device")]
)


@pytest.mark.parametrize(("sets", "needle"), SET_CASES, ids=[" ".join(s) for s, _ in SET_CASES])
def test_bad_set_values(capsys, tmp_path, sets, needle):
    argv = ["train", *[a for s in sets for a in ("--set", s)], "--out", str(tmp_path / "r"), "--quiet"]
    refuse(capsys, argv, tmp_path, needle)


# ------------------------------------------------------------------------------------------------ config files

def _alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


CONFIG_FILES: dict[str, tuple[bytes, str]] = {
    "latin1": ("train:\n  lr: 0.001 # caf\xe9\n".encode("latin-1"), "UTF-8"),
    "binary": (bytes(range(256)) * 4, "binary"),
    "png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "binary"),
    "utf16": ("train:\n  lr: 0.001\n".encode("utf-16"), "config file"),
    "list": (b"- 1\n- 2\n", "mapping"),
    "scalar": (b"hello\n", "mapping"),
    "unclosed": (b"train: [\n", "not valid YAML"),
    "tabs": (b"train:\n\tlr: 0.1\n", "not valid YAML"),
    "duplicate": (b"train:\n  lr: 0.1\n  lr: 0.2\n", "duplicate key 'lr'"),
    "duplicate_top": (b"seed: 1\nseed: 2\n", "duplicate key 'seed'"),
    "alias_bomb": (_alias_bomb().encode(), "expands to more than"),
    "alias_bomb_small": (b'a: &a ["x","x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
                         b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                         b"e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n", "expands to more than"),
    "python_tag": (b"train: !!python/object/apply:os.system ['echo hi']\n", "not valid YAML"),
    "deep": (b"[" * 3000 + b"]" * 3000, "config"),
    "huge": (b"# pad\n" * 200_000, "bytes; at most"),
    "unknown_section": (b"trian:\n  lr: 0.1\n", "unknown config key 'trian'"),
    "section_scalar": (b"train: 5\n", "train"),
    "inf_lr": (b"train:\n  lr: .inf\n", "train.lr"),
    "nan_gain": (b"model:\n  init_gain: .nan\n", "model.init_gain"),
    "widths_zero": (b"model:\n  widths: [0]\n", "model.widths"),
    "name_escape": (b"name: ../../etc\n", "name"),
    "long_value": (b"model:\n  activation: " + b"x" * 5000 + b"\n", "model.activation"),
}


@pytest.mark.parametrize("case", list(CONFIG_FILES))
def test_bad_config_files(capsys, tmp_path, case):
    content, needle = CONFIG_FILES[case]
    path = tmp_path / "cfg.yaml"
    path.write_bytes(content)
    line = refuse(capsys, ["train", "--config", str(path), "--out", str(tmp_path / "r"), "--quiet"], tmp_path, needle)
    assert "lol" * 3 not in line and "x" * 200 not in line  # a short excerpt at most


@pytest.mark.parametrize("case", ["missing", "folder", "preset_and_config", "unknown_preset"])
def test_bad_config_sources(capsys, tmp_path, case):
    (tmp_path / "d").mkdir()
    argv = {
        "missing": ["--config", str(tmp_path / "nope.yaml")],
        "folder": ["--config", str(tmp_path / "d")],
        "preset_and_config": ["--preset", "digits-mlp", "--config", str(tmp_path / "d")],
        "unknown_preset": ["--preset", "nope"],
    }[case]
    refuse(capsys, ["train", *argv, "--out", str(tmp_path / "r"), "--quiet"], tmp_path)


# ------------------------------------------------------------------------------------------------ data files

def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _npy_header_only(shape: tuple[int, ...]) -> bytes:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': %r, }" % (shape,)
    header += " " * (118 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 64


GOOD = np.random.default_rng(0).random((20, 4))
DATA_FILES: dict[str, tuple[str, bytes, list[str]]] = {
    # name: (file name, content, extra --set)
    "csv_text": ("d.csv", b"1,2,3\n4,x,6\n7,8,9\n", []),
    "csv_ragged": ("d.csv", b"1,2,3\n4,5,6\n7,8\n", []),
    "csv_empty": ("d.csv", b"", []),
    "csv_blank": ("d.csv", b"\n\n\n", []),
    "csv_one_row": ("d.csv", b"1,2,3\n", []),
    "csv_header_only": ("d.csv", b"a,b,c\n", []),
    "csv_overflow_f32": ("d.csv", b"1,2\n3,1e39\n5,6\n7,8\n", []),
    "csv_nan": ("d.csv", b"1,2\n3,nan\n5,6\n", []),
    "csv_inf": ("d.csv", b"1,2\n3,inf\n5,6\n", []),
    "csv_latin1": ("d.csv", "1,2\n3,4\ncaf\xe9,5\n".encode("latin-1"), []),
    "csv_binary": ("d.csv", bytes(range(256)), []),
    "csv_label_range": ("d.csv", b"1,2\n3,4\n5,6\n", ["data.label_column=5"]),
    "csv_label_float": ("d.csv", b"1,2.5\n3,4\n5,6\n", ["data.label_column=-1"]),
    "npy_not_npy": ("d.npy", b"not an npy file at all", []),
    "npy_truncated": ("d.npy", _npy_bytes(GOOD)[:100], []),
    "npy_huge_header": ("d.npy", _npy_header_only((10**12, 10**3)), []),
    "npy_strings": ("d.npy", _npy_bytes(np.array([["a", "b"], ["c", "d"], ["e", "f"]])), []),
    "npy_object": ("d.npy", b"", []),  # filled below: a pickled object array
    "npy_zero_features": ("d.npy", _npy_bytes(np.zeros((10, 0))), []),
    "npy_1d": ("d.npy", _npy_bytes(np.arange(10.0)), []),
    "npy_5d": ("d.npy", _npy_bytes(np.zeros((2, 1, 2, 2, 2))), []),
    "npy_one_sample": ("d.npy", _npy_bytes(np.zeros((1, 4))), []),
    "npy_overflow_f32": ("d.npy", _npy_bytes(np.array([[1.0, 2.0], [3.0, 1e39], [5.0, 6.0]])), []),
    "npy_nan": ("d.npy", _npy_bytes(np.array([[1.0, np.nan], [3.0, 4.0], [5.0, 6.0]])), []),
    "npy_neg_inf": ("d.npy", _npy_bytes(np.array([[1.0, -np.inf], [3.0, 4.0], [5.0, 6.0]])), []),
    "npy_complex": ("d.npy", _npy_bytes(np.ones((4, 2), dtype=np.complex64)), []),
    "npy_labels_short": ("d.npy", _npy_bytes(GOOD), ["data.labels_path=LABELS"]),
    "npy_label_column": ("d.npy", _npy_bytes(GOOD), ["data.label_column=0"]),
}
_obj = np.empty((3, 2), dtype=object)  # saved with allow_pickle=True by the test: reading it must not unpickle
_obj[:] = "x"


@pytest.mark.parametrize("case", list(DATA_FILES))
def test_bad_data_files(capsys, tmp_path, case):
    name, content, extra = DATA_FILES[case]
    path = tmp_path / name
    if case == "npy_object":
        np.save(path, _obj, allow_pickle=True)
    else:
        path.write_bytes(content)
    labels = tmp_path / "labels.npy"
    np.save(labels, np.arange(5))
    source = "npy" if name.endswith(".npy") else "csv"
    sets = [f"data.source={source}", f"data.path={path}", *[s.replace("LABELS", str(labels)) for s in extra]]
    argv = ["train", *[a for s in sets for a in ("--set", s)], "--set", "data.normalize=minmax",
            "--out", str(tmp_path / "r"), "--quiet"]
    refuse(capsys, argv, tmp_path)


@pytest.mark.parametrize("case", ["missing_file", "folder_as_csv", "images_empty", "images_not_images",
                                  "missing_folder"])
def test_bad_data_paths(capsys, tmp_path, case):
    (tmp_path / "imgs").mkdir()
    if case == "images_not_images":
        (tmp_path / "imgs" / "a.png").write_bytes(b"not a png")
        (tmp_path / "imgs" / "b.png").write_bytes(b"not a png either")
    sets = {
        "missing_file": ["data.source=csv", f"data.path={tmp_path / 'none.csv'}"],
        "folder_as_csv": ["data.source=csv", f"data.path={tmp_path / 'imgs'}"],
        "images_empty": ["data.source=images", f"data.path={tmp_path / 'imgs'}"],
        "images_not_images": ["data.source=images", f"data.path={tmp_path / 'imgs'}"],
        "missing_folder": ["data.source=images", f"data.path={tmp_path / 'none'}"],
    }[case]
    argv = ["train", *[a for s in sets for a in ("--set", s)], "--out", str(tmp_path / "r"), "--quiet"]
    refuse(capsys, argv, tmp_path)


# ------------------------------------------------------------------------------------------------ run folders

class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/aegrad-pwned",))


def _state_without_model(d: Path) -> None:
    torch.save({"step": 1}, d / "state.pt")


RUN_DAMAGE: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    # name: (what is done to a copy of a finished run, the command run on it; DIR is the copy)
    "state_truncated": (lambda d: (d / "state.pt").write_bytes((d / "state.pt").read_bytes()[:200]),
                        ["train", "--resume", "DIR"]),
    "state_empty": (lambda d: (d / "state.pt").write_bytes(b""), ["train", "--resume", "DIR"]),
    "state_garbage": (lambda d: (d / "state.pt").write_bytes(os.urandom(512)), ["train", "--resume", "DIR"]),
    "state_malicious": (lambda d: torch.save({"x": _Evil()}, d / "state.pt"), ["train", "--resume", "DIR"]),
    "state_no_model": (_state_without_model, ["train", "--resume", "DIR"]),
    "state_missing": (lambda d: (d / "state.pt").unlink(), ["train", "--resume", "DIR"]),
    "state_folder": (lambda d: ((d / "state.pt").unlink(), (d / "state.pt").mkdir()), ["train", "--resume", "DIR"]),
    "resume_other_shape": (lambda d: None, ["train", "--resume", "DIR", "--set", "model.latent=3"]),
    "resume_bad_set": (lambda d: None, ["train", "--resume", "DIR", "--set", "train.lr=.inf"]),
    "resume_with_out": (lambda d: None, ["train", "--resume", "DIR", "--out", "DIR-other"]),
    "resume_with_preset": (lambda d: None, ["train", "--resume", "DIR", "--preset", "digits-mlp"]),
    "resume_config_garbage": (lambda d: (d / "config.yaml").write_bytes(b"\0\1\2"), ["train", "--resume", "DIR"]),
    "resume_no_config": (lambda d: (d / "config.yaml").unlink(), ["train", "--resume", "DIR"]),
    "out_not_empty": (lambda d: None, ["train", "--out", "DIR"]),
    "summary_not_json_eval": (lambda d: (d / "summary.json").write_text("{oops"), ["eval", "DIR"]),
    "summary_not_json_diagnose": (lambda d: (d / "summary.json").write_text("{oops"), ["diagnose", "DIR"]),
    "summary_list_report": (lambda d: (d / "summary.json").write_text("[1, 2]"), ["report", "DIR"]),
    "summary_binary": (lambda d: (d / "summary.json").write_bytes(b"\xff\xfe\0"), ["diagnose", "DIR"]),
    "findings_not_json": (lambda d: (d / "findings.json").write_text("nope"), ["diagnose", "DIR"]),
    "findings_list": (lambda d: (d / "findings.json").write_text("[]"), ["diagnose", "DIR"]),
    "findings_bad_list": (lambda d: (d / "findings.json").write_text('{"findings": 5}'), ["diagnose", "DIR"]),
    "findings_not_json_report": (lambda d: (d / "findings.json").write_text("{"), ["report", "DIR"]),
    "weights_truncated": (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:64]),
                          ["eval", "DIR"]),
    "weights_garbage": (lambda d: (d / "model.safetensors").write_bytes(b"garbage" * 20), ["eval", "DIR"]),
    "weights_missing": (lambda d: (d / "model.safetensors").unlink(), ["eval", "DIR"]),
    "config_garbage_eval": (lambda d: (d / "config.yaml").write_text("model: [\n"), ["eval", "DIR"]),
    "config_list_diagnose": (lambda d: (d / "config.yaml").write_text("- 1\n"), ["diagnose", "DIR"]),
    "config_unknown_key": (lambda d: (d / "config.yaml").write_text("trian: {}\n"), ["diagnose", "DIR"]),
    "no_config_diagnose": (lambda d: (d / "config.yaml").unlink(), ["diagnose", "DIR"]),
    "missing_eval": (lambda d: shutil.rmtree(d), ["eval", "DIR"]),
    "missing_report": (lambda d: shutil.rmtree(d), ["report", "DIR"]),
    "file_as_run_diagnose": (lambda d: (shutil.rmtree(d), d.write_text("x")), ["diagnose", "DIR"]),
}


@pytest.mark.parametrize("case", list(RUN_DAMAGE))
def test_damaged_run_folders(capsys, tmp_path, trained_run, case):
    damage, argv = RUN_DAMAGE[case]
    d = tmp_path / "run"
    shutil.copytree(trained_run, d)
    damage(d)
    argv = [a.replace("DIR", str(d)) for a in argv]
    if argv[0] == "train":
        argv += ["--quiet", "--no-report"]
    refuse(capsys, argv, tmp_path)
    assert not Path("/tmp/aegrad-pwned").exists()


# ------------------------------------------------------------------------------------------------ paths

@pytest.mark.parametrize("case", ["out_is_file", "out_under_file", "out_dev_null", "out_name_too_long",
                                  "out_component_too_long", "resume_missing", "resume_file"])
def test_bad_paths(capsys, tmp_path, case):
    (tmp_path / "afile").write_text("x")
    argv = {
        "out_is_file": ["--out", str(tmp_path / "afile")],
        "out_under_file": ["--out", str(tmp_path / "afile" / "run")],
        "out_dev_null": ["--out", "/dev/null"],
        "out_name_too_long": ["--out", str(tmp_path / ("n" * 300))],
        "out_component_too_long": ["--out", str(tmp_path / ("n" * 300) / "run")],
        "resume_missing": ["--resume", str(tmp_path / "none")],
        "resume_file": ["--resume", str(tmp_path / "afile")],
    }[case]
    refuse(capsys, ["train", *TINY, *argv, "--quiet", "--no-report"], tmp_path)


# ------------------------------------------------------------------------------------------------ study specs

SPECS: dict[str, bytes] = {
    "unknown_base_preset": b"name: s\nbase:\n  preset: nope\n",
    "missing_base_config": b"name: s\nbase:\n  config: none.yaml\n",
    "not_mapping": b"- a\n- b\n",
    "not_yaml": b"name: [\n",
    "duplicate": b"name: s\nname: t\n",
    "unknown_key": b"name: s\ngrdi: {}\n",
    "binary": b"\0\1\2\3",
    "alias_bomb": _alias_bomb().encode(),
}


@pytest.mark.parametrize("case", list(SPECS))
def test_bad_study_specs(capsys, tmp_path, case):
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(SPECS[case])
    refuse(capsys, ["study", str(spec), "--out", str(tmp_path / "st"), "--jobs", "1"], tmp_path)


@pytest.mark.parametrize("case", ["missing", "both", "neither", "unknown_builtin", "jobs_zero", "out_is_file"])
def test_bad_study_commands(capsys, tmp_path, case):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: s\nbase:\n  preset: digits-mlp\n  overrides: {train.epochs: 0}\n")
    (tmp_path / "afile").write_text("x")
    argv = {
        "missing": ["study", str(tmp_path / "none.yaml")],
        "both": ["study", str(spec), "--builtin", "vanishing"],
        "neither": ["study"],
        "unknown_builtin": ["study", "--builtin", "nope"],
        "jobs_zero": ["study", str(spec), "--jobs", "0", "--out", str(tmp_path / "st")],
        "out_is_file": ["study", str(spec), "--jobs", "1", "--out", str(tmp_path / "afile")],
    }[case]
    refuse(capsys, argv, tmp_path)


def test_corpus_size():
    """The issue asks for at least 100 cases across configs, data, run folders, specs and paths."""
    n = len(SET_CASES) + len(CONFIG_FILES) + 4 + len(DATA_FILES) + 5 + len(RUN_DAMAGE) + 7 + len(SPECS) + 6
    assert n >= 100, n
