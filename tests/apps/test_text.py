"""Text (apps/text): vocabulary, corpora, masking, the gradient-through-time probe and finding, the codec, the CLI."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch

from aegrad.apps.text.codec import LatentPrior, decode_lines, encode_lines, fit_prior
from aegrad.data.text.corpora import read_corpus, read_fortunes, read_words
from aegrad.models.seq.model import SeqAutoencoder
from aegrad.models.seq.objective import MaskedCE, masked_ce
from aegrad.models.seq.timedecay import summarize, time_decay
from aegrad.models.seq.findings import RATIO_LIMIT, vanishing_through_time
from aegrad.data.text.vocab import EOS, PAD, UNK, Vocabulary, lengths
from aegrad.cli import main
from aegrad.config import DataConfig, ModelConfig, SeqConfig, TextConfig, load_config
from aegrad.data import load_dataset
from aegrad.diagnose import Kind
from aegrad.errors import UserError

KIND = Kind.VANISHING_THROUGH_TIME


def detect_vanishing_through_time(metrics, config=None):
    return [f.to_dict() for f in vanishing_through_time(metrics, config)]


LINES = ["hello world", "autoencoders", "naïve café", "a b c", "the quick brown fox", "hello again"]


def small_model(cell: str = "gru", vocab: int = 40, length: int = 24, hidden: int = 16, **kw) -> SeqAutoencoder:
    torch.manual_seed(0)
    cfg = ModelConfig(kind="seq", latent=4, seq=SeqConfig(cell=cell, hidden=hidden, embed=8, vocab_size=vocab), **kw)
    return SeqAutoencoder(cfg, (length,))


# ---------------------------------------------------------------- vocabulary and data


def test_vocabulary_round_trip_and_unknowns():
    vocab = Vocabulary.build(LINES, 64)
    ids = vocab.encode(LINES, 24)
    assert ids.dtype == np.int64 and ids.shape == (len(LINES), 24)
    assert vocab.decode(ids) == LINES
    assert (ids[:, -1] == PAD).all() and lengths(torch.from_numpy(ids)).tolist() == [len(s) for s in LINES]
    # the most frequent character gets the first id after the specials; ties by code point
    assert vocab.symbols_[0] == " "
    # an unseen character is mapped to <unk> (kept, not dropped) and decodes as U+FFFD
    out = vocab.encode(["hŽ"], 8)[0]
    assert out[1] == UNK and vocab.decode([out]) == ["h\ufffd"]
    # saved with the weights: the state dict rebuilds the same vocabulary
    again = Vocabulary.from_state_dict(vocab.state_dict())
    assert again.symbols_ == vocab.symbols_ and again.decode(ids) == LINES
    # a small vocabulary keeps the most frequent characters, the rest become <unk>
    tiny = Vocabulary.build(LINES, 8)
    assert tiny.size == 8 and UNK in tiny.encode(["autoencoders"], 16)[0]


def test_text_file_source_splits_and_builds_vocab_on_train(tmp_path):
    (tmp_path / "t.txt").write_text("\n".join(LINES * 3 + ["x" * 40]) + "\n\n", encoding="utf-8")
    cfg = DataConfig(source="text", path=str(tmp_path / "t.txt"), max_len=24, normalize="none", test_fraction=0.25)
    ds = load_dataset(cfg, seed=0)
    assert ds.train_x.dtype == torch.int64 and ds.sample_shape == (24,)
    assert len(ds.train_x) + len(ds.test_x) == 18  # the blank line and the 40-character line are left out
    assert set(ds.normalizer.decode(torch.cat([ds.train_x, ds.test_x]))) <= set(LINES)
    truncated = load_dataset(cfg.model_copy(update={"text": TextConfig(long_lines="truncate")}), seed=0)
    assert len(truncated.train_x) + len(truncated.test_x) == 19


def test_invalid_utf8_policy_is_counted_never_silent(tmp_path, caplog):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"good line\nbad \xff line\nanother good line\nlast one\n")
    cfg = DataConfig(source="text", path=str(f), max_len=32)
    with pytest.raises(UserError, match=r"bad.txt:2 is not UTF-8.*errors=replace or skip"):
        read_corpus(cfg)
    with caplog.at_level(logging.WARNING, logger="aegrad"):
        replaced = read_corpus(cfg.model_copy(update={"text": TextConfig(errors="replace")}))
    assert replaced.lines[1] == "bad \ufffd line" and replaced.counts == {"invalid_utf8_replaced": 1}
    assert "1 line(s) with invalid UTF-8 replaced" in caplog.text
    skipped = read_corpus(cfg.model_copy(update={"text": TextConfig(errors="skip")}))
    assert len(skipped.lines) == 3 and skipped.counts == {"invalid_utf8_skipped": 1}


def test_missing_corpus_is_one_clear_line(tmp_path, capsys):
    with pytest.raises(UserError, match=r"corpus fortunes not found .*\(apt-get install fortunes\)"):
        read_fortunes(None, tmp_path / "none")
    with pytest.raises(UserError, match=r"corpus wamerican not found .*\(apt-get install wamerican\)"):
        read_words(tmp_path / "words")
    code = main(["train", "--preset", "text-fortunes", "--set", f"data.path={tmp_path / 'none'}",
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "install the Debian package 'fortunes'" in err[0]


def test_fortunes_categories_are_labels():
    pytest.importorskip("sklearn")
    try:
        c = read_fortunes(["zippy", "disclaimer"])
    except UserError:
        pytest.skip("Debian package fortunes is not installed")
    assert set(c.labels) == {0, 1} and c.classes == ["zippy", "disclaimer"]
    assert all("\n" not in s and "%" != s for s in c.lines)
    with pytest.raises(UserError, match="unknown fortunes categories"):
        read_fortunes(["no-such-category"])


def test_config_fills_the_model_vocabulary_from_the_data():
    cfg = load_config(preset="text-words")
    assert cfg.model.seq.vocab_size == cfg.data.text.vocab_size == 64
    with pytest.raises(UserError, match="model.seq.vocab_size must equal data.text.vocab_size"):
        load_config(preset="text-words", overrides={"model.seq.vocab_size": 32})
    with pytest.raises(UserError, match="only model.kind=seq reads"):
        load_config(preset="text-words", overrides={"model.kind": "mlp"})
    with pytest.raises(UserError, match="neither train.pretrain"):
        load_config(preset="text-words", overrides={"train.noise": "masking"})


# ---------------------------------------------------------------- masking


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_padding_never_changes_the_loss(cell):
    vocab = Vocabulary.build(LINES, 40)
    model = small_model(cell, length=32).eval()
    model.probe_samples = 0
    short, long = (torch.from_numpy(vocab.encode(LINES, n)) for n in (20, 32))
    z = model.encode(short)
    assert torch.allclose(z, model.encode(long), atol=1e-6)  # the encoder's state is frozen over padding
    a, b = (masked_ce(*model.teacher_forced(x, z)) for x in (short, long))
    assert torch.allclose(a, b, atol=1e-6)
    # whatever sits at a padded position's logits (even NaN) never reaches the loss
    logits, target, mask = model.teacher_forced(long, z)
    poisoned = logits.masked_fill(~mask[..., None], math.nan)
    assert torch.equal(masked_ce(poisoned, target, mask), masked_ce(logits, target, mask))
    # and the targets: one <eos> per line, right after its last character
    assert (target == EOS).sum().item() == len(LINES) and mask.sum(1).tolist() == [len(s) + 1 for s in LINES]


def test_masked_ce_matches_per_token_reference():
    torch.manual_seed(1)
    logits = torch.randn(3, 5, 7)
    target = torch.randint(0, 7, (3, 5))
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    ref = torch.stack([-torch.log_softmax(logits[n, t], 0)[target[n, t]] for n, t in mask.nonzero()]).mean()
    assert torch.allclose(masked_ce(logits, target, mask), ref)
    terms = MaskedCE()(target, {"logits": logits, "target": target, "mask": mask})
    assert list(terms)[0] == "loss" and torch.allclose(terms["bits_per_token"], ref / math.log(2))


# ---------------------------------------------------------------- gradient through time


def _linear_rnn(decay: float, length: int = 40) -> SeqAutoencoder:
    """A tanh RNN that is linear in practice (tiny inputs): its Jacobian per step is decay * I."""
    model = small_model("rnn", length=length, hidden=16)
    with torch.no_grad():
        enc = model.encoder
        enc.hh.weight.copy_(decay * torch.eye(16))
        enc.hh.bias.zero_()
        enc.ih.weight.mul_(1e-4)
        enc.ih.bias.zero_()
    return model


def test_time_decay_of_a_constructed_rnn_is_its_jacobian_power():
    vocab = Vocabulary.build(["x" * 40, "yz" * 20], 40)
    ids = torch.from_numpy(vocab.encode(["x" * 40, "yz" * 20, "x" * 30], 40))
    g, n = time_decay(_linear_rnn(0.5), ids)
    ratio = (g[:20] / g[0]).numpy()
    assert np.allclose(ratio, 0.5 ** np.arange(20), rtol=1e-3)  # ||dL/dh_(T-d)|| = 0.5^d ||dL/dh_T||
    assert n[:30].tolist() == [3.0] * 30 and n[30:].tolist() == [2.0] * 10
    s = summarize(g, n)
    assert s["tgrad_span"] == 39 and s["tgrad_per_step"] == pytest.approx(0.5, rel=1e-2)  # the 2 lines reaching d=39
    # and the identity: nothing vanishes
    g1, n1 = time_decay(_linear_rnn(1.0), ids)
    assert np.allclose((g1[:30] / g1[0]).numpy(), 1.0, rtol=1e-3)  # (the lines reaching d >= 30 are fewer)


def _epochs(ratio: float, span: float = 54.0) -> list[dict]:
    return [{"kind": "epoch", "epoch": e, "test_tgrad_ratio": ratio, "test_tgrad_span": span,
             "test_tgrad_per_step": ratio ** (1 / span)} for e in (1, 2)]


def test_vanishing_through_time_finding_and_remedies():
    cfg = load_config(preset="text-fortunes", overrides={"model.seq.cell": "rnn"}).to_dict()
    [f] = detect_vanishing_through_time(_epochs(1e-9), cfg)
    assert f["kind"] == KIND and f["severity"] == "error" and f["evidence"]["span_steps"] == 54
    patches = [r["patch"] for r in f["remedies"]]
    assert patches[:2] == [{"model.seq.cell": "gru"}, {"model.seq.cell": "lstm"}]
    assert {"data.max_len": 32} in patches and {"model.seq.layer_norm": True} in patches
    assert {"train.clip_norm": 1.0} not in patches  # the preset already clips
    assert detect_vanishing_through_time(_epochs(10 * RATIO_LIMIT), cfg) == []
    assert detect_vanishing_through_time(_epochs(1e-9, span=8), cfg) == []  # too short to judge
    from aegrad.diagnose import diagnose

    wired = diagnose([{"step": 1, "window_steps": 1, "layers": [], "numel": [],
                       "grad_norm": {"mean": [], "max": [], "min": []},
                       "grad_rms": [], "weight_norm": [], "update_ratio": None, "nonfinite_steps": 0, "loss": None,
                       "activations": {}}], metrics=_epochs(1e-9), config=cfg)
    assert KIND in [x["kind"] for x in wired["findings"]]


def test_rnn_probe_flags_and_gated_carry_does_not():
    """The probe + detector end to end: a tanh RNN with a contracting recurrence is flagged; a GRU whose update
    gate is open (u ~ 1: h_t ~ h_(t-1)) carries the gradient over the same lines and is not."""
    vocab = Vocabulary.build(["ab" * 32], 40)
    ids = torch.from_numpy(vocab.encode(["ab" * 32, "ba" * 32, "a" * 60], 64))
    rnn = _linear_rnn(0.6, length=64)
    gru = small_model("gru", length=64)
    with torch.no_grad():
        gru.encoder.ih.bias[16:32].fill_(12.0)  # update gate logits: u = sigmoid(12) ~ 1
    for model, flagged in ((rnn, True), (gru, False)):
        s = summarize(*time_decay(model, ids))
        metrics = [{"kind": "epoch", **{f"test_{k}": v for k, v in s.items()}}]
        assert bool(detect_vanishing_through_time(metrics)) is flagged, s


def test_the_forward_measures_nothing_and_the_eval_probe_adds_the_terms():
    from aegrad.models import family_callbacks
    from aegrad.models.seq.timedecay import TimeDecayProbe, probe_terms
    from aegrad.models.seq.model import trim

    vocab = Vocabulary.build(LINES, 40)
    ids = torch.from_numpy(vocab.encode(LINES, 24))
    model = small_model()
    assert "tgrad_ratio" not in model.train()(ids) and "tgrad_ratio" not in model.eval()(ids)
    probes = [cb for cb in family_callbacks(ModelConfig(kind="seq"), "unused") if isinstance(cb, TimeDecayProbe)]
    assert len(probes) == 1  # the family registers its probe for every seq run
    terms: dict = {}
    probes[0].on_eval_batch(model, ids, terms)
    want = probe_terms(model, trim(ids)[: model.probe_samples])
    assert set(terms) == {"tgrad_ratio", "tgrad_span", "tgrad_per_step"}
    assert all(float(terms[k]) == float(want[k]) for k in want)
    assert all(p.grad is None for p in model.parameters())  # the probe never touches parameter gradients


# ---------------------------------------------------------------- codec


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_compression_round_trip_is_exact(cell):
    vocab = Vocabulary.build(LINES, 40)
    model = small_model(cell).eval()
    prior = fit_prior(model, torch.from_numpy(vocab.encode(LINES, 24)), step=0.1)
    lines = [*LINES, "", "ünïcödé ☃ unknown", "x" * 24]
    words = encode_lines(model, vocab, prior, lines)
    assert decode_lines(model, vocab, prior, words, len(lines)) == lines
    for s in lines[-3:]:  # each line as its own stream
        assert decode_lines(model, vocab, prior, encode_lines(model, vocab, prior, [s]), 1) == [s]
    with pytest.raises(UserError, match="at most 24"):
        encode_lines(model, vocab, prior, ["y" * 25])


def test_latent_prior_saved_and_step_chosen(tmp_path):
    vocab = Vocabulary.build(LINES, 40)
    model = small_model().eval()
    prior = fit_prior(model, torch.from_numpy(vocab.encode(LINES, 24)))
    assert prior.step in (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0) and min(prior.std) >= prior.step
    prior.save(tmp_path)
    assert LatentPrior.load(tmp_path) == prior
