"""Normalisation fitted on the training split and saved beside the model weights.

Every kind is one affine map, ``transform(x) = (x - offset) / scale``, so
``inverse`` is exact and the state is two tensors plus the kind's name; no
per-kind branches run on the hot path.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aegrad.errors import UserError

# zscore floors. Image-shaped samples (C, H, W) share one unit, so a pixel whose
# training std is below this share of the overall pixel std is divided by the
# floor instead: a border pixel that is always 0 in training would otherwise turn
# one bright test pixel into ~1e10 (with the floor, fashion-mnist stays under ~30).
# Vector samples (D,) may mix units (income next to age), so a global floor would
# squash small-scale features; there only features constant up to rounding
# (std <= 1e-8 of the feature's largest |value|) are left unscaled (scale 1), as scikit-learn does.
IMAGE_STD_FLOOR = 0.1
CONSTANT_RTOL = 1e-8


def _fit_none(x: Tensor) -> tuple[Tensor, Tensor]:
    return torch.zeros(()), torch.ones(())


def _fit_minmax(x: Tensor) -> tuple[Tensor, Tensor]:
    # One global scalar min/max (not per feature): images keep their relative contrast.
    lo, hi = x.min().double(), x.max().double()
    span = hi - lo
    # Constant data: keep the scale at 1 rather than dividing by zero.
    return lo.float(), (span if span > 0 else torch.ones((), dtype=torch.float64)).float()


def _fit_zscore(x: Tensor) -> tuple[Tensor, Tensor]:
    # float64 accumulation: 60k x 784 sums of values up to 255 lose digits in float32.
    xd = x.double()
    mean = xd.mean(0)
    std = xd.std(0, unbiased=False)
    if x.ndim > 2:  # image-shaped: one unit for all features
        overall = xd.std(unbiased=False)
        std = std.clamp_min(IMAGE_STD_FLOOR * overall) if overall > 0 else torch.ones_like(std)
    else:
        constant = std <= CONSTANT_RTOL * xd.abs().amax(0)  # per feature: units may differ
        std = torch.where(constant, torch.ones_like(std), std)
    return mean.float(), std.float()


# The one table of kinds; config.py's Literal for data.normalize must list the same names.
_FITS = {"none": _fit_none, "minmax": _fit_minmax, "zscore": _fit_zscore}
KINDS: tuple[str, ...] = tuple(_FITS)


class Normalizer:
    """An affine normalisation ``(x - offset_) / scale_`` fitted on training samples.

    ``none``: identity. ``minmax``: the training split's global min/max map to [0, 1].
    ``zscore``: per-feature mean 0 and std 1 over training samples (std floored, see
    ``IMAGE_STD_FLOOR``). ``offset_``/``scale_`` broadcast against ``(N, *sample_shape)``.
    """

    def __init__(self, kind: str = "none") -> None:
        if kind not in KINDS:
            raise UserError(f"unknown normalisation {kind!r}; valid: {', '.join(KINDS)}")
        self.kind = kind
        self.offset_: Tensor | None = None
        self.scale_: Tensor | None = None

    def fit(self, x: Tensor) -> Normalizer:
        """Learn offset and scale from `x` of shape (N, *sample_shape), N >= 1; returns self."""
        if x.shape[0] < 1:
            raise UserError("cannot fit a normalisation on an empty training split")
        self.offset_, self.scale_ = _FITS[self.kind](x)
        return self

    def _params(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.offset_ is None or self.scale_ is None:
            raise RuntimeError("Normalizer.fit must be called before transform/inverse")
        return self.offset_.to(x.device, x.dtype), self.scale_.to(x.device, x.dtype)

    def transform(self, x: Tensor) -> Tensor:
        """Data units -> normalised units (a new tensor; `x` is left untouched)."""
        offset, scale = self._params(x)
        return (x - offset) / scale

    def transform_(self, x: Tensor) -> Tensor:
        """In place: data units -> normalised units, without the full-size temporaries of `transform`."""
        offset, scale = self._params(x)
        return x.sub_(offset).div_(scale)

    def inverse(self, x: Tensor) -> Tensor:
        """Normalised units (e.g. a reconstruction) -> data units."""
        offset, scale = self._params(x)
        return x * scale + offset

    def state_dict(self) -> dict[str, Tensor]:
        """Tensors only, so it can be stored in safetensors: the kind as its UTF-8 bytes."""
        if self.offset_ is None or self.scale_ is None:
            raise RuntimeError("Normalizer.fit must be called before state_dict")
        return {
            "kind": torch.tensor(list(self.kind.encode()), dtype=torch.uint8),
            "offset": self.offset_.detach().cpu().contiguous(),
            "scale": self.scale_.detach().cpu().contiguous(),
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor]) -> Normalizer:
        """Rebuild a fitted Normalizer from `state_dict()`'s tensors."""
        try:
            kind = bytes(state["kind"].tolist()).decode()
            offset, scale = state["offset"], state["scale"]
        except (KeyError, UnicodeDecodeError, TypeError, ValueError) as err:
            raise UserError(f"saved normalisation is incomplete or corrupt ({err!r}); retrain the model") from None
        norm = cls(kind)
        norm.offset_, norm.scale_ = offset.float(), scale.float()
        return norm

    def __repr__(self) -> str:
        fitted = "fitted" if self.offset_ is not None else "unfitted"
        return f"Normalizer(kind={self.kind!r}, {fitted})"
