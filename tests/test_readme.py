"""The README stays true: its Python examples run, and its config table lists every key with its default."""

from __future__ import annotations

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


def test_config_table_lists_every_key_with_its_default():
    text = README.read_text(encoding="utf-8")
    for section, cls in (("data", c.DataConfig), ("model", c.ModelConfig), ("train", c.TrainConfig),
                         ("monitor", c.MonitorConfig)):
        inst = cls()
        for name in cls.model_fields:
            row = re.search(rf"^\| `{section}\.{name}` \| `([^`]*)` \|", text, flags=re.M)
            assert row, f"README config table lacks {section}.{name}"
            d = getattr(inst, name)
            want = "null" if d is None else str(d).lower() if isinstance(d, bool) else (
                str(list(d)) if isinstance(d, (list, tuple)) else str(d))
            assert row.group(1) == want, f"{section}.{name}: README says {row.group(1)}, config says {want}"
