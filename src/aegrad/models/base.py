"""The ``Autoencoder`` base class and the model registry (``create_model`` / ``list_models``).

An autoencoder is two lists of stages run in order, trained on
min E||x - D(E(x))||^2. The stages pair up for greedy layer-wise pretraining
(Bengio et al. 2007; Hinton & Salakhutdinov 2006): ``decoder_blocks[n-1-i]``
maps ``encoder_blocks[i]``'s output back to that stage's input, so stage i can
be trained as a shallow autoencoder on the codes of stages 0..i-1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch.nn as nn
from torch import Tensor

from aegrad.config import ModelConfig
from aegrad.errors import UserError
from aegrad.registry import Registry


class Autoencoder(nn.Module):
    """``encode`` runs ``to_blocks`` then ``encoder_blocks``; ``decode`` runs ``decoder_blocks`` then ``from_blocks``.

    The encoder is registered before the decoder and each stage lists its layers
    in the order they run, so ``named_modules()`` order is forward order.
    Subclasses override ``to_blocks`` / ``from_blocks`` when the stages want
    another layout than the sample's (the MLP flattens). ``objective`` names the
    registered objective (aegrad.objectives) the family trains on by default.
    """

    objective = "mse"

    def __init__(
        self, encoder_blocks: Sequence[nn.Module], decoder_blocks: Sequence[nn.Module], sample_shape: tuple[int, ...]
    ) -> None:
        super().__init__()
        if len(encoder_blocks) != len(decoder_blocks):
            raise ValueError(f"{len(encoder_blocks)} encoder stages but {len(decoder_blocks)} decoder stages")
        self.encoder_blocks = nn.ModuleList(encoder_blocks)
        self.decoder_blocks = nn.ModuleList(decoder_blocks)
        self.sample_shape = tuple(sample_shape)

    def to_blocks(self, x: Tensor) -> Tensor:
        """A batch of samples ``(N, *sample_shape)`` as ``encoder_blocks[0]`` takes it."""
        return x

    def from_blocks(self, y: Tensor) -> Tensor:
        """``decoder_blocks[-1]``'s output as a batch of samples ``(N, *sample_shape)``."""
        return y

    def encode(self, x: Tensor) -> Tensor:
        """The code z ``(N, latent)`` of a batch ``(N, *sample_shape)``."""
        h = self.to_blocks(x)
        for block in self.encoder_blocks:
            h = block(h)
        return h

    def decode(self, z: Tensor) -> Tensor:
        """The reconstruction ``(N, *sample_shape)`` of a code batch ``(N, latent)``."""
        h = z
        for block in self.decoder_blocks:
            h = block(h)
        return self.from_blocks(h)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        z = self.encode(x)
        return {"x_hat": self.decode(z), "z": z}


ModelBuilder = Callable[[ModelConfig, tuple[int, ...]], Autoencoder]

MODELS: Registry[ModelBuilder] = Registry("model")
register_model = MODELS.register


def create_model(cfg: ModelConfig, sample_shape: Sequence[int]) -> Autoencoder:
    """Build the ``cfg.kind`` autoencoder for samples of `sample_shape`, initialised per `cfg`.

    Initialisation draws from torch's global RNG: seed it first for a reproducible model.
    """
    shape = tuple(int(s) for s in sample_shape)
    if not shape or any(s < 1 for s in shape):
        raise UserError(f"sample shape must be a non-empty tuple of positive sizes, got {shape}")
    return MODELS.get(cfg.kind)(cfg, shape)


def list_models() -> list[str]:
    """The registered model kinds (equal to ModelConfig.kind's choices)."""
    return MODELS.names()


# A family's own training callbacks: its end-of-run files (a VAE's samples.png) and its measurements at each
# evaluation (the seq family's gradient through time). A factory gives, for a run's model config and folder,
# the callback (aegrad.train.callbacks.Callback), or None when the config is not that family's.
CallbackFactory = Callable[[ModelConfig, Path], Any]
FAMILY_CALLBACKS: Registry[CallbackFactory] = Registry("family callback")
register_family_callback = FAMILY_CALLBACKS.register


def family_callbacks(cfg: ModelConfig, run_dir: str | Path) -> list[Any]:
    """The callbacks the families register for a run of `cfg` in `run_dir` (aegrad.train adds them to every run)."""
    made = (FAMILY_CALLBACKS.get(name)(cfg, Path(run_dir)) for name in FAMILY_CALLBACKS.names())
    return [cb for cb in made if cb is not None]
