"""The high-level API: train a config into a run directory, then report it.

This sits above `train` and `report`: the loop writes data files, and this
module draws the plots and HTML from the run directory when training ends.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from aegrad.config import Config
from aegrad.models import family_callbacks
from aegrad.run import Run, default_run_dir, load_run
from aegrad.train import distributed as dist
from aegrad.train.callbacks import Callback
from aegrad.train.loop import fit
from aegrad.train.steps import StepOptions

log = logging.getLogger("aegrad")


def train(
    cfg: Config,
    out: str | Path | None = None,
    *,
    resume: str | Path | None = None,
    report: bool = True,
    callbacks: Sequence[Callback] = (),
    options: StepOptions | None = None,
) -> Run:
    """Train `cfg` into a run directory (default runs/<name>-<time>) and return the Run.

    With `resume=RUN_DIR`, continue that run from its last checkpoint to `cfg.train.epochs`.
    With `report=True` (the default), plots and report.html are written when training ends.
    `options` switches parts of the fast path off (benchmarks; see aegrad.train.steps.StepOptions).
    """
    run_dir = Path(resume) if resume is not None else Path(out) if out is not None else default_run_dir(cfg)
    for extra in family_callbacks(cfg.model, run_dir):  # the family's end-of-run files (a VAE's samples.png)
        if not any(isinstance(cb, type(extra)) for cb in callbacks):  # the caller's own settings win
            callbacks = [*callbacks, extra]
    summary = fit(cfg, run_dir, resume=resume is not None, callbacks=callbacks, options=options)  # holds the lock
    if report and dist.is_rank0():
        write_report(run_dir)
    dist.cleanup()
    run = Run(path=run_dir, config=cfg, summary=summary)
    return run


def write_report(path: str | Path) -> Path:
    """Plots and report.html for a run directory, or the report of a study directory."""
    from aegrad import report  # matplotlib is imported only when a report is drawn

    return report.write_report(Path(path))


__all__ = ["train", "load_run", "write_report"]
