"""`aegrad eval`: a run's metrics on the test split, recomputed from its saved weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from aegrad.data import load_dataset
from aegrad.run import load_run
from aegrad.train.scoring import evaluate, psnr, trivial_mse


def evaluate_run(path: str | Path) -> dict[str, Any]:
    """Test MSE (model space and data units), the trivial baseline and PSNR of a saved run."""
    run = load_run(path)
    model = run.model
    data = load_dataset(run.config.data, run.config.seed)
    if not data.test_x.is_floating_point():  # token ids (model.kind=seq): the objective's terms, no MSE
        from aegrad.models import family_callbacks
        from aegrad.objectives import create_objective
        from aegrad.train.scoring import evaluate_terms

        callbacks = family_callbacks(run.config.model, run.path)  # the family's measured terms (test_tgrad_*)
        terms = evaluate_terms(model, data.test_x, create_objective(run.config, model), callbacks)
        return {"run": str(run.path), "test_samples": len(data.test_x),
                **{f"test_{k}": v for k, v in terms.items() if k != "mse"}}
    mse = evaluate(model, data.test_x)
    with torch.no_grad():
        x_hat = model(data.test_x)["x_hat"]
        mse_data = float(((data.normalizer.inverse(x_hat) - data.normalizer.inverse(data.test_x)) ** 2).mean())
    base = trivial_mse(data)
    return {
        "run": str(run.path),
        "test_samples": len(data.test_x),
        "test_mse": mse,
        "trivial_mse": base,
        "test_over_trivial": mse / base if base > 0 else None,
        "test_mse_data_units": mse_data,
        "psnr": psnr(mse, data),
    }
