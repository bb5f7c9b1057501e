"""The sequence autoencoder (``model.kind: seq``): recurrent encoder -> fixed-size code z -> autoregressive decoder.

The encoder reads a line's characters and its last hidden state gives z (a linear map;
``model.variational``: a mean and log-variance, z drawn by reparameterisation). The
decoder starts from ``tanh(W z)`` and predicts character t from the characters before it
and z (z is fed at every step), trained with teacher forcing: its inputs are
``<bos> x_0 ... x_{L-1}``, its targets ``x_0 ... x_{len-1} <eos>`` (Sutskever et al. 2014;
Bowman et al. 2016 for the variational form). Padding never counts: the encoder's state is
frozen past a line's end, and the objective masks every target after ``<eos>``.

The cells are written out from ``nn.Linear`` layers (input-to-hidden for the whole
sequence in one product, hidden-to-hidden per step), so the gradient monitor sees their
weights as it sees any layer, and every step's hidden state is a tensor whose gradient the
time-decay probe (timedecay.py) can take. ``rnn`` is the plain tanh (Elman) cell,
``gru`` (Cho et al. 2014) and ``lstm`` (Hochreiter & Schmidhuber 1997, forget bias 1) are gated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aegrad.data.text.vocab import BOS, EOS, PAD, UNK, lengths
from aegrad.config import ModelConfig, SeqConfig
from aegrad.errors import UserError
from aegrad.models.variational.model import reparameterize

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
State = tuple[Tensor, ...]  # (h,) or, for lstm, (h, c)


def trim(ids: Tensor) -> Tensor:
    """`ids` without the columns that are padding in every row: a batch of short lines runs fewer steps.

    Exact: the encoder carries its state over padding and the objective masks it. One host sync.
    """
    longest = int(lengths(ids).max()) if len(ids) else 0
    return ids[:, : max(1, longest)]


def reverse_lines(ids: Tensor) -> Tensor:
    """Each row's characters in reverse order, its padding left where it was: ``abc..`` -> ``cba..``."""
    lens = lengths(ids)[:, None]
    t = torch.arange(ids.shape[1], device=ids.device)[None, :]
    return ids.gather(1, torch.where(t < lens, lens - 1 - t, t))


class Cell(nn.Module):
    """One recurrent cell: ``inputs`` precomputes W_ih x for a whole sequence, ``step`` advances one position."""

    def __init__(self, kind: str, inputs: int, hidden: int, layer_norm: bool) -> None:
        super().__init__()
        self.kind, self.hidden = kind, hidden
        k = GATES[kind] * hidden
        self.ih = nn.Linear(inputs, k)
        self.hh = nn.Linear(hidden, k)
        self.ln_i = nn.LayerNorm(k) if layer_norm else nn.Identity()
        self.ln_h = nn.LayerNorm(k) if layer_norm else nn.Identity()
        if kind == "lstm":
            with torch.no_grad():  # forget gate open at the start (Jozefowicz et al. 2015)
                self.ih.bias[hidden : 2 * hidden].add_(1.0)

    def inputs(self, x: Tensor) -> Tensor:
        return self.ln_i(self.ih(x))

    def zero_state(self, h: Tensor) -> State:
        return (h, torch.zeros_like(h)) if self.kind == "lstm" else (h,)

    def step(self, gi: Tensor, state: State) -> State:
        h = state[0]
        gh = self.ln_h(self.hh(h))
        if self.kind == "rnn":
            return (torch.tanh(gi + gh),)
        if self.kind == "gru":
            ir, iz, inn = gi.chunk(3, -1)
            hr, hz, hn = gh.chunk(3, -1)
            r, u = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
            n = torch.tanh(inn + r * hn)
            return ((1.0 - u) * n + u * h,)
        i, f, g, o = (gi + gh).chunk(4, -1)
        c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
        return (torch.sigmoid(o) * torch.tanh(c), c)


class SeqAutoencoder(nn.Module):
    """``encode(ids) -> z``, ``decode(z) -> ids`` (greedy),
    ``forward(ids) -> {"logits", "target", "mask", "z", ...}``."""

    objective = "masked_ce"

    def __init__(self, cfg: ModelConfig, sample_shape: tuple[int, ...]) -> None:
        super().__init__()
        s = self._common(cfg, sample_shape)
        self.encoder = Cell(s.cell, s.embed, s.hidden, s.layer_norm)
        self.to_latent = nn.Linear(s.hidden, 2 * cfg.latent if cfg.variational else cfg.latent)
        self.from_latent = nn.Linear(cfg.latent, s.hidden)
        self.decoder = Cell(s.cell, s.embed + cfg.latent, s.hidden, s.layer_norm)
        self.out = nn.Linear(s.hidden, s.vocab_size)

    def _common(self, cfg: ModelConfig, sample_shape: tuple[int, ...]) -> SeqConfig:
        """What every sequence autoencoder holds (shape, vocabulary, latent, word dropout, the embedding);
        returns cfg.seq."""
        s = cfg.seq
        if len(sample_shape) != 1:
            raise UserError(f"model.kind=seq reads token-id sequences (data.source=text), "
                            f"got samples of shape {sample_shape}")
        if s.vocab_size is None:
            raise UserError("model.seq.vocab_size is unset: build the model from a validated Config "
                            "(data.text.vocab_size)")
        self.sample_shape = tuple(sample_shape)
        self.max_len, self.vocab, self.latent = sample_shape[0], s.vocab_size, cfg.latent
        self.variational = cfg.variational
        self.probe_samples = 64  # lines of each held-out batch the time-decay probe measures (0: off); timedecay.py
        self.word_dropout = s.word_dropout
        self.reverse_input = s.reverse_input
        self.embed = nn.Embedding(s.vocab_size, s.embed, padding_idx=PAD)
        return s

    # -- encoder ---------------------------------------------------------------------------

    def encoder_states(self, ids: Tensor) -> tuple[Tensor, list[Tensor]]:
        """(code layer output (N, latent or 2 latent), the hidden state after every position [(N, H)] * L).

        Past a line's end the state is carried unchanged, so padding never reaches z. With
        ``reverse_input`` the states follow the reading order (last character first).
        """
        ids = reverse_lines(ids.long()) if self.reverse_input else ids.long()
        gi = self.encoder.inputs(self.embed(ids))
        live = (torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths(ids)[:, None]).unsqueeze(-1)
        state = self.encoder.zero_state(gi.new_zeros(ids.shape[0], self.encoder.hidden))
        hs = []
        for t in range(ids.shape[1]):
            new = self.encoder.step(gi[:, t], state)
            state = tuple(torch.where(live[:, t], n, o) for n, o in zip(new, state))
            hs.append(state[0])
        return self.to_latent(state[0]), hs

    def posterior(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, logvar) of q(z|x) for a variational model."""
        if not self.variational:
            raise UserError("this run's model is not variational: train one with --set model.variational=true")
        return self.encoder_states(ids)[0].chunk(2, dim=1)

    def encode(self, ids: Tensor) -> Tensor:
        """The code z (N, latent) of (N, L) ids (the posterior mean for a variational model)."""
        code = self.encoder_states(ids)[0]
        return code.chunk(2, dim=1)[0] if self.variational else code

    # -- decoder ---------------------------------------------------------------------------

    def start(self, z: Tensor) -> State:
        """The decoder's state before its first input."""
        return self.decoder.zero_state(torch.tanh(self.from_latent(z)))

    def step(self, state: State, symbol: Tensor, z: Tensor) -> tuple[State, Tensor]:
        """Feed one symbol per line (N,), get the next state and the logits of the next symbol (N, V).

        Compression calls this, one position at a time, on both sides of the stream.
        """
        gi = self.decoder.inputs(torch.cat([self.embed(symbol.long()), z], dim=1))
        state = self.decoder.step(gi, state)
        return state, self.out(state[0])

    def teacher_inputs(self, ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(inputs <bos> x_0..x_{L-1}, target x_0..x_{len-1} <eos> <pad>.., mask of real targets), each (N, L+1).

        In training, ``word_dropout`` of the inputs' characters become <unk>.
        """
        ids = ids.long()
        n, length = ids.shape
        bos = ids.new_full((n, 1), BOS)
        inputs = torch.cat([bos, ids], dim=1)[:, :length + 1]
        target = torch.cat([ids, ids.new_full((n, 1), PAD)], dim=1)
        lens = lengths(ids)
        target[torch.arange(n, device=ids.device), lens] = EOS
        mask = torch.arange(length + 1, device=ids.device)[None, :] <= lens[:, None]
        if self.training and self.word_dropout > 0:  # Bowman et al. 2016: the decoder cannot lean on its inputs alone
            drop = torch.rand(inputs.shape, device=inputs.device) < self.word_dropout
            inputs = torch.where(drop & (inputs > UNK), torch.full_like(inputs, UNK), inputs)
        return inputs, target, mask

    def teacher_forced(self, ids: Tensor, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(logits (N, L+1, V), target (N, L+1), mask (N, L+1)) with inputs <bos> x_0..x_{L-1}."""
        inputs, target, mask = self.teacher_inputs(ids)
        length = ids.shape[1]
        emb = self.embed(inputs)
        gi = self.decoder.inputs(torch.cat([emb, z[:, None, :].expand(-1, length + 1, -1)], dim=2))
        state = self.start(z)
        hs = []
        for t in range(length + 1):
            state = self.decoder.step(gi[:, t], state)
            hs.append(state[0])
        return self.out(torch.stack(hs, dim=1)), target, mask

    @torch.no_grad()
    def generate(self, z: Tensor, temperature: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
        """(N, L) ids decoded from z: greedy (temperature 0) or sampled at `temperature`; PAD after <eos>."""
        n = z.shape[0]
        out = torch.zeros(n, self.max_len, dtype=torch.long, device=z.device)
        done = torch.zeros(n, dtype=torch.bool, device=z.device)
        state, symbol = self.start(z), torch.full((n,), BOS, dtype=torch.long, device=z.device)
        for t in range(self.max_len):
            state, logits = self.step(state, symbol, z)
            logits[:, PAD] = -torch.inf  # never emitted: <eos> ends a line
            logits[:, BOS] = -torch.inf
            if temperature > 0:
                symbol = torch.multinomial(F.softmax(logits / temperature, dim=1), 1, generator=generator)[:, 0]
            else:
                symbol = logits.argmax(1)
            done = done | (symbol == EOS)
            out[:, t] = torch.where(done, PAD, symbol)
            if bool(done.all()):
                break
        return out

    def decode(self, z: Tensor) -> Tensor:
        """Greedy reconstruction ids (N, L) of codes (N, latent)."""
        return self.generate(z)

    # -- training ---------------------------------------------------------------------------

    def forward(self, ids: Tensor) -> dict[str, Tensor]:
        """Named outputs: logits, target, mask (the objective's inputs), z, and mu/logvar when variational.

        It measures nothing: the time-decay probe is a training callback (timedecay.py's ``TimeDecayProbe``).
        """
        ids = trim(ids)
        code, _ = self.encoder_states(ids)
        out: dict[str, Tensor] = {}
        if self.variational:
            mu, logvar = code.chunk(2, dim=1)
            z = reparameterize(mu, logvar) if self.training else mu
            out.update(mu=mu, logvar=logvar)
        else:
            z = code
        logits, target, mask = self.teacher_forced(ids, z)
        out.update(logits=logits, target=target, mask=mask, z=z)
        return out
