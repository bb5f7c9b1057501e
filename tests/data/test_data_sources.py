"""Built-in sources and the shared pipeline: split, limits, shapes, determinism."""

from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import torch

from aegrad.config import DataConfig, DataSource
from aegrad.data import list_sources, load_dataset, write_idx
from aegrad.errors import UserError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def test_registry_names_equal_config_choices():
    assert list_sources() == sorted(get_args(DataSource))


def test_unknown_source_is_user_error():
    cfg = DataConfig.model_construct(**{**DataConfig().model_dump(), "source": "cifar"})
    with pytest.raises(UserError, match="unknown data source 'cifar'; valid: csv, digits"):
        load_dataset(cfg, seed=0)


def test_digits():
    ds = load_dataset(DataConfig(source="digits"), seed=0)
    assert len(ds.train_x) + len(ds.test_x) == 1797
    assert len(ds.test_x) == round(1797 * 0.2)
    assert ds.sample_shape == (1, 8, 8) and ds.train_x.shape[1:] == (1, 8, 8)
    assert ds.is_image and ds.name == "digits"
    assert ds.train_x.dtype == torch.float32 and ds.train_y.dtype == torch.int64
    assert ds.num_classes == 10 and len(ds.train_y) == len(ds.train_x)
    # Labels travel with their samples: the mean "0" differs from the mean "1".
    zero, one = ds.train_x[ds.train_y == 0].mean(0), ds.train_x[ds.train_y == 1].mean(0)
    assert (zero - one).abs().max() > 0.3


def test_split_is_seeded_and_limits_are_subsets():
    a = load_dataset(DataConfig(source="digits"), seed=0)
    b = load_dataset(DataConfig(source="digits"), seed=0)
    c = load_dataset(DataConfig(source="digits"), seed=1)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(a.test_y, c.test_y)
    lim = load_dataset(DataConfig(source="digits", limit=100, test_limit=30, normalize="none"), seed=0)
    full = load_dataset(DataConfig(source="digits", normalize="none"), seed=0)
    assert len(lim.train_x) == 100 and len(lim.test_x) == 30
    # The limit picks from the same split (it does not re-split), so every sample is a training sample.
    flat = full.train_x.flatten(1)
    assert all((flat == row).all(1).any() for row in lim.train_x.flatten(1))
    # A limit at or above the split size keeps everything.
    assert len(load_dataset(DataConfig(source="digits", limit=10**6), seed=0).train_x) == len(full.train_x)


def test_random_source_follows_the_seed_document():
    cfg = DataConfig(source="random", samples=1000, dim=100, normalize="none", test_fraction=0.2)
    ds = load_dataset(cfg, seed=0)
    assert ds.train_x.shape == (800, 100) and ds.test_x.shape == (200, 100)
    assert ds.sample_shape == (100,) and not ds.is_image
    assert ds.train_y is None and ds.test_y is None and ds.num_classes is None
    allx = torch.cat([ds.train_x, ds.test_x])
    assert abs(allx.mean().item()) < 0.02 and abs(allx.std().item() - 1) < 0.02  # N(0, 1)
    assert torch.equal(load_dataset(cfg, seed=0).train_x, ds.train_x)
    assert not torch.equal(load_dataset(cfg, seed=1).train_x, ds.train_x)


def test_idx_dataset_from_explicit_folder(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (12, 6, 5), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(12, dtype=np.uint8) % 3)  # raw works too
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (4, 6, 5), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(4, dtype=np.uint8))
    ds = load_dataset(DataConfig(source="mnist", path=str(tmp_path), normalize="none", download=False), seed=0)
    assert ds.train_x.shape == (12, 1, 6, 5) and ds.test_x.shape == (4, 1, 6, 5)
    assert ds.sample_shape == (1, 6, 5) and ds.is_image
    assert ds.train_y.tolist() == [i % 3 for i in range(12)]
    assert ds.train_x.max() <= 255 and ds.train_x.max() > 200  # float pixels in 0..255 before normalising

    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(3, dtype=np.uint8))  # 4 images, 3 labels
    with pytest.raises(UserError, match="t10k-images"):
        load_dataset(DataConfig(source="mnist", path=str(tmp_path), download=False), seed=0)


def test_missing_idx_dataset_without_download_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AEGRAD_DATA", str(tmp_path / "data"))
    with pytest.raises(UserError) as info:
        load_dataset(DataConfig(source="mnist", download=False), seed=0)
    msg = str(info.value)
    assert "\n" not in msg and str(tmp_path / "data" / "mnist") in msg and "data.download=true" in msg


@pytest.fixture(scope="module")
def fashion():
    if not any((FASHION_DIR / name).exists() for name in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte")):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    return load_dataset(DataConfig(source="fashion-mnist", path=str(FASHION_DIR), download=False), seed=0)


def test_fashion_mnist_from_debian_package(fashion):
    assert fashion.train_x.shape == (60000, 1, 28, 28) and fashion.test_x.shape == (10000, 1, 28, 28)
    assert fashion.sample_shape == (1, 28, 28) and fashion.is_image
    assert torch.equal(fashion.test_y.bincount(), torch.full((10,), 1000))  # the official test split
    assert fashion.train_x.min() == 0.0 and fashion.train_x.max() == 1.0


@pytest.mark.usefixtures("fashion")  # skips with it
def test_fashion_mnist_limit():
    cfg = DataConfig(source="fashion-mnist", path=str(FASHION_DIR), limit=500, test_limit=100, download=False)
    ds = load_dataset(cfg, seed=0)
    assert ds.train_x.shape == (500, 1, 28, 28) and ds.test_x.shape == (100, 1, 28, 28)
    assert len(ds.train_y) == 500 and len(ds.test_y) == 100
