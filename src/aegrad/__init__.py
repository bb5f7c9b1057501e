"""aegrad: autoencoders that train, and say why when they don't.

The public API, re-exported here and nowhere else::

    import aegrad
    cfg = aegrad.load_config(preset="fashion-mlp", overrides={"model.depth": 8})
    run = aegrad.train(cfg, out="runs/deep8")
    print(run.summary["test_mse"], run.findings)
"""

from aegrad._lazy import lazy_exports
from aegrad.api import train, write_report
from aegrad.checks import Check, check
from aegrad.data.text import Vocabulary
from aegrad.models.seq import SeqAutoencoder
from aegrad.apps.vae import collapse_findings, iwae_bounds, sample_prior
from aegrad.config import Config, apply_overrides, list_presets, load_config, with_overrides
from aegrad.data import Dataset, list_sources, load_dataset
from aegrad.diagnose import GradientMonitor, diagnose, format_findings
from aegrad.doctor import DoctorResult, doctor
from aegrad.errors import UserError
from aegrad.evaluate import evaluate_run
from aegrad.models import create_model, list_activations, list_inits, list_models, load_model, save_model
from aegrad.run import Run, load_run
from aegrad.train.callbacks import Callback

from aegrad.apps.compress.codec import ImageCodec  # noqa: E402

__version__ = "0.1.0"

# Imported on first use: the scikit-learn estimators import scikit-learn (~0.6 s), which no other
# command needs, and every CLI command imports this package.
__getattr__ = lazy_exports(__name__, globals(), {
    "AutoencoderOutlierDetector": "aegrad.apps.anomaly.detector",
    "AutoencoderTransformer": "aegrad.apps.probe.estimator",
    "denoise_study": "aegrad.apps.denoise.runs",
})


__all__ = [
    "AutoencoderOutlierDetector",
    "AutoencoderTransformer",
    "Callback",
    "Check",
    "Config",
    "Dataset",
    "DoctorResult",
    "GradientMonitor",
    "ImageCodec",
    "Run",
    "SeqAutoencoder",
    "UserError",
    "Vocabulary",
    "apply_overrides",
    "check",
    "collapse_findings",
    "create_model",
    "denoise_study",
    "diagnose",
    "doctor",
    "evaluate_run",
    "format_findings",
    "iwae_bounds",
    "list_activations",
    "list_inits",
    "list_models",
    "list_presets",
    "list_sources",
    "load_config",
    "load_dataset",
    "load_model",
    "load_run",
    "sample_prior",
    "save_model",
    "train",
    "with_overrides",
    "write_report",
]
