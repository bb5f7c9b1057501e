"""Learned image compression: the ``codec`` model family, its bitstream, and rate-distortion evaluation.

Importing this package registers the ``codec`` model, the ``rate_distortion``
objective and the ``skimage`` data source (models/__init__ imports it). The codec's
gradient-health detector (``findings``) imports diagnose, which imports models, so
``aegrad/__init__`` imports it once everything else is loaded.
"""

from aegrad.apps.compress import source as _source  # noqa: F401  (registers data.source=skimage)
from aegrad.apps.compress.model import GDN, Codec, RateDistortion

__all__ = ["GDN", "Codec", "RateDistortion"]
