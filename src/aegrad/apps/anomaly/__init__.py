"""Anomaly detection with autoencoders: ``AutoencoderOutlierDetector``, scores, AUROC/AUPRC protocols."""

from aegrad.apps.anomaly.detector import AutoencoderOutlierDetector
from aegrad.apps.anomaly.scores import list_scores

__all__ = ["AutoencoderOutlierDetector", "list_scores"]
