"""Gradient health: on-device statistics (monitor, stats), and one catalogue of findings (catalogue.py).

kinds.py names the finding kinds; findings.py holds the gradient-health detectors and
``diagnose``, remedies.py their remedies; trainability.py the check before the first step (``aegrad check``);
a model family's own detectors and remedies sit in its folder (models/<family>/findings.py), registered
through the same decorators.
Nothing here imports aegrad.train: the monitor works in any PyTorch loop.
"""

from aegrad.diagnose.catalogue import (
    DETECTORS,
    REMEDIES,
    Detector,
    Finding,
    Remedy,
    advice,
    detector,
    list_detectors,
    list_remedies,
    remedies_for,
    remedy,
    sig,
)
from aegrad.diagnose.configview import ConfigView
from aegrad.diagnose.findings import diagnose, format_findings
from aegrad.diagnose.kinds import Kind, Severity, Target
from aegrad.diagnose.monitor import GradientMonitor
from aegrad.diagnose.patches import describe_patch, format_patch
from aegrad.diagnose.records import GradientRecord, read_records
from aegrad.diagnose.stats import activation_stats, layer_grad_stats, update_ratios
from aegrad.diagnose.trainability import (
    JacobianSpectrum,
    LayerScale,
    TrainabilityReport,
    check_findings,
    jacobian_singular_values,
    trainability,
)
from aegrad.diagnose.view import RunView

__all__ = [
    "DETECTORS",
    "REMEDIES",
    "ConfigView",
    "Detector",
    "Finding",
    "GradientMonitor",
    "GradientRecord",
    "JacobianSpectrum",
    "Kind",
    "LayerScale",
    "Remedy",
    "RunView",
    "Severity",
    "Target",
    "TrainabilityReport",
    "activation_stats",
    "advice",
    "check_findings",
    "describe_patch",
    "detector",
    "diagnose",
    "format_findings",
    "format_patch",
    "jacobian_singular_values",
    "layer_grad_stats",
    "list_detectors",
    "list_remedies",
    "read_records",
    "remedies_for",
    "remedy",
    "sig",
    "trainability",
    "update_ratios",
]
