"""The run directory: the interface between `aegrad train` and every other command.

A run directory holds the resolved config, the logs (metrics.jsonl,
gradients.jsonl), the diagnosis (findings.json), the weights
(model.safetensors), the resume state (state.pt) and summary.json. Writers here
are atomic (temp file + rename) so a killed run never leaves a torn file.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aegrad.config import Config, load_config
from aegrad.errors import UserError, excerpt

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
    """A JSON file; a damaged one (not UTF-8, not JSON) is a one-line UserError naming it."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{p} is damaged (not valid JSON: {excerpt(err)}); rerun or resume the run") from None


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object (summary.json, findings.json)."""
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise UserError(f"{path} is damaged (a JSON {type(obj).__name__}, not an object); rerun or resume the run")
    return obj


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete record of a JSON-lines file (a torn last line from a kill, or a line that is no object,
    is skipped)."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.strip():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                out.append(record)
    return out


def _step_of(record: dict[str, Any]) -> float:
    """A record's step for truncation on resume (a record with no usable step sorts after every checkpoint)."""
    step = record.get("step", 0)
    return step if isinstance(step, (int, float)) and not isinstance(step, bool) else float("inf")


class JsonlWriter:
    """Appends one JSON object per line and flushes, so a crash keeps what was logged."""

    def __init__(self, path: Path, truncate_after_step: int | None = None, drop_epoch_at_cut: bool = False) -> None:
        """`truncate_after_step`: on resume, drop the records logged after the checkpoint's step, so the
        log matches a straight run; `drop_epoch_at_cut`: the checkpoint was taken mid-epoch, before the
        epoch record at its step was written, so such a record is dropped too."""
        self.path = Path(path)
        if truncate_after_step is not None:
            cut = truncate_after_step

            def keep(r: dict[str, Any]) -> bool:
                step = _step_of(r)
                return step < cut or (step == cut and not (drop_epoch_at_cut and r.get("kind") == "epoch"))

            kept = [r for r in read_jsonl(self.path) if keep(r)]
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
        if not p.exists():
            return {"healthy": True, "findings": []}
        found = read_json_object(p)
        if not isinstance(found.get("findings", []), list):
            raise UserError(f"{p} is damaged ('findings' is not a list); rerun or resume the run")
        return found

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
    summary = read_json_object(p / SUMMARY) if (p / SUMMARY).exists() else {}
    return Run(path=p, config=cfg, summary=summary)


# ---- a run's state as `diagnose` says it, and one writer per run folder


def run_state(path: str | Path) -> str:
    """"complete", the summary's "stopped: ..." reason, or "incomplete: ..." for a run that never finished."""
    p = Path(path)
    if not (p / SUMMARY).exists() or not (p / FINDINGS).exists():
        return (
            f"incomplete: the run did not finish (no {SUMMARY} / {FINDINGS}), so it has no diagnosis; "
            f"continue it with `aegrad train --resume {p}`"
        )
    reason = str(read_json_object(p / SUMMARY).get("stop_reason", "completed"))
    return reason if reason.startswith("stopped") else "complete"


_LOCKS: dict[str, int] = {}  # run folder (resolved) -> the open descriptor holding its lock in this process


def lock_run_dir(run_dir: str | Path) -> None:
    """Take the run folder's writer lock (``flock`` on the folder itself: no file is added), or refuse.

    The kernel drops the lock when its holder exits, however it ends, so a killed run's lock is
    simply taken over. A lock this process still holds (a training that raised) is retaken.
    """
    p = Path(run_dir)
    if not p.is_dir():
        raise UserError(f"{p} is not a folder; a run needs a folder of its own (pick another --out)")
    key = str(p.resolve())
    stale = _LOCKS.pop(key, None)
    if stale is not None:
        os.close(stale)
    fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UserError(
            f"{p} is in use: another aegrad process is training into it; wait for it to end or pick another --out"
        ) from None
    _LOCKS[key] = fd


def unlock_run_dir(run_dir: str | Path) -> None:
    """Release the writer lock this process holds on `run_dir` (nothing if it holds none)."""
    fd = _LOCKS.pop(str(Path(run_dir).resolve()), None)
    if fd is not None:
        os.close(fd)


def remove_new_run_dir(run_dir: str | Path) -> None:
    """Undo a run folder this process created when its set-up failed: our files, then the folder if empty."""
    p = Path(run_dir)
    for name in (CONFIG, METRICS, GRADIENTS, STATE, WEIGHTS):
        (p / name).unlink(missing_ok=True)
    for tmp in p.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    try:
        p.rmdir()
    except OSError:
        pass  # something else is in it now: not ours to remove
