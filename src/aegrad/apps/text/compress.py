"""Text compression measured: a run's codec (codec.py) next to gzip, bzip2, xz and zstd on the same held-out lines.

Two settings, each method's rate the size of the bytes it wrote:

* ``per_line``: every line compressed on its own (a message at a time), sizes summed,
  bits per character over the lines' characters;
* ``together``: the lines joined by newlines into one file, compressed once, bits per
  character over the characters plus newlines (the aegrad stream codes ``<eos>`` instead).

Beside the rate, the autoencoder's reconstruction from its code alone (greedy decoding of
``decode(encode(x))``, no bits of x sent): exact-match share and per-character accuracy.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from aegrad.apps.text.codec import (
    LatentPrior,
    bits_per_char,
    decode_lines,
    encode_lines,
    fit_prior,
    pack,
    stream_bytes,
)
from aegrad.data.text.vocab import Vocabulary
from aegrad.errors import UserError

CLASSICAL = ("gzip", "bzip2", "xz", "zstd")


def classical(name: str, data: bytes) -> bytes:
    """`data` compressed by a standard tool at its strongest common setting."""
    if name == "gzip":
        return gzip.compress(data, compresslevel=9, mtime=0)
    if name == "bzip2":
        return bz2.compress(data, compresslevel=9)
    if name == "xz":
        return lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)
    if name == "zstd":
        import zstandard  # imported here: only this comparison needs it

        return zstandard.ZstdCompressor(level=19).compress(data)
    raise UserError(f"unknown compressor {name!r}; valid: {', '.join(CLASSICAL)}")


@torch.no_grad()
def reconstruction_accuracy(model, vocab: Vocabulary, lines: Sequence[str], batch: int = 512) -> dict[str, float]:
    """Greedy ``decode(encode(x))`` against x: exact-match share, per-character accuracy (position by position;
    characters past either end count as wrong) and the mean length of the correctly reconstructed start."""
    model.eval()
    exact = right = total = prefix = 0
    for i in range(0, len(lines), batch):
        chunk = list(lines[i : i + batch])
        ids = torch.from_numpy(vocab.encode(chunk, model.max_len))
        for a, b in zip(chunk, vocab.decode(model.decode(model.encode(ids)))):
            exact += a == b
            right += sum(x == y for x, y in zip(a, b))
            total += max(len(a), len(b))
            prefix += len(os.path.commonprefix([a, b]))
    n = max(1, len(lines))
    return {"exact_match": exact / n, "char_accuracy": right / max(1, total), "correct_prefix": prefix / n}


def compare(model, vocab: Vocabulary, prior: LatentPrior, lines: Sequence[str], check: bool = True) -> dict[str, Any]:
    """Bytes and bits per character of aegrad and the classical tools, per line and together
    (see the module docstring)."""
    if not lines:
        raise UserError("no lines to compress")
    chars = sum(len(s) for s in lines)
    joined = ("\n".join(lines) + "\n").encode("utf-8")
    out: dict[str, Any] = {"lines": len(lines), "characters": chars, "methods": {}}
    t0 = time.perf_counter()
    together = pack(encode_lines(model, vocab, prior, lines), len(lines))
    t_enc = time.perf_counter() - t0
    per_line_words = [encode_lines(model, vocab, prior, [s]) for s in lines]
    if check:
        t0 = time.perf_counter()
        from aegrad.apps.text.codec import unpack

        words, n = unpack(together)
        if decode_lines(model, vocab, prior, words, n) != list(lines):
            raise RuntimeError("aegrad text stream did not decode to its input")
        out["decode_s"] = time.perf_counter() - t0
        for s, w in zip(lines[:50], per_line_words[:50]):
            if decode_lines(model, vocab, prior, w, 1) != [s]:
                raise RuntimeError(f"aegrad per-line stream did not decode to {s!r}")
    out["encode_s"] = t_enc
    methods = {"aegrad": (sum(stream_bytes(w) for w in per_line_words), len(together))}
    for name in CLASSICAL:
        methods[name] = (sum(len(classical(name, s.encode("utf-8"))) for s in lines), len(classical(name, joined)))
    for name, (per_line, whole) in methods.items():
        out["methods"][name] = {
            "per_line_bytes": per_line,
            "per_line_bpc": bits_per_char(per_line, chars),
            "together_bytes": whole,
            "together_bpc": bits_per_char(whole, chars + len(lines)),
        }
    return out


def evaluate_run(run_dir: str | Path, limit: int | None = None, step: float | None = None,
                 compression: bool = True) -> dict[str, Any]:
    """A text run's test lines: reconstruction accuracy and the compression comparison
    (fits and saves the latent prior)."""
    from aegrad.apps.text.run import open_text_run

    tr = open_text_run(run_dir)
    lines = tr.test_lines[:limit] if limit else tr.test_lines
    if not compression:
        chars = sum(len(s) for s in lines)
        return {"run": str(tr.run.path), **reconstruction_accuracy(tr.model, tr.vocab, lines), "lines": len(lines),
                "characters": chars}
    prior = fit_prior(tr.model, tr.data.train_x, step)
    prior.save(tr.run.path)
    res = {"run": str(tr.run.path), **reconstruction_accuracy(tr.model, tr.vocab, lines), "latent_step": prior.step}
    res.update(compare(tr.model, tr.vocab, prior, lines))
    return res
