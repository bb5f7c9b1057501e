"""Posterior collapse judged on a run directory, with each latent dimension's KL measured on the test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aegrad.data import load_dataset
from aegrad.models.variational.findings import posterior_collapse
from aegrad.models.variational.objective import latent_kl
from aegrad.run import load_run


def collapse_findings(run_dir: str | Path) -> list[dict[str, Any]]:
    """Posterior collapse over a VAE run's metrics, with the final KL per dimension as evidence ([] for other runs).

    Each finding as findings.json holds it (``Finding.to_dict()``).
    """
    run = load_run(run_dir)
    if not run.config.model.variational:
        return []
    model = run.model
    test_x = load_dataset(run.config.data, run.config.seed).test_x
    kl = [float(v) for v in latent_kl(model, test_x)]
    s = run.summary
    found = posterior_collapse(run.metrics, run.config, s.get("trivial_mse"), s.get("test_mse"), kl_per_dim=kl)
    return [f.to_dict() for f in found]
