"""Posterior collapse judged on a run directory, with each latent dimension's KL measured on the test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aegrad.models.variational.objective import latent_kl
from aegrad.data import load_dataset
from aegrad.run import load_run


def collapse_findings(run_dir: str | Path) -> list[dict[str, Any]]:
    """`detect_posterior_collapse` over a VAE run's metrics, with the final KL per dimension as evidence ([] for other runs)."""
    from aegrad.diagnose.collapse import detect_posterior_collapse  # here: diagnose imports models, which import this package

    run = load_run(run_dir)
    if not run.config.model.variational:
        return []
    model = run.model
    test_x = load_dataset(run.config.data, run.config.seed).test_x
    kl = [float(v) for v in latent_kl(model, test_x)]
    s = run.summary
    return detect_posterior_collapse(run.metrics, run.config, s.get("trivial_mse"), s.get("test_mse"), kl_per_dim=kl)
