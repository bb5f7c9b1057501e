"""Data: registered sources, an IDX reader, seeded splits and a fitted normalisation.

>>> ds = load_dataset(DataConfig(source="digits"), seed=0)
>>> ds.train_x.shape[1:], ds.sample_shape
(torch.Size([1, 8, 8]), (1, 8, 8))
"""

from aegrad.data import skimage as _skimage  # noqa: F401  (registers data.source=skimage)
from aegrad.data import text as _text  # noqa: F401  (registers data.source=text)
from aegrad.data.base import SourceData, list_sources, register_source
from aegrad.data.dataset import Dataset, load_dataset
from aegrad.data.idx import read_idx, write_idx
from aegrad.data.normalize import Normalizer

__all__ = [
    "Dataset",
    "Normalizer",
    "SourceData",
    "list_sources",
    "load_dataset",
    "read_idx",
    "register_source",
    "write_idx",
]
