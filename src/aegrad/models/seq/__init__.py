"""The ``seq`` family: a sequence autoencoder for text (``model.kind: seq``), trained on masked cross-entropy.

model.py: a GRU / LSTM / tanh-RNN encoder -> z -> autoregressive decoder; transformer.py: its
Transformer form; objective.py: ``masked_ce``; timedecay.py: the gradient through time; findings.py:
its detector (vanishing through time) and remedies. Its data (lines as token ids under a fitted
vocabulary) is ``data.source: text`` (aegrad/data/text/).
"""

from aegrad.models.seq import findings as _findings  # noqa: F401  (registers vanishing through time)
from aegrad.models.seq import timedecay as _timedecay  # noqa: F401  (registers the time-decay probe)
from aegrad.models.seq.build import build_seq
from aegrad.models.seq.model import SeqAutoencoder
from aegrad.models.seq.objective import MaskedCE, masked_ce

__all__ = ["MaskedCE", "SeqAutoencoder", "build_seq", "masked_ce"]
