"""The ``conv`` family: strided conv stages, a dense code, transposed-conv decoder (``model.kind: conv``)."""

from aegrad.models.conv.model import ConvAutoencoder, conv

__all__ = ["ConvAutoencoder", "conv"]
