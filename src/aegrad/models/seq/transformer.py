"""The Transformer sequence autoencoder (``model.kind: seq``, ``model.seq.cell: transformer``).

Encoder: ``<bos> x_0 .. x_{len-1}`` embedded with learned positions, ``model.seq.layers``
pre-norm blocks of self-attention (Vaswani et al. 2017) in which no position attends to
padding, then the mean over the real positions (``<bos>`` and the characters) mapped to z
(to a mean and log-variance when variational). A fixed-size code, as the recurrent model's.

Decoder: causal self-attention over ``[z] <bos> x_0 .. x_{L-1}``: z, projected to the model
width, is a prefix every position attends to, and is also added to every input, so that no
position has to find it (the recurrent decoder is fed z at every step for the same reason).
The output at input t predicts target t (``x_t``, then ``<eos>``), as with teacher forcing;
being causal, a real position never sees a later one, so padding, which comes after
``<eos>``, cannot reach a real target. ``step`` (generation, compression) re-runs the
decoder on the symbols so far (no cache: lines are short) and gives exactly the teacher-forced
logits of the last position.

Every weight matrix is an ``nn.Linear`` (query/key/value, output projection, feed-forward),
so the gradient monitor watches each of them; attention is ``F.scaled_dot_product_attention``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aegrad.models.seq.model import SeqAutoencoder, State
from aegrad.data.text.vocab import BOS, lengths
from aegrad.config import ModelConfig
from aegrad.errors import UserError


class Block(nn.Module):
    """A pre-norm Transformer block: x + attn(LN(x)), then x + FFN(LN(x)) (FFN 4x wide, GELU)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.fc = nn.Linear(width, 4 * width)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x: Tensor, attend: Tensor) -> Tensor:
        """x (N, T, D); attend: bool, broadcastable to (N, heads, T, T), True where a query may read a key."""
        n, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
        x = x + self.proj(a.transpose(1, 2).reshape(n, t, d))
        return x + self.fc2(self.act(self.fc(self.ln2(x))))


class TransformerSeqAutoencoder(SeqAutoencoder):
    """Transformer encoder -> pooled z -> causal Transformer decoder conditioned on z;
    the recurrent model's interface."""

    def __init__(self, cfg: ModelConfig, sample_shape: tuple[int, ...]) -> None:
        nn.Module.__init__(self)  # not SeqAutoencoder's: it would build recurrent cells
        s = self._common(cfg, sample_shape)
        if s.hidden % s.heads:
            raise UserError(f"model.seq.hidden={s.hidden} must be divisible by model.seq.heads={s.heads} "
                            f"for the transformer")
        self.probe_samples = 0  # no recurrence: the time-decay probe does not apply
        self.in_proj = nn.Linear(s.embed, s.hidden)
        self.pos = nn.Embedding(self.max_len + 2, s.hidden)  # decoder: z, <bos>, up to max_len characters
        self.enc_blocks = nn.ModuleList(Block(s.hidden, s.heads) for _ in range(s.layers))
        self.enc_norm = nn.LayerNorm(s.hidden)
        self.to_latent = nn.Linear(s.hidden, 2 * cfg.latent if cfg.variational else cfg.latent)
        self.from_latent = nn.Linear(cfg.latent, s.hidden)
        self.dec_blocks = nn.ModuleList(Block(s.hidden, s.heads) for _ in range(s.layers))
        self.dec_norm = nn.LayerNorm(s.hidden)
        self.out = nn.Linear(s.hidden, s.vocab_size)

    def _embed(self, ids: Tensor, offset: int = 0) -> Tensor:
        positions = torch.arange(offset, offset + ids.shape[1], device=ids.device)
        return self.in_proj(self.embed(ids)) + self.pos(positions)

    def encoder_states(self, ids: Tensor) -> tuple[Tensor, list[Tensor]]:
        """(code layer output (N, latent or 2 latent), []): no per-step states to probe."""
        ids = ids.long()
        n, length = ids.shape
        x = self._embed(torch.cat([ids.new_full((n, 1), BOS), ids], dim=1))
        live = torch.arange(length + 1, device=ids.device)[None, :] <= lengths(ids)[:, None]  # <bos> and characters
        attend = live[:, None, None, :]  # no query reads a padded key
        for block in self.enc_blocks:
            x = block(x, attend)
        x = self.enc_norm(x)
        w = live.unsqueeze(-1).to(x.dtype)
        pooled = (torch.where(live.unsqueeze(-1), x, torch.zeros_like(x))).sum(1) / w.sum(1)
        return self.to_latent(pooled), []

    def _decode(self, inputs: Tensor, z: Tensor) -> Tensor:
        """Logits (N, T, V) for decoder inputs (N, T) given z: position t sees z and inputs 0..t."""
        zh = self.from_latent(z)
        x = torch.cat([zh[:, None, :], self._embed(inputs, 1) + zh[:, None, :]], dim=1)
        t = x.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        for block in self.dec_blocks:
            x = block(x, causal)
        return self.out(self.dec_norm(x[:, 1:]))

    def teacher_forced(self, ids: Tensor, z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(logits (N, L+1, V), target (N, L+1), mask (N, L+1)) with inputs <bos> x_0..x_{L-1}."""
        inputs, target, mask = self.teacher_inputs(ids)
        return self._decode(inputs, z), target, mask

    def start(self, z: Tensor) -> State:
        """No symbols yet: the state is the (N, 0) inputs so far."""
        return (torch.zeros(z.shape[0], 0, dtype=torch.long, device=z.device),)

    def step(self, state: State, symbol: Tensor, z: Tensor) -> tuple[State, Tensor]:
        """Append one symbol per line; the logits of the next (the decoder re-run on every input so far)."""
        inputs = torch.cat([state[0], symbol.long()[:, None]], dim=1)
        return (inputs,), self._decode(inputs, z)[:, -1]
