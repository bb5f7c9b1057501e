"""Features for classification: ``AutoencoderTransformer`` and linear / k-NN probes of latent codes."""

from aegrad.apps.probe.estimator import AutoencoderEstimator, AutoencoderTransformer

__all__ = ["AutoencoderEstimator", "AutoencoderTransformer"]
