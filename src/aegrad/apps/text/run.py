"""A trained text run, opened once for every text command: model, vocabulary, data split and its lines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aegrad.data.text.bpe import load_vocabulary
from aegrad.models.seq.model import SeqAutoencoder
from aegrad.data.text.vocab import Vocabulary
from aegrad.data import Dataset, load_dataset
from aegrad.errors import UserError
from aegrad.run import WEIGHTS, Run, load_run


@dataclass
class TextRun:
    run: Run
    model: SeqAutoencoder
    vocab: Vocabulary
    data: Dataset

    @property
    def test_lines(self) -> list[str]:
        """The test split's lines as the model saw them (unknown characters as U+FFFD)."""
        return self.vocab.decode(self.data.test_x)

    @property
    def train_lines(self) -> list[str]:
        return self.vocab.decode(self.data.train_x)


def open_text_run(run_dir: str | Path, with_data: bool = True) -> TextRun:
    """The run's model and vocabulary (from model.safetensors alone) and, with `with_data`, its data split."""
    from aegrad.models import load_model

    if not Path(run_dir).is_dir():
        raise UserError(f"not a run directory: {run_dir}")
    run = load_run(run_dir)
    if run.config.model.kind != "seq":
        raise UserError(f"{run_dir} is a model.kind={run.config.model.kind} run; text commands need model.kind=seq")
    if not (run.path / WEIGHTS).exists():
        raise UserError(f"{run.path} has no {WEIGHTS}: the run did not save weights")
    model, _cfg, _shape, extra = load_model(run.path / WEIGHTS)
    vocab = load_vocabulary({k.removeprefix("normalizer."): v for k, v in extra.items()})
    data = load_dataset(run.config.data, run.config.seed) if with_data else None
    return TextRun(run, model, vocab, data)  # type: ignore[arg-type]
