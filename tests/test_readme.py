"""The README stays true: its Python examples run, and its config table lists every key with its default."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import aegrad.config as c

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(marker: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"<!-- {marker} -->\s*```python\n(.*?)```", text, flags=re.S)


def test_monitor_example_runs_and_finds_vanishing(tmp_path):
    (block,) = _blocks("test: monitor-example")
    script = tmp_path / "example.py"
    script.write_text(block)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "vanishing_gradient" in proc.stdout


def _config_table():
    spec = importlib.util.spec_from_file_location("config_table", README.parent / "docs" / "config_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_table_lists_every_key_with_its_default():
    text = README.read_text(encoding="utf-8")
    rows = list(_config_table().config_rows())
    keys = [k for k, *_ in rows]
    assert "model.vae.beta" in keys and "train.lr" in keys and "model.vae" not in keys  # sub-sections expanded
    assert len(keys) == len(set(keys))
    for key, default, _, _ in rows:
        row = re.search(rf"^\| `{re.escape(key)}` \| `([^`]*)` \|", text, flags=re.M)
        assert row, f"README config table lacks {key}"
        assert row.group(1) == default, f"{key}: README says {row.group(1)}, config says {default}"
    # and it lists no key the config does not have
    listed = re.findall(r"^\| `((?:data|model|train|monitor)\.[a-z0-9_.]+)` \| `", text, flags=re.M)
    assert sorted(set(listed) - set(keys)) == []


def test_every_config_key_has_a_comment():
    assert all(comment for _, _, comment, _ in _config_table().config_rows())
