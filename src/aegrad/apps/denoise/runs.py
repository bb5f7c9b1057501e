"""Denoising from run directories: train one denoiser per noise level, or measure one run at every level.

Results go to ``OUT/denoise.json`` (every level's PSNR/SSIM table) and
``OUT/grid-<noise>-<level>.png`` (noisy / denoised / clean).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from aegrad.apps.denoise.evaluate import evaluate_denoising, picture_grid
from aegrad.apps.denoise.noise import trainable
from aegrad.config import Config, load_config, with_overrides
from aegrad.data import load_dataset
from aegrad.errors import UserError
from aegrad.run import load_run, write_json

# What `aegrad denoise` trains without --preset/--config: a U-Net predicting the noise (models/unet.py), which
# no bottleneck caps; a bottleneck autoencoder's clean-image ceiling is below non-local means at low noise.
DEFAULT_PRESET = "fashion-denoise"


def _test_images(cfg: Config, test_limit: int | None) -> torch.Tensor:
    data_cfg = cfg.data.model_copy(update={"test_limit": test_limit or cfg.data.test_limit})
    return load_dataset(data_cfg, cfg.seed).test_x


def measure(
    run_dir: str | Path, kind: str, level: float, out: Path, test_limit: int | None, seed: int
) -> dict[str, Any]:
    """One run's denoising at one level, with its picture grid written into `out`."""
    run = load_run(run_dir)
    result, images = evaluate_denoising(run.model, _test_images(run.config, test_limit), kind, level, seed)
    result["run"] = str(run.path)
    result["grid"] = str(picture_grid(images, out / f"grid-{kind}-{level:g}.png"))
    return result


def train_denoiser(cfg: Config, kind: str, level: float, out: Path) -> Path:
    """Train ``cfg`` with ``train.noise=kind`` at ``level`` into ``out/<kind>-<level>``; returns the run directory."""
    from aegrad.api import train

    if not trainable(kind):
        raise UserError(f"train.noise cannot train for {kind!r} noise; give a RUN_DIR to measure a trained model on it")
    run_cfg = with_overrides(cfg, {"train.noise": kind, "train.noise_level": level})
    return train(run_cfg, out=out / f"{kind}-{level:g}", report=False).path


def denoise_study(
    kind: str,
    levels: Sequence[float],
    out: str | Path,
    *,
    run_dir: str | Path | None = None,
    cfg: Config | None = None,
    test_limit: int | None = None,
    seed: int = 0,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Every level's result: one denoiser trained per level from `cfg`, or the one run `run_dir` at each.

    With neither, the denoisers are trained from the ``DEFAULT_PRESET`` (fashion-denoise).
    """
    if run_dir is not None and cfg is not None:
        raise UserError("give a RUN_DIR to measure, or a config to train denoisers from (one of them)")
    if run_dir is None and cfg is None:
        cfg = load_config(preset=DEFAULT_PRESET)
    out = Path(out)
    rows = []
    for level in levels:
        source = run_dir if run_dir is not None else train_denoiser(cfg, kind, level, out)
        rows.append(measure(source, kind, level, out, test_limit, seed))
        if progress is not None:
            progress(rows[-1])
    result = {"noise": kind, "levels": list(levels), "trained_per_level": run_dir is None, "results": rows}
    write_json(out / "denoise.json", result)
    return result
