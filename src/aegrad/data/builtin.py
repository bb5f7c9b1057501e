"""Built-in sources: scikit-learn's digits, the source document's N(0,1) data, MNIST and Fashion-MNIST."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aegrad.config import DataConfig
from aegrad.data.base import SourceData, register_source, rng
from aegrad.data.download import DownloadError, fetch_all
from aegrad.data.idx import read_idx
from aegrad.errors import UserError


@register_source("digits")
def digits(cfg: DataConfig, seed: int) -> SourceData:
    """UCI handwritten digits bundled with scikit-learn: 1797 images of 8x8 values 0..16, labels 0..9."""
    from sklearn.datasets import load_digits  # imported here: sklearn costs ~1 s to import

    bunch = load_digits()
    side = bunch.images.shape[1]
    return SourceData(x=bunch.images.reshape(-1, 1, side, side), y=bunch.target, is_image=True)


@register_source("random")
def random_normal(cfg: DataConfig, seed: int) -> SourceData:
    """The source document's `generate_data`: `np.random.randn(num_samples, dim)`, seeded by `seed`."""
    x = rng(seed, 0).standard_normal((cfg.samples, cfg.dim), dtype=np.float32)
    return SourceData(x=x, y=None, is_image=False)


# ---------------------------------------------------------------- IDX datasets

IDX_FILES = {  # role -> file name, as every mirror names them
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
MIRROR_ENV = "AEGRAD_MIRROR"  # overrides every IDX dataset's base URL (tests, private mirrors)
DATA_ENV = "AEGRAD_DATA"  # a data root: files in $AEGRAD_DATA/<name> or $AEGRAD_DATA itself


@dataclass(frozen=True)
class IdxDataset:
    """Where an IDX dataset lives and how to get it."""

    name: str
    url: str  # base URL of the official mirror
    md5: dict[str, str]  # published MD5 of each .gz file
    system_dirs: tuple[str, ...] = ()  # read-only copies from OS packages
    install_hint: str = ""  # a way to get the files without this library's download

    def candidates(self, cfg: DataConfig) -> list[Path]:
        """Folders searched in order. An explicit data.path is the only candidate (and download target)."""
        if cfg.path is not None:
            return [Path(cfg.path).expanduser()]
        dirs = []
        if root := os.environ.get(DATA_ENV):
            dirs += [Path(root).expanduser() / self.name, Path(root).expanduser()]
        dirs.append(cache_root() / self.name)
        dirs += [Path(d) for d in self.system_dirs]
        return dirs

    def download_dir(self, cfg: DataConfig) -> Path:
        if cfg.path is not None:
            return Path(cfg.path).expanduser()
        root = os.environ.get(DATA_ENV)
        return (Path(root).expanduser() if root else cache_root()) / self.name


def cache_root() -> Path:
    """~/.cache/aegrad (resolved per call so HOME changes, e.g. in tests, are honoured)."""
    return Path.home() / ".cache" / "aegrad"


def find_files(folder: Path) -> dict[str, Path] | None:
    """The four IDX files in `folder` (each gzipped or raw), or None when any is missing."""
    found = {}
    for role, stem in IDX_FILES.items():
        for name in (f"{stem}.gz", stem):
            if (folder / name).is_file():
                found[role] = folder / name
                break
        else:
            return None
    return found


def locate(spec: IdxDataset, cfg: DataConfig) -> dict[str, Path]:
    """Find the dataset's files, downloading them when allowed; UserError (one line) when impossible."""
    dirs = spec.candidates(cfg)
    for folder in dirs:
        if files := find_files(folder):
            return files
    names = ", ".join(f"{stem}.gz" for stem in IDX_FILES.values())
    looked = ", ".join(str(d) for d in dirs)
    hint = f"{spec.install_hint}, or " if spec.install_hint else ""
    how = f"{hint}put {names} in ${DATA_ENV}/{spec.name} (or data.path)"
    if not cfg.download:
        raise UserError(f"{spec.name} not found (looked in {looked}); set data.download=true, {how}")
    target = spec.download_dir(cfg)
    base = os.environ.get(MIRROR_ENV) or spec.url
    try:
        fetch_all(base, {f"{stem}.gz": spec.md5[f"{stem}.gz"] for stem in IDX_FILES.values()}, target)
    except DownloadError as err:
        raise UserError(f"{spec.name} not found (looked in {looked}) and {err}; {how}") from None
    files = find_files(target)
    assert files is not None  # fetch_all wrote all four or raised
    return files


def load_idx_dataset(spec: IdxDataset, cfg: DataConfig) -> SourceData:
    """Read the dataset's own train/test split; images become (N, 1, H, W), pixels 0..255."""
    files = locate(spec, cfg)
    arrays = {role: read_idx(path) for role, path in files.items()}
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise UserError(
                f"{spec.name}: {files[f'{split}_x']} must hold (N, H, W) images and "
                f"{files[f'{split}_y']} N labels; got shapes {x.shape} and {y.shape}"
            )
    if arrays["train_x"].shape[1:] != arrays["test_x"].shape[1:]:
        raise UserError(f"{spec.name}: train images are {arrays['train_x'].shape[1:]}, test images differ")
    return SourceData(
        x=arrays["train_x"][:, None],
        y=arrays["train_y"],
        is_image=True,
        test_x=arrays["test_x"][:, None],
        test_y=arrays["test_y"],
    )


FASHION_MNIST = IdxDataset(
    name="fashion-mnist",
    url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    md5={  # published in github.com/zalandoresearch/fashion-mnist's README
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    system_dirs=("/usr/share/datasets/fashion-mnist",),  # Debian's dataset-fashion-mnist
    install_hint="`apt-get install dataset-fashion-mnist` (Debian/Ubuntu)",
)

MNIST = IdxDataset(
    name="mnist",
    url="https://ossci-datasets.s3.amazonaws.com/mnist/",
    md5={  # the original files' MD5s (also torchvision's)
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
)


@register_source("fashion-mnist")
def fashion_mnist(cfg: DataConfig, seed: int) -> SourceData:
    """Zalando's Fashion-MNIST (Xiao et al. 2017): 60k/10k 28x28 grayscale clothing images, 10 classes."""
    return load_idx_dataset(FASHION_MNIST, cfg)


@register_source("mnist")
def mnist(cfg: DataConfig, seed: int) -> SourceData:
    """LeCun et al.'s MNIST handwritten digits: 60k/10k 28x28 grayscale images, 10 classes."""
    return load_idx_dataset(MNIST, cfg)
