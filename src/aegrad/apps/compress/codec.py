"""``ImageCodec``: a trained ``codec`` run as a file compressor (uint8 images <-> ``.aeg`` bytes).

compress:   pixels -> normalise -> g_a -> round/clamp -> range-code the integers, grouped by
            table (constriction's RangeEncoder, one Categorical per integer table): one table per
            latent channel (factorised prior); with the hyperprior, first the side latent z per
            channel, then y, each element with the table of its predicted scale
decompress: the reverse (with the hyperprior, y's tables are recomputed from the decoded z in
            the encoder's batches); the synthesis runs on the decoded integers in the same batches
            as ``reconstruct``, so ``decompress(compress(x)) == reconstruct(x)`` byte for byte.

Images are uint8 arrays (C, H, W) with the model's channel count, any H and W.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import constriction
import numpy as np
import torch

from aegrad.apps.compress.container import HASH_BYTES, Header, pack, unpack
from aegrad.models.codec.entropy import Tables
from aegrad.models.codec.hyper import gaussian_tables
from aegrad.models.codec.model import Codec
from aegrad.data.normalize import Normalizer
from aegrad.errors import UserError

BATCH = 256  # images per transform batch (memory bound; the same batches in every path keep results exact)


def model_hash(model: Codec, tables: Tables, side_tables: Tables | None = None) -> bytes:
    """SHA-256 over every weight (name, dtype, shape, bytes) and the integer tables: the container's model id."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    h.update(tables.to_bytes())
    if side_tables is not None:
        h.update(side_tables.to_bytes())
    return h.digest()


def _coders(tables: Tables) -> list[Any]:
    return [constriction.stream.model.Categorical(c.astype(np.float64), perfect=False) for c in tables.counts]


class ImageCodec:
    """A trained codec model and its data normaliser, as compress/decompress on uint8 images."""

    def __init__(self, model: Codec, normalizer: Normalizer) -> None:
        if not isinstance(model, Codec):
            raise UserError(f"this run's model is {type(model).__name__}, not a codec: train with model.kind=codec")
        self.model = model.eval()
        self.normalizer = normalizer
        self.side_tables = model.side_tables()  # the side information's tables (hyperprior: z), or None
        self.tables = gaussian_tables() if self.side_tables is not None else model.tables()  # y's tables
        self.hash = model_hash(model, self.tables, self.side_tables)[:HASH_BYTES]
        self.channels = int(model.sample_shape[0])
        self._coders = _coders(self.tables)
        self._side_coders = _coders(self.side_tables) if self.side_tables is not None else []

    @classmethod
    def from_run(cls, run_dir: str | Path) -> ImageCodec:
        from aegrad.models import load_model
        from aegrad.run import WEIGHTS

        path = Path(run_dir)
        if not path.is_dir():
            raise UserError(f"run directory not found: {path}")
        model, _cfg, _shape, extra = load_model(path / WEIGHTS)
        norm = Normalizer.from_state_dict({k.removeprefix("normalizer."): v for k, v in extra.items()})
        return cls(model, norm)  # type: ignore[arg-type]

    # -- the transforms, batched the same way everywhere --------------------------------------
    def _check(self, images: Sequence[np.ndarray]) -> None:
        if not len(images):
            raise UserError("no images to compress")
        for i, im in enumerate(images):
            if im.ndim != 3 or im.shape[0] != self.channels or im.dtype != np.uint8:
                raise UserError(f"image {i}: expected uint8 ({self.channels}, H, W), got {im.dtype} {im.shape}")

    def _groups(self, shapes: Sequence[tuple[int, int]]) -> list[list[int]]:
        """Runs of consecutive same-shape images, at most BATCH long."""
        groups: list[list[int]] = []
        for i, s in enumerate(shapes):
            if groups and shapes[groups[-1][0]] == s and len(groups[-1]) < BATCH:
                groups[-1].append(i)
            else:
                groups.append([i])
        return groups

    def _latent_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        f = self.model.factor
        return -(-shape[0] // f), -(-shape[1] // f)

    def _prior_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        """Spatial shape of an image's symbols per density: (1, 1) with a per-position prior."""
        if self.model.per_position:
            if self._latent_shape(shape) != self.model.latent_side():
                raise UserError(f"this codec only codes {self.model.sample_shape[-2]}x"
                                f"{self.model.sample_shape[-1]} images")
            return 1, 1
        return self._latent_shape(shape)

    @torch.no_grad()
    def analyse(self, images: Sequence[np.ndarray]) -> list[dict[str, np.ndarray]]:
        """Per image, the model's integer symbols and table indexes (``Codec.analyse``) as int64 arrays."""
        self._check(images)
        out: list[dict[str, np.ndarray]] = []
        for g in self._groups([im.shape[1:] for im in images]):
            x = self.normalizer.transform(torch.from_numpy(np.stack([images[i] for i in g]).astype(np.float32)))
            parts = {k: v.to(torch.int64).numpy() for k, v in self.model.analyse(x).items()}
            out.extend({k: v[j] for k, v in parts.items()} for j in range(len(g)))
        return out

    def latents(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each image's quantised latent as the prior sees it: int64 (K, h, w)."""
        return [a["y"] for a in self.analyse(images)]

    @torch.no_grad()
    def synthesize(self, latents: Sequence[np.ndarray], shapes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        """uint8 images (C, H, W) from integer latents, cropped to `shapes`."""
        out: list[np.ndarray] = []
        for g in self._groups(list(shapes)):
            v = torch.from_numpy(np.stack([latents[i] for i in g]).astype(np.float32))
            y = v.reshape(len(g), -1, *self._latent_shape(shapes[g[0]]))
            x_hat = self.normalizer.inverse(self.model.decode(y, shapes[g[0]]))
            out.extend(x_hat.round().clamp(0, 255).to(torch.uint8).numpy())
        return out

    @torch.no_grad()
    def _y_indexes(self, side: Sequence[np.ndarray], shapes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        """The decoder's view of the y tables: recomputed from decoded side information, in the encoder's batches."""
        out: list[np.ndarray] = []
        for g in self._groups(list(shapes)):
            z = torch.from_numpy(np.stack([side[i] for i in g]).astype(np.float32))
            idx = self.model.y_index(z, self._latent_shape(shapes[g[0]]))  # type: ignore[attr-defined]
            out.extend(idx.numpy())
        return out

    def reconstruct(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The model's quantised reconstruction, without a bitstream (what decompress must return)."""
        return self.synthesize(self.latents(images), [im.shape[1:] for im in images])

    # -- the bitstream ---------------------------------------------------------------------
    def compress(self, images: Sequence[np.ndarray]) -> bytes:
        """One ``.aeg`` file's bytes holding every image of `images`, in order: side information first, then y."""
        parts = self.analyse(images)
        enc = constriction.stream.queue.RangeEncoder()
        if self.side_tables is not None:
            encode_indexed(enc, [p["z"] for p in parts], [p["z_index"] for p in parts], self.side_tables,
                           self._side_coders)
        encode_indexed(enc, [p["y"] for p in parts], [p["y_index"] for p in parts], self.tables, self._coders)
        shapes = [(int(im.shape[1]), int(im.shape[2])) for im in images]
        return pack(Header(self.hash, shapes), enc.get_compressed())

    def decompress(self, data: bytes, where: str = "file") -> list[np.ndarray]:
        """The uint8 images (C, H, W) of a file written by ``compress`` with this model."""
        shapes, latents = self.decode_symbols(data, where)
        return self.synthesize(latents, shapes)

    def decode_symbols(self, data: bytes, where: str = "file") -> tuple[list[tuple[int, int]], list[np.ndarray]]:
        """(image sizes, integer latents as ``latents`` gives them) of a file written by ``compress``."""
        header, words = unpack(data, self.hash, where)
        lat_shapes = [self._prior_shape(s) for s in header.shapes]
        dec = constriction.stream.queue.RangeDecoder(words)
        try:
            if self.side_tables is not None:
                z_shapes = [self.model.hyper_side(s) for s in lat_shapes]  # type: ignore[attr-defined]
                z_idx = [Codec.channel_index(torch.empty(1, len(self.side_tables.counts), *s))[0].numpy()
                         for s in z_shapes]
                side = decode_indexed(dec, z_idx, self.side_tables, self._side_coders)
                y_idx = self._y_indexes(side, header.shapes)
            else:
                y_idx = [Codec.channel_index(torch.empty(1, len(self.tables.counts), *s))[0].numpy()
                         for s in lat_shapes]
            latents = decode_indexed(dec, y_idx, self.tables, self._coders)
        except (ValueError, RuntimeError, AssertionError, OverflowError) as err:  # a stream CRC32 did not catch
            raise UserError(f"{where}: the coded stream does not decode ({err})") from None
        return header.shapes, latents


def encode_indexed(enc: constriction.stream.queue.RangeEncoder, symbols: Sequence[np.ndarray],
                   indexes: Sequence[np.ndarray], tables: Tables, coders: Sequence[Any]) -> None:
    """Range-code every image's `symbols` with table `indexes` (same shapes), grouped by table.

    Order in the stream: table 0's symbols (image by image, raster order within), then table 1's, ...
    the decoder, knowing the indexes, reads the same groups back (``decode_indexed``).
    """
    s = np.concatenate([a.reshape(-1) for a in symbols])
    i = np.concatenate([a.reshape(-1) for a in indexes])
    order = np.argsort(i, kind="stable")
    s, i = s[order], i[order]
    starts = np.flatnonzero(np.diff(i)) + 1
    for part, k in zip(np.split(s, starts), i[np.concatenate([[0], starts])]):
        enc.encode((part - tables.lo[k]).astype(np.int32), coders[k])


def decode_indexed(dec: constriction.stream.queue.RangeDecoder, indexes: Sequence[np.ndarray], tables: Tables,
                   coders: Sequence[Any]) -> list[np.ndarray]:
    """The symbols ``encode_indexed`` wrote for these `indexes`, as int64 arrays shaped like them."""
    i = np.concatenate([a.reshape(-1) for a in indexes])
    order = np.argsort(i, kind="stable")
    out = np.empty(len(i), dtype=np.int64)
    ks, counts = np.unique(i[order], return_counts=True)
    pos = 0
    for k, n in zip(ks, counts):
        out[order[pos : pos + n]] = np.asarray(dec.decode(coders[k], int(n)), dtype=np.int64) + tables.lo[k]
        pos += n
    bounds = np.cumsum([0, *[a.size for a in indexes]])
    return [out[bounds[j] : bounds[j + 1]].reshape(a.shape) for j, a in enumerate(indexes)]
