"""``data.text.tokenizer: bpe``: byte-level BPE (Sennrich et al. 2016; GPT-2's byte-level form) from Hugging Face
``tokenizers``.

The merges are learned on the training split only (``BpeVocabulary.build``), with the same
four specials at ids 0..3 as the character vocabulary (``<pad>``, ``<bos>``, ``<eos>``,
``<unk>``) and the 256 byte symbols in the initial alphabet, so every UTF-8 line is coded and
``<unk>`` never occurs: ``decode(encode(line)) == line`` for any text. ``data.max_len`` then
counts tokens. Saved with the weights as the tokenizer's JSON (``extra.normalizer.bpe``, its
UTF-8 bytes as a uint8 tensor), so a run decodes its ids from the run alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from aegrad.data.text.vocab import EOS, PAD, SPECIALS, Vocabulary
from aegrad.errors import UserError

BYTES = 256  # byte-level BPE's initial alphabet


def _lib():
    try:
        import tokenizers  # imported here: only data.text.tokenizer=bpe needs it
    except ImportError:  # pragma: no cover - a declared dependency
        raise UserError("data.text.tokenizer=bpe needs the 'tokenizers' package: pip install tokenizers") from None
    return tokenizers


class BpeVocabulary(Vocabulary):
    """Lines <-> byte-level BPE token ids; the character vocabulary's interface
    (``ids``, ``encode``, ``decode``, state)."""

    def __init__(self, tokenizer) -> None:  # a tokenizers.Tokenizer
        super().__init__([])
        self.tokenizer_ = tokenizer

    @classmethod
    def build(cls, lines: Sequence[str], size: int) -> BpeVocabulary:
        """Merges learned on `lines` until `size` ids (specials and 256 bytes included)."""
        if size < len(SPECIALS) + BYTES:
            raise UserError(f"data.text.tokenizer=bpe needs data.text.vocab_size >= {len(SPECIALS) + BYTES} "
                            f"(4 specials + 256 bytes), got {size}")
        tk = _lib()
        tokenizer = tk.Tokenizer(tk.models.BPE(unk_token=SPECIALS[3]))
        tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = tk.decoders.ByteLevel()
        trainer = tk.trainers.BpeTrainer(vocab_size=size, special_tokens=list(SPECIALS), show_progress=False,
                                         initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet())
        tokenizer.train_from_iterator(list(lines), trainer=trainer)
        if [tokenizer.token_to_id(s) for s in SPECIALS] != list(range(len(SPECIALS))):
            raise RuntimeError("BPE trainer did not put the specials at ids 0..3")
        return cls(tokenizer)

    @property
    def size(self) -> int:
        return self.tokenizer_.get_vocab_size()

    def ids(self, line: str) -> list[int]:
        return self.tokenizer_.encode(line).ids

    def encode(self, lines: Sequence[str], max_len: int) -> np.ndarray:
        """(N, max_len) int64 ids, PAD after each line's tokens; a line of more than max_len tokens is an error."""
        out = np.zeros((len(lines), max_len), dtype=np.int64)
        for i, enc in enumerate(self.tokenizer_.encode_batch(list(lines))):
            if len(enc.ids) > max_len:
                raise ValueError(f"line {i} has {len(enc.ids)} tokens, more than max_len={max_len}")
            out[i, : len(enc.ids)] = enc.ids
        return out

    def decode(self, ids: np.ndarray | Tensor | Sequence[Sequence[int]]) -> list[str]:
        """Lines from (N, L) ids: each ends at its first PAD or EOS; specials are skipped."""
        rows = ids.tolist() if isinstance(ids, (np.ndarray, Tensor)) else [list(r) for r in ids]
        cut = [r[: next((k for k, i in enumerate(r) if i in (PAD, EOS)), len(r))] for r in rows]
        return self.tokenizer_.decode_batch([[int(i) for i in r] for r in cut], skip_special_tokens=True)

    def state_dict(self) -> dict[str, Tensor]:
        state = super().state_dict()
        del state["symbols"]
        state["bpe"] = torch.frombuffer(bytearray(self.tokenizer_.to_str().encode("utf-8")), dtype=torch.uint8).clone()
        return state

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor]) -> BpeVocabulary:
        return cls(_lib().Tokenizer.from_str(bytes(state["bpe"].tolist()).decode("utf-8")))

    def __repr__(self) -> str:
        return f"BpeVocabulary({self.size} ids: {len(SPECIALS)} specials + bytes + merges)"


def load_vocabulary(state: dict[str, Tensor]) -> Vocabulary:
    """The vocabulary a run saved: byte-level BPE when it holds ``bpe``, else characters."""
    return BpeVocabulary.from_state_dict(state) if "bpe" in state else Vocabulary.from_state_dict(state)
