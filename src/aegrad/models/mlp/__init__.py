"""The ``mlp`` family: dense encoder and mirrored decoder on flattened samples (``model.kind: mlp``).

The smallest family, and the worked example in docs/architecture.md: a builder registered with
``@register_model("mlp")`` (model.py) and the plain autoencoder's MSE objective (aegrad.objectives).
"""

from aegrad.models.mlp.model import MLPAutoencoder, mlp, output_head

__all__ = ["MLPAutoencoder", "mlp", "output_head"]
