"""Files training writes for the report to draw: the report never loads a model or a dataset itself.

``reconstructions.npz`` (run.RECONSTRUCTIONS) holds, for the first `count` samples of the
seeded test split:

    original        float32 (n, *sample_shape)  the inputs, in data units (normalisation undone)
    reconstruction  float32 (n, *sample_shape)  the model's x_hat, in data units
    sample_mse      float64 (n,)                per-sample MSE in normalised units (the loss's units)
    sample_shape    int64 (k,)                  (C, H, W) for images, (D,) otherwise
    is_image        bool ()                     whether the samples are images (report/plots.py draws only those)
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from aegrad.data import Dataset
from aegrad.run import RECONSTRUCTIONS, atomic_write_bytes

__all__ = ["RECONSTRUCTIONS", "reconstruction_arrays", "write_reconstructions"]


@torch.no_grad()
def reconstruction_arrays(model: torch.nn.Module, data: Dataset, count: int = 8) -> dict[str, np.ndarray]:
    """The arrays of reconstructions.npz (see the module docstring) for `model` on `data`'s test split."""
    x = data.test_x[:count].detach().cpu().float()
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        x_hat = model(x.to(device))["x_hat"].float().cpu().reshape(x.shape)
    finally:
        model.train(was_training)
    return {
        "original": data.normalizer.inverse(x).numpy().astype(np.float32),
        "reconstruction": data.normalizer.inverse(x_hat).numpy().astype(np.float32),
        "sample_mse": ((x_hat - x) ** 2).flatten(1).mean(1).double().numpy(),
        "sample_shape": np.array(data.sample_shape, dtype=np.int64),
        "is_image": np.array(bool(data.is_image)),
    }


def write_reconstructions(run_dir: Path, model: torch.nn.Module, data: Dataset, count: int = 8) -> None:
    """Write RUN_DIR/reconstructions.npz atomically (nothing when the test split is empty or holds token ids)."""
    if len(data.test_x) == 0 or count < 1 or not data.test_x.is_floating_point():
        return  # token ids (data.source=text) have no x_hat to draw
    buf = io.BytesIO()
    np.savez(buf, **reconstruction_arrays(model, data, count))
    atomic_write_bytes(Path(run_dir) / RECONSTRUCTIONS, buf.getvalue())
