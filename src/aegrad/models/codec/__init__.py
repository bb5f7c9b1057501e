"""The ``codec`` family: a learned image codec (``model.kind: codec``), trained on D + lambda*R.

model.py: analysis/synthesis transforms with GDN (Ballé et al. 2017), entropy.py: the factorised
prior and its integer tables, hyper.py: the scale hyperprior (Ballé et al. 2018), objective.py:
``rate_distortion``; findings.py: its detector (rate collapse) and remedy. The bitstream and the
compress/decompress/rd commands use it from apps/compress.
"""

from aegrad.models.codec import findings as _findings  # noqa: F401  (registers the rate-collapse detector)
from aegrad.models.codec.model import GDN, Codec, HyperCodec, codec
from aegrad.models.codec.objective import RateDistortion

__all__ = ["GDN", "Codec", "HyperCodec", "RateDistortion", "codec"]
