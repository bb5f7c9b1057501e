"""Lossless text compression with a trained sequence autoencoder, range-coded with ``constriction``.

A line x is sent as its code and then its characters (Bowman et al. 2016's model used as a
codec; rate = -log2 P(z_hat) - log2 P(x | z_hat)):

1. z = encode(x), quantised to ``q = round(z / step)`` and coded with a quantised Gaussian
   per dimension whose mean and std were fitted on the training split's codes
   (``LatentPrior``, saved in RUN_DIR/text_prior.json; part of the model, not of the stream);
2. the decoder, started from ``z_hat = q * step``, gives p(x_t | x_<t, z_hat) one position at
   a time; each character (then ``<eos>``) is range-coded with that categorical
   distribution. A character outside the vocabulary is coded as ``<unk>`` followed by its
   code point (uniform over 0x110000), so every line round-trips exactly.

All lines of a stream advance together, one decoder step per position for the whole batch,
on both sides: encoder and decoder compute the same float operations on the same shapes
(one thread), so their probabilities agree bit for bit on the same machine. The container
(``.aetx``) is MAGIC, the line count (u32) and the coder's 32-bit words; the rate reported
is always the size of the bytes written.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aegrad.models.seq.model import SeqAutoencoder
from aegrad.data.text.vocab import BOS, EOS, PAD, UNK, Vocabulary
from aegrad.errors import UserError
from aegrad.run import atomic_write_text

MAGIC = b"AETX"
PRIOR_FILE = "text_prior.json"
CODEPOINTS = 0x110000
RANGE = 1 << 15  # quantised latent values are clamped to [-RANGE, RANGE]


@dataclass
class LatentPrior:
    """The quantised latent's coding distribution: N(mean_j, std_j) per dimension, bins of width `step`."""

    step: float
    mean: list[float]
    std: list[float]

    def save(self, run_dir: Path) -> Path:
        path = Path(run_dir) / PRIOR_FILE
        atomic_write_text(path, json.dumps({"step": self.step, "mean": self.mean, "std": self.std}) + "\n")
        return path

    @classmethod
    def load(cls, run_dir: Path) -> LatentPrior:
        path = Path(run_dir) / PRIOR_FILE
        if not path.is_file():
            raise UserError(f"{path} not found: run `aegrad text-compress` on this run first "
                            f"(it fits the latent prior)")
        d = json.loads(path.read_text(encoding="utf-8"))
        return cls(float(d["step"]), [float(v) for v in d["mean"]], [float(v) for v in d["std"]])


@contextmanager
def _one_thread():
    """Encoder and decoder must compute identical floats: one thread, so no reduction order depends on the split."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


STEPS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)  # latent bin widths `fit_prior` tries
CHOOSE_LINES = 512  # training lines it scores them on


@torch.no_grad()
def fit_prior(model: SeqAutoencoder, train_ids: torch.Tensor, step: float | None = None) -> LatentPrior:
    """Mean and std of the training codes per dimension (std floored at the step); `step` None: the best of STEPS.

    The step trades the code's bits against the characters' (a coarser z_hat predicts them worse);
    each candidate's ideal rate, -log2 P(q) - log2 P(x | z_hat), is summed over up to CHOOSE_LINES training lines.
    """
    if step is not None and step <= 0:
        raise UserError(f"--step must be positive, got {step}")
    model.eval()
    z = torch.cat([model.encode(b) for b in train_ids.split(512)]).double()
    mean, std = z.mean(0), z.std(0, unbiased=False)
    if step is None:
        sample = train_ids[: CHOOSE_LINES]
        step = min(STEPS, key=lambda s: ideal_bits(model, sample, z[: len(sample)], mean, std.clamp_min(s), s))
    return LatentPrior(step, [float(v) for v in mean], [float(v) for v in std.clamp_min(step)])


def ideal_bits(model: SeqAutoencoder, ids: torch.Tensor, z: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
               step: float) -> float:
    """-log2 P(q) - log2 P(x | z_hat) summed over `ids` (no coding: what a perfect coder would spend)."""
    from aegrad.models.seq.objective import masked_ce

    q = torch.round(z / step)
    normal = torch.distributions.Normal(mean / step, std / step)
    p_q = (normal.cdf(q + 0.5) - normal.cdf(q - 0.5)).clamp_min(1e-12)
    logits, target, mask = model.teacher_forced(ids, (q * step).float())
    nats = masked_ce(logits, target, mask).double() * mask.sum()
    return float(-torch.log2(p_q).sum() + nats / math.log(2.0))


def _lib():
    import constriction  # imported here: only the codec needs it

    return constriction.stream


def _rows(lines: Sequence[str], vocab: Vocabulary, max_len: int) -> list[list[int]]:
    rows = []
    for i, line in enumerate(lines):
        rows.append(vocab.ids(line))
        if len(rows[-1]) > max_len:
            raise UserError(f"line {i + 1} has {len(rows[-1])} tokens; this model codes lines of at most {max_len}")
    return rows


def _latent_params(prior: LatentPrior, n: int) -> tuple[np.ndarray, np.ndarray]:
    means = np.tile(np.asarray(prior.mean, dtype=np.float64) / prior.step, n)
    stds = np.tile(np.asarray(prior.std, dtype=np.float64) / prior.step, n)
    return means, stds


def _probs(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.double(), dim=1).numpy()


@torch.no_grad()
def encode_lines(model: SeqAutoencoder, vocab: Vocabulary, prior: LatentPrior, lines: Sequence[str]) -> np.ndarray:
    """The range coder's words (uint32) for `lines`, decodable by `decode_lines` given len(lines)."""
    stream = _lib()
    rows = _rows(lines, vocab, model.max_len)
    n = len(rows)
    enc = stream.queue.RangeEncoder()
    if n == 0:
        return enc.get_compressed()
    with _one_thread():
        model.eval()
        ids = torch.zeros(n, model.max_len, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        q = torch.round(model.encode(ids).double() / prior.step).clamp(-RANGE, RANGE).to(torch.int32)
        enc.encode(q.flatten().numpy(), stream.model.QuantizedGaussian(-RANGE, RANGE), *_latent_params(prior, n))
        z_hat = (q.double() * prior.step).float()
        lens = [len(r) for r in rows]
        state, symbol = model.start(z_hat), torch.full((n,), BOS, dtype=torch.long)
        active = np.ones(n, dtype=bool)
        family, uniform = stream.model.Categorical(perfect=False), stream.model.Uniform(CODEPOINTS)
        for t in range(model.max_len + 1):
            state, logits = model.step(state, symbol, z_hat)
            target = np.array([rows[i][t] if t < lens[i] else (EOS if t == lens[i] else PAD) for i in range(n)])
            idx = np.flatnonzero(active)
            enc.encode(target[idx].astype(np.int32), family, _probs(logits)[idx])
            for i in idx[target[idx] == UNK]:
                enc.encode(np.array([ord(lines[i][t])], dtype=np.int32), uniform)
            active &= target != EOS
            if not active.any():
                break
            symbol = torch.from_numpy(np.where(active, target, PAD))
    return enc.get_compressed()


@torch.no_grad()
def decode_lines(model: SeqAutoencoder, vocab: Vocabulary, prior: LatentPrior, words: np.ndarray, n: int) -> list[str]:
    """The `n` lines `encode_lines` coded into `words`."""
    stream = _lib()
    if n == 0:
        return []
    dec = stream.queue.RangeDecoder(np.asarray(words, dtype=np.uint32))
    with _one_thread():
        model.eval()
        q = dec.decode(stream.model.QuantizedGaussian(-RANGE, RANGE), *_latent_params(prior, n))
        z_hat = (torch.from_numpy(np.asarray(q, dtype=np.int64)).reshape(n, -1).double() * prior.step).float()
        state, symbol = model.start(z_hat), torch.full((n,), BOS, dtype=torch.long)
        active = np.ones(n, dtype=bool)
        pieces: list[list[str | int]] = [[] for _ in range(n)]  # token ids, and the characters <unk> escaped
        family, uniform = stream.model.Categorical(perfect=False), stream.model.Uniform(CODEPOINTS)
        for _ in range(model.max_len + 1):
            state, logits = model.step(state, symbol, z_hat)
            idx = np.flatnonzero(active)
            got = np.asarray(dec.decode(family, _probs(logits)[idx]), dtype=np.int64)
            target = np.full(n, PAD, dtype=np.int64)
            target[idx] = got
            for i, s in zip(idx, got):
                if s == UNK:
                    pieces[i].append(chr(int(dec.decode(uniform))))
                elif s != EOS:
                    pieces[i].append(int(s))
            active &= target != EOS
            if not active.any():
                break
            symbol = torch.from_numpy(np.where(active, target, PAD))
    return [_join(vocab, p) for p in pieces]


def _join(vocab: Vocabulary, pieces: list[str | int]) -> str:
    """A line from its decoded token ids and escaped characters: runs of ids are decoded together (a BPE
    token may hold part of a character's UTF-8 bytes)."""
    out, run = [], []
    for p in [*pieces, ""]:
        if isinstance(p, int):
            run.append(p)
            continue
        if run:
            out.append(vocab.decode([run])[0])
            run = []
        out.append(p)
    return "".join(out)


def pack(words: np.ndarray, n: int) -> bytes:
    """The .aetx container: MAGIC, line count, coder words."""
    return MAGIC + struct.pack("<I", n) + np.asarray(words, dtype="<u4").tobytes()


def unpack(data: bytes) -> tuple[np.ndarray, int]:
    if len(data) < 8 or data[:4] != MAGIC or (len(data) - 8) % 4:
        raise UserError("not an aegrad text stream (.aetx: wrong magic or truncated)")
    (n,) = struct.unpack("<I", data[4:8])
    return np.frombuffer(data[8:], dtype="<u4").astype(np.uint32), n


def stream_bytes(words: np.ndarray) -> int:
    """Bytes of a coder stream on its own (what one line costs when each line is its own stream)."""
    return 4 * len(words)


def bits_per_char(nbytes: int, chars: int) -> float:
    return 8.0 * nbytes / chars if chars else math.nan
