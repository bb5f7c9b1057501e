"""Gradient health: on-device statistics (monitor, stats), detectors (findings), remedies.

Nothing here imports aegrad.train: the monitor works in any PyTorch loop.
"""

from aegrad.diagnose.findings import DETECTORS, diagnose, format_findings, list_detectors
from aegrad.diagnose.monitor import GradientMonitor
from aegrad.diagnose.records import GradientRecord, read_records
from aegrad.diagnose.remedies import REMEDIES, Remedy, format_patch, list_remedies, remedies_for
from aegrad.diagnose.stats import activation_stats, layer_grad_stats, update_ratios

__all__ = [
    "DETECTORS",
    "REMEDIES",
    "GradientMonitor",
    "GradientRecord",
    "Remedy",
    "activation_stats",
    "diagnose",
    "format_findings",
    "format_patch",
    "layer_grad_stats",
    "list_detectors",
    "list_remedies",
    "read_records",
    "remedies_for",
    "update_ratios",
]
