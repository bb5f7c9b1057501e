"""The Transformer sequence autoencoder (model.seq.cell=transformer) and the recurrent model's reverse_input option."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from aegrad.models.seq import build_seq
from aegrad.models.seq.model import reverse_lines
from aegrad.models.seq.objective import masked_ce
from aegrad.models.seq.transformer import TransformerSeqAutoencoder
from aegrad.data.text.vocab import BOS, PAD, Vocabulary
from aegrad.config import ModelConfig, SeqConfig
from aegrad.diagnose import GradientMonitor
from aegrad.errors import UserError

LINES = ["hello world", "autoencoders", "naïve café", "a b c", "the quick brown fox", "hello again"]


def transformer(length: int = 24, **kw) -> TransformerSeqAutoencoder:
    torch.manual_seed(0)
    seq = SeqConfig(cell="transformer", hidden=16, embed=8, vocab_size=40, layers=2, heads=2, **kw)
    model = build_seq(ModelConfig(kind="seq", latent=4, seq=seq), (length,))
    assert isinstance(model, TransformerSeqAutoencoder)
    return model


def test_padding_never_reaches_z_or_the_loss():
    vocab = Vocabulary.build(LINES, 40)
    model = transformer(32).eval()
    ids = torch.from_numpy(vocab.encode(LINES, 32))
    junk = ids.clone()
    pad = ids == PAD
    pad[:, :20] = False  # keep a first PAD in every row, so the lines keep their lengths
    junk[pad] = torch.randint(4, 40, (int(pad.sum()),))  # characters where padding was
    z = model.encode(ids)
    assert torch.allclose(z, model.encode(junk), atol=1e-6)
    logits, target, mask = model.teacher_forced(ids, z)
    a = masked_ce(logits, target, mask)
    assert torch.allclose(a, masked_ce(*model.teacher_forced(junk, z)), atol=1e-6)
    # a shorter padded width gives the same loss (positions past the longest line add nothing)
    short = torch.from_numpy(vocab.encode(LINES, 20))
    assert torch.allclose(a, masked_ce(*model.teacher_forced(short, model.encode(short))), atol=1e-5)
    poisoned = logits.masked_fill(~mask[..., None], math.nan)
    assert torch.equal(masked_ce(poisoned, target, mask), a)


def test_step_by_step_logits_equal_teacher_forcing():
    vocab = Vocabulary.build(LINES, 40)
    model = transformer().eval()
    ids = torch.from_numpy(vocab.encode(LINES, 24))
    z = model.encode(ids)
    logits, _, _ = model.teacher_forced(ids, z)
    state, symbol = model.start(z), torch.full((len(LINES),), BOS)
    for t in range(6):
        state, step_logits = model.step(state, symbol, z)
        assert torch.allclose(step_logits, logits[:, t], atol=1e-5)
        symbol = ids[:, t]


def test_monitor_watches_every_weight_matrix():
    model = transformer()
    monitor = GradientMonitor(model)
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert monitor.layers == linears and len(linears) == 4 + 2 * 2 * 4  # in/to/from/out + 4 per block
    monitor.close()


def test_transformer_learns_to_reconstruct_a_few_lines():
    vocab = Vocabulary.build(LINES, 40)
    model = transformer()
    ids = torch.from_numpy(vocab.encode(LINES, 24))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        out = model(ids)
        loss = masked_ce(out["logits"], out["target"], out["mask"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    assert vocab.decode(model.decode(model.encode(ids))) == LINES


def test_heads_must_divide_the_width():
    with pytest.raises(UserError, match="divisible"):
        build_seq(
            ModelConfig(kind="seq", latent=4, seq=SeqConfig(cell="transformer", hidden=10, heads=4, vocab_size=40)),
            (8,))


def test_reverse_lines_keeps_padding_in_place():
    ids = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0], [4, 5, 6, 7, 8]])
    assert reverse_lines(ids).tolist() == [[7, 6, 5, 0, 0], [9, 8, 0, 0, 0], [8, 7, 6, 5, 4]]
    assert torch.equal(reverse_lines(reverse_lines(ids)), ids)
