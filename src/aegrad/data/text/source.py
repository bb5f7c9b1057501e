"""``data.source: text``: lines as token ids (int64, (N, max_len), 0 = padding) under a vocabulary fitted on the
training split.

The source splits the lines itself (the same seeded split every source gets, data/dataset.split),
so the vocabulary sees training lines only; test lines' unseen characters become ``<unk>``.
``data.text.tokenizer`` picks the vocabulary: characters (vocab.py) or byte-level BPE (bpe.py).
The fitted ``Vocabulary`` rides in ``SourceData.encoded``: ``load_dataset`` then keeps the ids
as int64, never normalises them, and the loop saves the vocabulary with the weights.
"""

from __future__ import annotations

import logging

import numpy as np

from aegrad.data.text.bpe import BpeVocabulary
from aegrad.data.text.corpora import read_corpus
from aegrad.data.text.vocab import Vocabulary
from aegrad.config import DataConfig
from aegrad.data.base import SourceData, register_source
from aegrad.data.dataset import split
from aegrad.errors import UserError

log = logging.getLogger("aegrad")
TOKENIZERS: dict[str, type[Vocabulary]] = {"char": Vocabulary, "bpe": BpeVocabulary}  # data.text.tokenizer


@register_source("text")
def text(cfg: DataConfig, seed: int) -> SourceData:
    """Lines of data.text.corpus, split, a character vocabulary built on the training lines, ids padded to max_len."""
    corpus = read_corpus(cfg)
    if len(corpus.lines) < 2:
        raise UserError(f"data.source=text: need at least 2 lines to split into train and test, "
                        f"got {len(corpus.lines)} "
                        f"(lines longer than data.max_len={cfg.max_len} are left out "
                        f"unless data.text.long_lines=truncate)")
    train, test = split(len(corpus.lines), cfg.test_fraction, seed)
    vocab = TOKENIZERS[cfg.text.tokenizer].build([corpus.lines[i] for i in train], cfg.text.vocab_size)
    lines = corpus.lines
    if cfg.text.tokenizer != "char":  # a line of at most max_len characters may still be more tokens (UTF-8 bytes)
        lines, keep = _fit_tokens(vocab, lines, cfg)
        train, test = train[keep[train]], test[keep[test]]
    ids = vocab.encode(lines, cfg.max_len)
    y = None if corpus.labels is None else np.asarray(corpus.labels, dtype=np.int64)
    return SourceData(
        x=ids[train], y=None if y is None else y[train], is_image=False,
        test_x=ids[test], test_y=None if y is None else y[test], encoded=vocab,
    )


def _fit_tokens(vocab: Vocabulary, lines: list[str], cfg: DataConfig) -> tuple[list[str], np.ndarray]:
    """(lines, keep mask): lines of more than max_len tokens cut (long_lines=truncate) or left out (drop), counted."""
    lines, keep = list(lines), np.ones(len(lines), dtype=bool)
    for i, line in enumerate(lines):
        while len(vocab.ids(line)) > cfg.max_len:
            keep[i] = cfg.text.long_lines == "truncate"
            if not keep[i]:
                break
            line = line[:-1]
        lines[i] = line
    if not keep.all():
        log.info("data.source=text: %d line(s) longer than max_len=%d tokens dropped", int((~keep).sum()), cfg.max_len)
    return lines, keep
