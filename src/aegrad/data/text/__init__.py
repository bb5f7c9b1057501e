"""Text as data (``data.source: text``): lines read from a corpus, as token ids under a vocabulary fitted on the
training split (corpora.py: files and Debian's fortunes / wamerican; vocab.py: characters; bpe.py: byte-level BPE)."""

from aegrad.data.text import source as _source  # noqa: F401  (registers data.source=text)
from aegrad.data.text.bpe import BpeVocabulary, load_vocabulary
from aegrad.data.text.vocab import Vocabulary

__all__ = ["BpeVocabulary", "Vocabulary", "load_vocabulary"]
