"""data.text.tokenizer=bpe: byte-level BPE vocabulary (tokenizers), fitted on the training split, round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aegrad.data.text.bpe import BpeVocabulary, load_vocabulary
from aegrad.apps.text.codec import decode_lines, encode_lines, fit_prior
from aegrad.models.seq.model import SeqAutoencoder
from aegrad.data.text.vocab import EOS, PAD, UNK, Vocabulary
from aegrad.config import DataConfig, ModelConfig, SeqConfig, TextConfig
from aegrad.data import load_dataset
from aegrad.errors import UserError

LINES = ["hello world", "autoencoders", "naïve café", "a b c", "the quick brown fox", "hello again"] * 4


def test_round_trip_any_text_and_specials_at_their_ids():
    vocab = BpeVocabulary.build(LINES, 300)
    assert 260 < vocab.size <= 300
    odd = ["ünïcödé ☃ never seen", "", "  two  spaces ", "日本語"]
    ids = vocab.encode(LINES + odd, 40)
    assert ids.dtype == np.int64 and (ids[:, -1] == PAD).all()
    assert UNK not in ids and EOS not in ids and ids.min() >= 0 and ids.max() < vocab.size
    assert vocab.decode(ids) == LINES + odd  # bytes cover everything: exact, no <unk>
    # a decode stops at <eos> as the character vocabulary's does
    row = ids[0].copy()
    row[2] = EOS
    assert vocab.decode([row]) == [vocab.decode([ids[0][:2]])[0]]
    # merges compress what the training lines repeat: "hello world" is fewer tokens than characters
    assert len(vocab.ids("hello world")) < len("hello world") // 2
    # saved with the weights: the state dict rebuilds the same tokenizer, and is told apart from a character one
    again = load_vocabulary(vocab.state_dict())
    assert isinstance(again, BpeVocabulary) and np.array_equal(again.encode(LINES + odd, 40), ids)
    assert type(load_vocabulary(Vocabulary.build(LINES, 40).state_dict())) is Vocabulary
    with pytest.raises(UserError, match="vocab_size >= 260"):
        BpeVocabulary.build(LINES, 128)


def test_source_learns_merges_on_the_training_split_only(tmp_path):
    train_only, test_only = "zebra" * 3, "quokka" * 3
    lines = [f"{train_only} {k}" for k in range(40)]
    for k in (1, 5, 15, 21, 22, 23, 24, 31, 33, 38):  # the seeded split's test lines (checked below)
        lines[k] = f"{test_only} {k}"
    (tmp_path / "t.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = DataConfig(source="text", path=str(tmp_path / "t.txt"), max_len=32, normalize="none", test_fraction=0.25,
                     text=TextConfig(tokenizer="bpe", vocab_size=300))
    ds = load_dataset(cfg, seed=0)
    vocab = ds.normalizer
    assert isinstance(vocab, BpeVocabulary)
    train, test = vocab.decode(ds.train_x), vocab.decode(ds.test_x)
    assert sorted(train + test) == sorted(lines)  # every line, exactly
    assert all(test_only in s for s in test) and not any(test_only in s for s in train)
    assert len(vocab.ids(train_only)) <= 2 < len(vocab.ids(test_only))  # merges for training text only


def test_codec_round_trip_with_bpe():
    vocab = BpeVocabulary.build(LINES, 300)
    torch.manual_seed(0)
    model = SeqAutoencoder(ModelConfig(kind="seq", latent=4, seq=SeqConfig(hidden=16, embed=8, vocab_size=300)), (24,))
    prior = fit_prior(model, torch.from_numpy(vocab.encode(LINES, 24)), step=0.1)
    lines = ["naïve café", "ünïcödé ☃", "", "hello world"]
    assert decode_lines(model, vocab, prior, encode_lines(model, vocab, prior, lines), len(lines)) == lines
    with pytest.raises(UserError, match="tokens"):
        encode_lines(model, vocab, prior, ["☃" * 30])
