"""Features for classification: ``AutoencoderTransformer`` and linear / k-NN probes of latent codes.

The names are imported on first use: they import scikit-learn, and the CLI imports this package
for its `probe` command's parser on every command.
"""

from aegrad._lazy import lazy_exports

__all__ = ["AutoencoderEstimator", "AutoencoderTransformer"]
__getattr__ = lazy_exports(__name__, globals(), {
    "AutoencoderEstimator": "aegrad.apps.probe.estimator",
    "AutoencoderTransformer": "aegrad.apps.probe.estimator",
})
