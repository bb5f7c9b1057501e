"""Save and load a model through safetensors: tensors only, no pickle, so loading runs no code.

The file holds the model's state under ``model.<name>`` and each extra tensor
(e.g. the data normaliser's state, which the trainer passes under its own
prefix) under ``extra.<key>``. The metadata holds the ModelConfig as JSON and
the sample shape, which is all ``load_model`` needs to rebuild the model.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from pydantic import ValidationError
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from aegrad.config import ModelConfig
from aegrad.errors import UserError
from aegrad.models.base import Autoencoder, create_model

FORMAT = "aegrad.model/1"
_MODEL = "model."
_EXTRA = "extra."


def save_model(
    model: Autoencoder,
    path: str | Path,
    cfg: ModelConfig,
    sample_shape: Sequence[int],
    extra: Mapping[str, Tensor] | None = None,
) -> None:
    """Write `model`'s weights, `extra` tensors, `cfg` and `sample_shape` to one .safetensors file, atomically."""
    tensors = {_MODEL + k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({_EXTRA + k: v.detach().cpu().contiguous() for k, v in (extra or {}).items()})
    metadata = {
        "format": "pt",
        "aegrad.format": FORMAT,
        "aegrad.model_config": cfg.model_dump_json(),
        "aegrad.sample_shape": json.dumps([int(s) for s in sample_shape]),
    }
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return f.metadata() or {}


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[Autoencoder, ModelConfig, tuple[int, ...], dict[str, Tensor]]:
    """``(model, cfg, sample_shape, extra)`` from a file written by ``save_model``; the model is in eval mode.

    Building the model draws initial weights, which the file's then replace; the
    global RNG is restored afterwards so loading never shifts a seeded run.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file not found: {path}")
    try:
        meta = _metadata(path)
        tensors = load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise UserError(f"{path} is not a readable safetensors file: {str(err).splitlines()[0]}") from None
    if meta.get("aegrad.format") != FORMAT:
        raise UserError(f"{path} is not an aegrad model file (metadata aegrad.format != {FORMAT!r})")
    try:
        cfg = ModelConfig.model_validate_json(meta["aegrad.model_config"])
        sample_shape = tuple(int(s) for s in json.loads(meta["aegrad.sample_shape"]))
    except (KeyError, ValueError, ValidationError) as err:
        raise UserError(f"{path} has an unreadable model config: {str(err).splitlines()[0]}") from None

    with torch.random.fork_rng(devices=[]):
        model = create_model(cfg, sample_shape)
    state = {k[len(_MODEL) :]: v for k, v in tensors.items() if k.startswith(_MODEL)}
    extra = {k[len(_EXTRA) :]: v for k, v in tensors.items() if k.startswith(_EXTRA)}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise UserError(f"{path}: weights do not match the saved config: {str(err).splitlines()[0]}") from None
    return model.to(device).eval(), cfg, sample_shape, extra
