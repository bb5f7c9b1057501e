"""The gradient monitor covers a user's own torch recurrent layers (nn.GRU / nn.LSTM / nn.RNN), weight by weight."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aegrad.diagnose import GradientMonitor
from aegrad.diagnose.stats import layer_grad_stats


class Tagger(nn.Module):
    """A hand-built sequence model: embedding -> torch recurrent layer -> linear head."""

    def __init__(self, rnn: nn.RNNBase) -> None:
        super().__init__()
        self.embed = nn.Embedding(11, 4)
        self.rnn = rnn
        self.head = nn.Linear(rnn.hidden_size * (2 if rnn.bidirectional else 1), 11)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(self.embed(ids))[0])


@pytest.mark.parametrize("rnn", [
    nn.GRU(4, 6, batch_first=True),
    nn.LSTM(4, 6, num_layers=2, batch_first=True),
    nn.RNN(4, 6, batch_first=True, bidirectional=True),
])
def test_recurrent_weights_are_monitored_with_their_grad_norms(rnn):
    torch.manual_seed(0)
    model = Tagger(rnn)
    monitor = GradientMonitor(model, sync_every=1)
    want = [f"rnn.{p}" for p, _ in rnn.named_parameters() if p.startswith("weight_")]
    assert monitor.layers == [*want, "head"]
    assert monitor.weights[0] is rnn.weight_ih_l0  # the parameter itself, not a copy
    ids = torch.randint(0, 11, (3, 5))
    loss = nn.functional.cross_entropy(model(ids).flatten(0, 1), ids.flatten())
    loss.backward()
    monitor.step(loss.detach())
    rec = monitor.drain()[0]
    got = dict(zip(rec["layers"], rec["grad_norm"]["mean"]))
    for name in want:
        g = rnn.get_parameter(name.removeprefix("rnn.")).grad.double().norm().item()
        assert g > 0
        assert got[name] == pytest.approx(g, rel=1e-6)
    assert layer_grad_stats(model)["rnn.weight_hh_l0"]["grad_norm"] == pytest.approx(
        rnn.weight_hh_l0.grad.double().norm().item(), rel=1e-6)
    monitor.close()
