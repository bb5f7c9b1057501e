"""The textbook PyTorch loop: DataLoader(TensorDataset(...), shuffle=True), Adam, MSE.

This is the loop a PyTorch user writes first, with PyTorch's default initialisation;
``layers`` builds the same encoder/decoder for the pythae contestant too.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING

from benchmarks import data
from benchmarks.contestants import Measurement, register
from benchmarks.spec import Task

if TYPE_CHECKING:
    from torch import nn


def layers(task: Task) -> tuple[nn.Sequential, nn.Sequential]:
    """(encoder, decoder): ReLU hidden layers, a linear code, a sigmoid reconstruction."""
    from torch import nn

    def stack(sizes: list[int], last: nn.Module | None) -> nn.Sequential:
        mods: list[nn.Module] = []
        for fan_in, fan_out in itertools.pairwise(sizes[:-1]):
            mods += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        mods.append(nn.Linear(sizes[-2], sizes[-1]))
        return nn.Sequential(*mods, *([last] if last is not None else []))

    encoder = stack([task.input_dim, *task.widths, task.latent], None)
    decoder = stack([task.latent, *reversed(task.widths), task.input_dim], nn.Sigmoid())
    return encoder, decoder


def test_mse(model: nn.Module, x_test, batch: int = 2048) -> float:
    """Mean squared error over all test samples and pixels."""
    import torch

    total = 0.0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(x_test), batch):
            xb = x_test[i : i + batch]
            total += float(((model(xb) - xb) ** 2).sum())
    return total / x_test.numel()


@register("pytorch", requires=("torch",), install_hint="torch is aegrad's own dependency")
def run(task: Task) -> Measurement:
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(task.threads)
    torch.manual_seed(task.seed)
    train, test = data.load(task.data_dir, task.n_train, task.n_test, task.seed)
    x_train, x_test = torch.from_numpy(train), torch.from_numpy(test)

    encoder, decoder = layers(task)
    model = nn.Sequential(encoder, decoder)
    loader = DataLoader(TensorDataset(x_train), batch_size=task.batch_size, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=task.lr)

    t0 = time.perf_counter()
    model.train()
    for _ in range(task.epochs):
        for (xb,) in loader:
            opt.zero_grad()
            loss = F.mse_loss(model(xb), xb)
            loss.backward()
            opt.step()
    train_s = time.perf_counter() - t0

    samples = len(x_train) * task.epochs
    return Measurement(samples / train_s, train_s, test_mse(model, x_test), {"torch": torch.__version__})
