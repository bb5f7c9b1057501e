"""``ImageCodec``: a trained ``codec`` run as a file compressor (uint8 images <-> ``.aeg`` bytes).

compress:   pixels -> normalise -> g_a -> round/clamp -> per channel, range-code the integers
            (constriction's RangeEncoder, one Categorical per channel from the integer tables)
decompress: the reverse; the synthesis runs on the decoded integers in the same batches as
            ``reconstruct``, so ``decompress(compress(x)) == reconstruct(x)`` byte for byte.

Images are uint8 arrays (C, H, W) with the model's channel count, any H and W.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import constriction
import numpy as np
import torch

from aegrad.apps.compress.container import HASH_BYTES, Header, pack, unpack
from aegrad.apps.compress.entropy import Tables
from aegrad.apps.compress.model import Codec
from aegrad.data.normalize import Normalizer
from aegrad.errors import UserError

BATCH = 256  # images per transform batch (memory bound; the same batches in every path keep results exact)


def model_hash(model: Codec, tables: Tables) -> bytes:
    """SHA-256 over every weight (name, dtype, shape, bytes) and the integer tables: the container's model id."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    h.update(tables.to_bytes())
    return h.digest()


class ImageCodec:
    """A trained codec model and its data normaliser, as compress/decompress on uint8 images."""

    def __init__(self, model: Codec, normalizer: Normalizer) -> None:
        if not isinstance(model, Codec):
            raise UserError(f"this run's model is {type(model).__name__}, not a codec: train with model.kind=codec")
        self.model = model.eval()
        self.normalizer = normalizer
        self.tables = model.tables()
        self.hash = model_hash(model, self.tables)[:HASH_BYTES]
        self.channels = int(model.sample_shape[0])
        self._coders = [constriction.stream.model.Categorical(c.astype(np.float64), perfect=False) for c in self.tables.counts]

    @classmethod
    def from_run(cls, run_dir: str | Path) -> ImageCodec:
        from aegrad.models import load_model

        path = Path(run_dir)
        if not path.is_dir():
            raise UserError(f"run directory not found: {path}")
        model, _cfg, _shape, extra = load_model(path / "model.safetensors")
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
                raise UserError(f"this codec only codes {self.model.sample_shape[-2]}x{self.model.sample_shape[-1]} images")
            return 1, 1
        return self._latent_shape(shape)

    @torch.no_grad()
    def latents(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each image's quantised latent as the prior sees it: int64 (K, h, w), K densities."""
        self._check(images)
        out: list[np.ndarray] = []
        for g in self._groups([im.shape[1:] for im in images]):
            x = self.normalizer.transform(torch.from_numpy(np.stack([images[i] for i in g]).astype(np.float32)))
            y_hat = self.model.to_prior(self.model.quantize(self.model.encode(x)))
            out.extend(y_hat.to(torch.int64).numpy())
        return out

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

    def reconstruct(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The model's quantised reconstruction, without a bitstream (what decompress must return)."""
        return self.synthesize(self.latents(images), [im.shape[1:] for im in images])

    # -- the bitstream ---------------------------------------------------------------------
    def compress(self, images: Sequence[np.ndarray]) -> bytes:
        """One ``.aeg`` file's bytes holding every image of `images`, in order."""
        lat = self.latents(images)
        enc = constriction.stream.queue.RangeEncoder()
        for ch, coder in enumerate(self._coders):
            symbols = np.concatenate([y[ch].reshape(-1) for y in lat]) - self.tables.lo[ch]
            enc.encode(symbols.astype(np.int32), coder)
        shapes = [(int(im.shape[1]), int(im.shape[2])) for im in images]
        return pack(Header(self.hash, shapes), enc.get_compressed())

    def decompress(self, data: bytes, where: str = "file") -> list[np.ndarray]:
        """The uint8 images (C, H, W) of a file written by ``compress`` with this model."""
        header, words = unpack(data, self.hash, where)
        lat_shapes = [self._prior_shape(s) for s in header.shapes]
        sizes = [h * w for h, w in lat_shapes]
        dec = constriction.stream.queue.RangeDecoder(words)
        per_channel = []
        try:
            for ch, coder in enumerate(self._coders):
                per_channel.append(np.asarray(dec.decode(coder, sum(sizes)), dtype=np.int64) + self.tables.lo[ch])
        except (ValueError, RuntimeError, AssertionError, OverflowError) as err:  # a stream CRC32 did not catch
            raise UserError(f"{where}: the coded stream does not decode ({err})") from None
        bounds = np.cumsum([0, *sizes])
        latents = [np.stack([pc[bounds[i] : bounds[i + 1]].reshape(lat_shapes[i]) for pc in per_channel])
                   for i in range(len(sizes))]
        return self.synthesize(latents, header.shapes)
