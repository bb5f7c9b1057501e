"""``aegrad.check``: can a config's net train? Judged from one batch at initialisation, before any step.

It builds the model as ``aegrad.train`` would (the config's seed, data and family objective), measures
it with ``diagnose.trainability`` and returns the report with its findings; nothing is written and the
caller's RNG is left as it was. A config, a config file and a run folder (its config.yaml) are checked
the same way. This sits above diagnose, models, data and objectives, beside ``api``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from aegrad.config import Config, load_config, with_overrides
from aegrad.data import load_dataset
from aegrad.diagnose.trainability import TrainabilityReport, check_findings, trainability
from aegrad.errors import UserError
from aegrad.models import create_model
from aegrad.objectives import create_objective
from aegrad.run import CONFIG


@dataclass(frozen=True)
class Check:
    """One check: the config it judged, the measurements, the findings (findings.json entries) and its cost."""

    config: Config
    report: TrainabilityReport
    findings: list[dict[str, Any]]
    check_s: float  # seconds the measurement took (the model and the data built, not counted)

    @property
    def healthy(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        """The object ``aegrad check --json`` prints."""
        return {"config": self.config.name, "healthy": self.healthy, **self.report.to_dict(),
                "findings": self.findings, "check_s": round(self.check_s, 4)}


def check(source: Config | str | Path, overrides: dict[str, Any] | None = None, *, probes: int = 4) -> Check:
    """Check a config (a Config, a YAML file, or a run folder's config.yaml) with dotted `overrides` applied.

    The batch is the training split's first ``train.batch_size`` samples; the model is the one
    ``aegrad.train`` would start from (``torch.manual_seed(cfg.seed)``, then the data, then the model).
    probes: the Jacobian's singular values estimated. Bad input raises ``UserError``.
    """
    cfg = _resolve(source)
    if overrides:
        cfg = with_overrides(cfg, overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)  # as train/setup.prepare: the seed, then the data, then the model
        data = load_dataset(cfg.data, cfg.seed)
        model = create_model(cfg.model, data.sample_shape)
    objective = create_objective(cfg, model)
    objective.begin_step(0)  # the first step's terms (a KL warm-up's weight at step 0)
    threads = torch.get_num_threads()
    # One CPU thread unless train.threads says otherwise: the check is a few small products, and on a shared
    # CPU extra threads only spin (measured on 2 busy cores: fashion-conv 3.6 s on 2 threads, 0.12 s on one).
    torch.set_num_threads(cfg.train.threads or 1)
    try:
        t0 = time.perf_counter()
        report = trainability(model, data.train_x[: cfg.train.batch_size], objective, probes=probes, seed=cfg.seed)
        check_s = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads)
    return Check(cfg, report, [f.to_dict() for f in check_findings(report, cfg)], check_s)


def _resolve(source: Config | str | Path) -> Config:
    if isinstance(source, Config):
        return source
    path = Path(source)
    if path.is_dir():
        if not (path / CONFIG).is_file():
            raise UserError(f"{path} is not a run folder: it has no {CONFIG}")
        return load_config(path=path / CONFIG)
    if not path.exists():
        raise UserError(f"no run folder or config file at {path}")
    return load_config(path=path)


__all__ = ["Check", "check"]
