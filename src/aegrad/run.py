"""The run directory: the interface between `aegrad train` and every other command.

A run directory holds the resolved config, the logs (metrics.jsonl,
gradients.jsonl), the diagnosis (findings.json), the weights
(model.safetensors), the resume state (state.pt) and summary.json. Writers here
are atomic (temp file + rename) so a killed run never leaves a torn file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aegrad.config import Config, load_config
from aegrad.errors import UserError

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
GRADIENTS = "gradients.jsonl"
FINDINGS = "findings.json"
WEIGHTS = "model.safetensors"
STATE = "state.pt"
SUMMARY = "summary.json"
PLOTS = "plots"
REPORT = "report.html"
RECONSTRUCTIONS = "reconstructions.npz"  # first test samples and their reconstructions, for the report
SAMPLES = "samples"  # VAE: samples.png (grid of prior samples) and samples.npz ("images": (n, *sample_shape))
INTERPOLATION = "interpolation"  # VAE: interpolation.png (latent strip) and .npz ("images", "between": (i, j))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temp file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=True) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a JSON-lines file (a torn last line from a kill is skipped)."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


class JsonlWriter:
    """Appends one JSON object per line and flushes, so a crash keeps what was logged."""

    def __init__(self, path: Path, truncate_after_step: int | None = None) -> None:
        self.path = Path(path)
        if truncate_after_step is not None:
            # On resume, drop records logged after the checkpoint so the log matches a straight run.
            kept = [r for r in read_jsonl(self.path) if int(r.get("step", 0)) <= truncate_after_step]
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        self._f = self.path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps(record) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def default_run_dir(cfg: Config, root: str | Path = "runs") -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{cfg.name or 'run'}-{stamp}"
    path, i = base, 1
    while path.exists():
        path = base.with_name(f"{base.name}-{i}")
        i += 1
    return path


@dataclass
class Run:
    """A finished (or partly finished) run directory, loaded lazily."""

    path: Path
    config: Config
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def findings(self) -> dict[str, Any]:
        p = self.path / FINDINGS
        return read_json(p) if p.exists() else {"healthy": True, "findings": []}

    @property
    def metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path / METRICS)

    @property
    def gradients(self) -> list[dict[str, Any]]:
        from aegrad.diagnose.records import read_records  # lazily: run.py sits below diagnose

        return read_records(self.path / GRADIENTS)

    @property
    def model(self):  # -> Autoencoder (imported lazily: run.py sits below models in the graph)
        from aegrad.models import load_model

        if not (self.path / WEIGHTS).exists():
            raise UserError(f"{self.path} has no {WEIGHTS}: the run did not save weights")
        model, _cfg, _shape, _extra = load_model(self.path / WEIGHTS)
        model.eval()
        return model

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, test_mse={self.summary.get('test_mse')})"


def load_run(path: str | Path) -> Run:
    """Open a run directory written by `aegrad train`."""
    p = Path(path)
    if not p.is_dir():
        raise UserError(f"run directory not found: {p}")
    if not (p / CONFIG).exists():
        raise UserError(f"{p} is not a run directory (no {CONFIG})")
    cfg = load_config(path=p / CONFIG)
    summary = read_json(p / SUMMARY) if (p / SUMMARY).exists() else {}
    return Run(path=p, config=cfg, summary=summary)
