"""The ``unet`` family: conv stages with skip connections and no bottleneck, for denoising (``model.kind: unet``)."""

from aegrad.models.unet.model import UNetAutoencoder, unet

__all__ = ["UNetAutoencoder", "unet"]
