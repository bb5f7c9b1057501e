"""What the benchmark measures: the reference task RT1 and the targets aegrad is held to.

A ``Task`` is plain data (it travels to each contestant's subprocess as JSON), so
every contestant trains exactly the same problem: same sizes, seed, layers,
optimizer, batch and epochs.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import asdict, dataclass, field
from typing import Any

# Contestant names, in the order they run within one repeat (A B C ... A B C ...).
AEGRAD = "aegrad"  # aegrad.train through the public API, monitor on (as users get it)
AEGRAD_MONITOR_OFF = "aegrad_monitor_off"  # the same with monitor.enabled=false
# The same with train.precision=bf16 (bf16 products, float32 weights and Adam): not held to any target
# (the targets are fp32's); measured beside them for the decision on precision.
AEGRAD_BF16 = "aegrad_bf16"
PEERS = ("pytorch", "pythae", "keras")  # what aegrad is compared with
CONTESTANTS = (AEGRAD, AEGRAD_MONITOR_OFF, AEGRAD_BF16, *PEERS)

# Targets (reported met or not; they never fail the build).
TARGET_SPEEDUP_VS_FASTEST_PEER = 1.25  # aegrad samples/s over the fastest peer's
TARGET_CEILING_FRACTION = 0.70  # aegrad's training FLOP/s over the fp32 matmul ceiling
TARGET_MONITOR_OVERHEAD_PCT = 3.0  # monitor on vs off, in percent of training time
TARGET_SEED_WALL_S = 3.0  # `aegrad train --preset seed-reference`, whole process


def machine_cores() -> int:
    """CPUs this process may run on (the affinity mask, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Task:
    """RT1: a dense autoencoder on Fashion-MNIST. Every field is shared by all contestants."""

    widths: tuple[int, ...] = (512, 256)  # encoder hidden widths (ReLU); the decoder mirrors them
    latent: int = 32  # code size; linear, no activation
    input_dim: int = 784  # 28x28 pixels, flattened, in [0, 1]; the output layer is a sigmoid
    lr: float = 1e-3  # Adam, default betas and eps everywhere
    batch_size: int = 128
    epochs: int = 5
    seed: int = 0
    n_train: int | None = None  # None: all 60k; else a seeded subset (--quick)
    n_test: int | None = None  # None: all 10k
    threads: int = field(default_factory=machine_cores)  # intra-op threads of every framework
    data_dir: str | None = None  # folder with the four IDX files (None: searched like aegrad does)

    def layer_dims(self) -> list[tuple[int, int]]:
        """(fan_in, fan_out) of every linear layer, encoder then decoder."""
        sizes = [self.input_dim, *self.widths, self.latent, *reversed(self.widths), self.input_dim]
        return list(itertools.pairwise(sizes))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        return cls(**{**data, "widths": tuple(data["widths"])})


def train_flops_per_sample(layer_dims: list[tuple[int, int]]) -> float:
    """Multiply-adds x 2 of one training sample through dense layers (biases ignored).

    Forward 2W, weight gradients 2W, input gradients 2W for every layer but the first
    (nothing needs the gradient of the data): 6 * sum(W) - 2 * W_first. RT1: 5.69e6.
    """
    weights = [i * o for i, o in layer_dims]
    return 6.0 * sum(weights) - 2.0 * weights[0]
