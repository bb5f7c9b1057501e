"""A probe: a short training of a (patched) config, read back as a small typed result.

Probes run in worker processes through the study runner's ``execute_trial`` (it trains into a
folder and never raises for a failing trial); this module builds their configs and reads their
summary.json / findings.json. Every probe of one doctor session starts from the same seed, so a
patch that leaves the architecture alone starts from the same initial weights and sees the same
data order: the difference between two probes is the patch, not luck.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aegrad.config import Config, apply_overrides, validate
from aegrad.run import FINDINGS, SUMMARY, read_json
from aegrad.study.layout import FAILED
from aegrad.study.runner import execute_trial  # trains into a folder, never raises for a failing trial

# A probe's monitor syncs at least this often (in steps), so a probe of a few epochs still yields
# enough windows for the detectors' "sustained over the second half" tests.
PROBE_SYNC_EVERY = 10
# Default probe length, in batches (not seconds: the same config gets the same probes on a loaded
# machine): the full run when it has at most this many, else as many whole epochs as fit (at least 1).
# Short probes favour large learning rates (the loss falls faster early and flattens later), so a probe
# as long as the run ranks remedies by what the run will reach; 1000 batches of a small MLP take ~1-3 s.
PROBE_MAX_BATCHES = 1000


@dataclass
class ProbeResult:
    """One probe: what was changed, what it reached, what the diagnosis said."""

    name: str  # "baseline", "noise" (the baseline with another seed), or the candidate's name
    patch: dict[str, Any]  # dotted config keys changed against the user's config ({} for the baseline)
    status: str = "pending"  # ok | failed | pending
    test_over_trivial: float = math.inf  # test MSE / trivial MSE at the probe's end (inf when it failed or diverged)
    test_mse: float | None = None  # the probe's test MSE
    findings: list[dict[str, Any]] = field(default_factory=list)  # findings.json's findings of the probe
    wall_s: float = 0.0  # seconds the probe took, as seen by the doctor (queueing aside)
    error: str | None = None  # one line, when status is failed
    source: str = "standard"  # "finding:<kind>" for a remedy a finding named, else "standard"
    length: int = 1  # the probe's epochs over the other probes' (candidates.LONGER for a longer run)

    @property
    def kinds(self) -> list[str]:
        return [str(f["kind"]) for f in self.findings]

    @property
    def errors(self) -> int:
        """Findings of severity error (the run failed, or will)."""
        return sum(1 for f in self.findings if str(f["severity"]) == "error")

    def to_dict(self) -> dict[str, Any]:
        ratio = self.test_over_trivial
        return {
            "name": self.name, "patch": self.patch, "status": self.status, "source": self.source,
            "test_over_trivial": ratio if math.isfinite(ratio) else None, "test_mse": self.test_mse,
            "findings": self.kinds, "wall_s": round(self.wall_s, 2), "error": self.error, "length": self.length,
        }


def default_probe_epochs(cfg: Config, train_samples: int) -> int:
    """Epochs per probe: the run's own when its batches fit PROBE_MAX_BATCHES, else the whole epochs that fit."""
    per_epoch = max(1, math.ceil(train_samples / cfg.train.batch_size))
    return max(1, min(cfg.train.epochs, PROBE_MAX_BATCHES // per_epoch))


def run_probe(cfg: dict[str, Any], run_dir: str, threads: int | None = None) -> dict[str, Any]:
    """The study runner's trial, tagged with the process that ran it (its first probe also pays the imports)."""
    outcome = execute_trial(cfg, run_dir, threads)
    outcome["pid"] = os.getpid()
    return outcome


def probe_config(cfg: Config, patch: dict[str, Any], epochs: int, seed: int | None = None) -> dict[str, Any]:
    """The probe's config dict: `cfg` patched, shortened to `epochs`, its monitor syncing often enough.

    Raises UserError when the patch makes an invalid config.
    """
    data = apply_overrides(cfg.to_dict(), patch)
    data["train"]["epochs"] = epochs
    data["train"]["checkpoint_interval_s"] = 1e9  # only the last epoch's checkpoint: probes are short
    mon = data.setdefault("monitor", {})
    mon["sync_every"] = min(int(mon.get("sync_every", 50)), PROBE_SYNC_EVERY)
    mon["activation_every"] = min(int(mon.get("activation_every", 50)), PROBE_SYNC_EVERY)
    if seed is not None:
        data["seed"] = seed
    return validate(data).to_dict()


def read_probe(result: ProbeResult, run_dir: Path, outcome: dict[str, Any]) -> ProbeResult:
    """Fill `result` from a finished probe folder and execute_trial's outcome."""
    if outcome.get("status") != "ok" or not (run_dir / SUMMARY).exists():
        result.status = "failed"
        failed = run_dir / FAILED
        result.error = outcome.get("error") or (read_json(failed)["error"] if failed.exists() else "no summary")
        return result
    summary = read_json(run_dir / SUMMARY)
    ratio = summary.get("test_over_trivial")
    result.status = "ok"
    result.test_mse = summary.get("test_mse")
    result.test_over_trivial = float(ratio) if isinstance(ratio, (int, float)) and math.isfinite(ratio) else math.inf
    result.findings = read_json(run_dir / FINDINGS).get("findings", []) if (run_dir / FINDINGS).exists() else []
    return result
