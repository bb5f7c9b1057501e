"""A character-level vocabulary fitted on the training split: lines <-> token ids, padded, with masks.

Ids 0..3 are the specials: ``<pad>`` (0, so a zero-padded row is padding), ``<bos>``
(the decoder's first input), ``<eos>`` (the decoder's last target) and ``<unk>`` (a
character the training split did not hold often enough to get an id: mapped, never
dropped). The rest are the training split's most frequent characters, ties broken by
code point, so the vocabulary is a pure function of the training lines.

The vocabulary is text's fitted data transform, as a normalisation is for pixels: it
subclasses ``Normalizer`` (an identity on the ids) so the training loop saves it with the
weights (``model.safetensors``: ``extra.normalizer.symbols``) and any command can decode
a run's ids from the run alone (``Vocabulary.from_state_dict``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from aegrad.data.normalize import Normalizer
from aegrad.errors import UserError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
UNKNOWN_CHAR = "\ufffd"  # how <unk> decodes


class Vocabulary(Normalizer):
    """Characters <-> ids; ``symbols_[i]`` is the character of id ``i + 4``."""

    def __init__(self, symbols: Sequence[str]) -> None:
        super().__init__("none")
        if any(len(s) != 1 for s in symbols) or len(set(symbols)) != len(symbols):
            raise ValueError("a vocabulary's symbols must be distinct single characters")
        self.symbols_ = list(symbols)
        self.index_ = {c: i + len(SPECIALS) for i, c in enumerate(self.symbols_)}
        self.offset_, self.scale_ = torch.zeros(()), torch.ones(())

    @classmethod
    def build(cls, lines: Sequence[str], size: int) -> Vocabulary:
        """The `size - 4` most frequent characters of `lines` (ties by code point) after the 4 specials."""
        if size <= len(SPECIALS):
            raise UserError(f"data.text.vocab_size must leave room beyond the {len(SPECIALS)} specials, got {size}")
        counts = Counter(c for line in lines for c in line)
        ranked = sorted(counts, key=lambda c: (-counts[c], ord(c)))
        return cls(ranked[: size - len(SPECIALS)])

    @property
    def size(self) -> int:
        """Ids in use: the specials plus the symbols (at most data.text.vocab_size)."""
        return len(SPECIALS) + len(self.symbols_)

    def ids(self, line: str) -> list[int]:
        """One line's ids (unknown characters as UNK), without padding."""
        return [self.index_.get(c, UNK) for c in line]

    def encode(self, lines: Sequence[str], max_len: int) -> np.ndarray:
        """(N, max_len) int64 ids, zero (PAD) after each line's end; lines must fit (cut them first)."""
        out = np.zeros((len(lines), max_len), dtype=np.int64)
        for i, line in enumerate(lines):
            if len(line) > max_len:
                raise ValueError(f"line {i} has {len(line)} characters, more than max_len={max_len}")
            out[i, : len(line)] = self.ids(line)
        return out

    def decode(self, ids: np.ndarray | Tensor | Sequence[Sequence[int]]) -> list[str]:
        """Lines from (N, L) ids: each ends at its first PAD or EOS; UNK decodes as U+FFFD; BOS is skipped."""
        rows = ids.tolist() if isinstance(ids, (np.ndarray, Tensor)) else [list(r) for r in ids]
        out = []
        for row in rows:
            chars = []
            for i in row:
                i = int(i)
                if i in (PAD, EOS):
                    break
                if i >= len(SPECIALS) and i - len(SPECIALS) < len(self.symbols_):
                    chars.append(self.symbols_[i - len(SPECIALS)])
                elif i != BOS:
                    chars.append(UNKNOWN_CHAR)
            out.append("".join(chars))
        return out

    # -- saved with the weights (Normalizer's interface) --------------------------------

    def state_dict(self) -> dict[str, Tensor]:
        state = super().state_dict()
        state["symbols"] = torch.tensor([ord(c) for c in self.symbols_], dtype=torch.int64)
        return state

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor]) -> Vocabulary:
        if "symbols" not in state:
            raise UserError("this run saved no text vocabulary (extra.normalizer.symbols): "
                            "it was not trained on data.source=text")
        return cls([chr(int(c)) for c in state["symbols"].tolist()])

    def __repr__(self) -> str:
        return f"Vocabulary({self.size} ids: {len(SPECIALS)} specials + {len(self.symbols_)} characters)"


def lengths(ids: Tensor) -> Tensor:
    """Characters per row of (N, L) ids: the position of the first PAD (L when there is none)."""
    return (ids != PAD).long().cumprod(1).sum(1)


def mask(ids: Tensor) -> Tensor:
    """(N, L) bool: True on a line's characters, False on its padding."""
    return torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths(ids)[:, None]
