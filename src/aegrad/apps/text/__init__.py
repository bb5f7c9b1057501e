"""Text: sequence autoencoders for compression, generation and classification, with gradient health through time.

Importing this package registers ``data.source: text`` (source.py: lines as token ids under
a character vocabulary fitted on the training split), ``model.kind: seq`` (model.py: GRU /
LSTM / tanh-RNN encoder -> z -> autoregressive decoder; transformer.py: its Transformer form) and the ``masked_ce`` objective
(objective.py); models/__init__ imports it. timedecay.py measures the gradient through time
and findings.py turns it into the ``vanishing_through_time`` finding.
"""

from aegrad.apps.text import source as _source  # noqa: F401  (registers data.source=text)
from aegrad.apps.text.bpe import BpeVocabulary
from aegrad.apps.text.model import SeqAutoencoder
from aegrad.apps.text.objective import MaskedCE, masked_ce
from aegrad.apps.text.vocab import Vocabulary

__all__ = ["BpeVocabulary", "MaskedCE", "SeqAutoencoder", "Vocabulary", "masked_ce"]
