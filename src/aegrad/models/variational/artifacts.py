"""``GenerationArtifacts``: a VAE run's samples.png and interpolation.png, written when training ends.

Attach it to a VAE's training (``aegrad.train(cfg, out=RUN_DIR, callbacks=[GenerationArtifacts(RUN_DIR)])``)
and the run directory holds what ``aegrad sample RUN_DIR`` and ``aegrad interpolate RUN_DIR --between 0 1``
would write, for the report to embed. It reads the saved weights, so it sees exactly what was saved.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from aegrad.config import ModelConfig
from aegrad.models.base import register_family_callback
from aegrad.run import WEIGHTS
from aegrad.train.callbacks import Callback  # the hook protocol only: that module imports nothing


class GenerationArtifacts(Callback):
    """On fit end: RUN_DIR/samples.png (+ .npz) of `n` seeded prior samples and RUN_DIR/interpolation.png (+ .npz)."""

    def __init__(
        self, run_dir: str | Path, n: int = 64, seed: int = 0, between: tuple[int, int] = (0, 1), steps: int = 8
    ) -> None:
        self.run_dir, self.n, self.seed, self.between, self.steps = Path(run_dir), n, seed, between, steps

    def on_fit_end(self, summary: dict[str, Any]) -> None:
        from aegrad.data import load_dataset
        from aegrad.models.variational.generate import INTERPOLATION, SAMPLES, interpolate, sample_prior, write_images
        from aegrad.run import load_run

        run = load_run(self.run_dir)
        if not run.config.model.variational or not (self.run_dir / WEIGHTS).is_file():
            return
        model = run.model
        images = sample_prior(model, self.n, run.config.model.latent, self.seed)
        write_images(self.run_dir / f"{SAMPLES}.png", images, cols=math.ceil(math.sqrt(self.n)))
        test_x = load_dataset(run.config.data, run.config.seed).test_x
        i, j = (min(k, len(test_x) - 1) for k in self.between)
        strip = interpolate(model, test_x[i], test_x[j], self.steps)
        write_images(self.run_dir / f"{INTERPOLATION}.png", strip, cols=len(strip), between=np.array([i, j]))


@register_family_callback("variational")
def _generation_artifacts(cfg: ModelConfig, run_dir: Path) -> GenerationArtifacts | None:
    """samples.png and interpolation.png for the report, for a VAE of the mlp or conv stages."""
    return GenerationArtifacts(run_dir) if cfg.variational and cfg.kind in ("mlp", "conv") else None
