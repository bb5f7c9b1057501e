"""The run folder while one fit writes it: the one owner of its writer lock, its config.yaml and its logs.

``with RunFolder(path, writer=dist.is_rank0()) as folder:`` takes the lock of a folder that
exists (refused when another process trains into it) before the run is built; ``folder.open(...)``
then creates the folder when it is new (and locks it), writes config.yaml and opens the logs.
Leaving the block closes the logs and releases the lock however the fit ends; a fit whose set-up
failed (before ``folder.started()``) also removes the folder if it created it, so bad input
leaves nothing half-written. Off rank 0 (``writer=False``) nothing is locked, created or written.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from aegrad.config import Config, dump_yaml
from aegrad.errors import UserError
from aegrad.run import (
    CONFIG,
    GRADIENTS,
    METRICS,
    JsonlWriter,
    atomic_write_text,
    lock_run_dir,
    remove_new_run_dir,
    unlock_run_dir,
)


class RunFolder:
    """The folder a fit trains into (a context manager: the lock is held inside the block)."""

    def __init__(self, path: Path, *, writer: bool) -> None:
        self.path, self.writer = path, writer
        self.metrics: JsonlWriter | None = None  # metrics.jsonl, once open (never off rank 0)
        self.gradlog: JsonlWriter | None = None  # gradients.jsonl, likewise
        self._existed = self._had_config = self._created = self._started = False

    def __enter__(self) -> RunFolder:
        self._existed = self.path.exists()
        if self.writer and self._existed:
            lock_run_dir(self.path)  # refused when another process trains into this folder
        self._had_config = (self.path / CONFIG).exists()
        return self

    def open(self, cfg: Config, *, resume: bool, after: int | None, mid_epoch: bool) -> None:
        """Create (or reuse) and lock the folder; write config.yaml; open the logs, cut back to step `after`.

        Called once the run is built and checked. A mid-epoch checkpoint (`mid_epoch`) is taken before its
        epoch's record is written: a record of that epoch at the checkpoint's step comes from beyond the
        checkpoint and is dropped with the rest.
        """
        if not self.writer:
            return
        self._created = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        if not self._existed:
            lock_run_dir(self.path)
            if (self.path / CONFIG).exists() and not self._had_config:
                raise UserError(f"another process trained into {self.path} meanwhile; pick another --out")
        if resume:
            for tmp in self.path.glob(".*.tmp"):  # a write a kill interrupted (we hold the lock: none is live)
                tmp.unlink(missing_ok=True)
        atomic_write_text(self.path / CONFIG, dump_yaml(cfg))
        self.metrics = JsonlWriter(self.path / METRICS, truncate_after_step=after, drop_epoch_at_cut=mid_epoch)
        self.gradlog = JsonlWriter(self.path / GRADIENTS, truncate_after_step=after)

    def started(self) -> None:
        """The set-up succeeded: from here a failure keeps the folder (it holds a run to resume)."""
        self._started = True

    def log(self, record: dict[str, Any]) -> None:
        """One metrics.jsonl line (nothing before the folder is open, or off rank 0)."""
        if self.metrics is not None:
            self.metrics.write(record)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.writer:
            return
        for writer in (self.metrics, self.gradlog):
            if writer is not None:
                writer.close()
        unlock_run_dir(self.path)
        if exc_type is not None and not self._started and self._created:
            remove_new_run_dir(self.path)
