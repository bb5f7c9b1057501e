"""The ``seq`` family's registered builder: the recurrent model (model.py) or its Transformer form (transformer.py)."""

from __future__ import annotations

from aegrad.config import ModelConfig
from aegrad.models.base import register_model
from aegrad.models.seq.model import SeqAutoencoder
from aegrad.models.seq.transformer import TransformerSeqAutoencoder


@register_model("seq")
def build_seq(cfg: ModelConfig, sample_shape: tuple[int, ...]) -> SeqAutoencoder:
    if cfg.seq.cell == "transformer":
        return TransformerSeqAutoencoder(cfg, sample_shape)
    return SeqAutoencoder(cfg, sample_shape)
