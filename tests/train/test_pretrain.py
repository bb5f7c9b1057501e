"""Greedy layer-wise pretraining on a stand-in model with the Autoencoder's stage attributes."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from aegrad.config import TrainConfig
from aegrad.train.pretrain import pretrain_layerwise


class StandIn(nn.Module):
    """encoder_blocks / decoder_blocks / to_blocks like aegrad.models.Autoencoder; samples are 4x4."""

    def __init__(self, norm: bool = False) -> None:
        super().__init__()

        def hidden(i: int, o: int) -> nn.Module:
            return nn.Sequential(nn.Linear(i, o), *([nn.BatchNorm1d(o)] if norm else []), nn.Tanh())

        self.encoder_blocks = nn.ModuleList([hidden(16, 10), hidden(10, 6), nn.Linear(6, 3)])
        self.decoder_blocks = nn.ModuleList([hidden(3, 6), hidden(6, 10), nn.Linear(10, 16)])

    def to_blocks(self, x: Tensor) -> Tensor:
        return x.flatten(1)


def _data(n: int = 513) -> Tensor:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(n, 3, generator=g)
    return torch.tanh(z @ torch.randn(3, 16, generator=g)).reshape(n, 4, 4) + 0.01 * torch.randn(n, 4, 4, generator=g)


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"optimizer": "adam", "lr": 1e-2, "batch_size": 32, "pretrain_epochs": 4, **kw})


def _stage_params(model: StandIn, i: int) -> set[int]:
    n = len(model.encoder_blocks)
    return {id(p) for m in (model.encoder_blocks[i], model.decoder_blocks[n - 1 - i]) for p in m.parameters()}


def test_each_stage_learns_and_only_its_parameters_move():
    torch.manual_seed(0)
    model = StandIn()
    logs: list[dict] = []
    prev = {id(p): p.detach().clone() for p in model.parameters()}

    def log(rec: dict) -> None:
        logs.append(rec)
        mine = _stage_params(model, rec["stage"])
        for p in model.parameters():
            moved = not torch.equal(p.detach(), prev[id(p)])
            assert moved == (id(p) in mine), (rec, p.shape)
            prev[id(p)] = p.detach().clone()

    gen = torch.Generator().manual_seed(1)
    records = pretrain_layerwise(model, _data(), _cfg(), generator=gen, device="cpu", log=log)
    expected = [("pretrain", s, e) for s in range(3) for e in range(4)]
    assert [(r["kind"], r["stage"], r["epoch"]) for r in logs] == expected
    assert [r["stage"] for r in records] == [0, 1, 2]
    for r in records:
        assert r["epochs"] == 4
        assert r["last_loss"] < 0.7 * r["first_loss"], r  # every stage's reconstruction improves
    for s in range(3):
        losses = [r["loss"] for r in logs if r["stage"] == s]
        assert losses[-1] < losses[0]
    assert model.training  # the mode is restored


def test_pretraining_is_reproducible_from_the_generator():
    out = []
    for _ in range(2):
        torch.manual_seed(0)
        model = StandIn()
        gen = torch.Generator().manual_seed(3)
        recs = pretrain_layerwise(model, _data(), _cfg(pretrain_epochs=1), generator=gen, device="cpu", log=[].append)
        out.append((recs, [p.detach().clone() for p in model.parameters()]))
    assert out[0][0] == out[1][0]
    assert all(torch.equal(a, b) for a, b in zip(out[0][1], out[1][1]))


def test_lower_stages_are_frozen_with_batchnorm():
    # 513 = 16 * 32 + 1: the trailing one-sample batch joins the previous one (BatchNorm needs two).
    torch.manual_seed(0)
    model = StandIn(norm=True)
    bn0 = model.encoder_blocks[0][1]
    seen: dict[int, Tensor] = {}

    def log(rec: dict) -> None:
        if rec["stage"] == 0:
            seen[0] = bn0.running_mean.clone()
        else:  # stage 0's running statistics no longer change: it runs in eval mode
            assert torch.equal(bn0.running_mean, seen[0])

    gen = torch.Generator().manual_seed(1)
    records = pretrain_layerwise(model, _data(), _cfg(pretrain_epochs=2), generator=gen, device="cpu", log=log)
    assert all(r["last_loss"] < r["first_loss"] for r in records)
