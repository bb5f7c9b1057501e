"""Anomaly detection with autoencoders: ``AutoencoderOutlierDetector``, scores, AUROC/AUPRC protocols.

The names are imported on first use: they import scikit-learn, and the CLI imports this package
for its `anomaly` command's parser on every command.
"""

from aegrad._lazy import lazy_exports

__all__ = ["AutoencoderOutlierDetector", "list_scores"]
__getattr__ = lazy_exports(__name__, globals(), {
    "AutoencoderOutlierDetector": "aegrad.apps.anomaly.detector",
    "list_scores": "aegrad.apps.anomaly.scores",
})
