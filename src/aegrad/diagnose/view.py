"""What a detector reads: a run's window records as arrays, its metrics, its loss baseline and its config.

``RunView`` is built once per diagnosis (findings.diagnose) and handed to every registered detector,
the families' included; its helpers (the loss against the trivial baseline, evidence, a finding's
remedies) are the ones every detector uses, so a family's detector reads like the core ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from aegrad.diagnose.catalogue import advice, sig
from aegrad.diagnose.configview import ConfigView
from aegrad.diagnose.kinds import Target
from aegrad.diagnose.records import final_layout

# The loss is "stalled" when the test MSE (else the last window's training loss) is at least this
# share of the trivial predictor's MSE. Failing runs measured here sit at 1.0–1.8× trivial;
# every run that learned anything reached ≤ 0.84× (sigmoid/xavier/Adam, slowest) — healthy
# relu/Adam MLPs 0.11–0.58×, the seed's N(0,1) reference 0.74×.
STALL_FRACTION = 0.95


def as_float(x: Any) -> float:
    """A record's value as a float (NaN for None)."""
    return math.nan if x is None else float(x)


def sustained(flags: list[bool]) -> bool:
    """True in at least half of the windows of the run's second half."""
    if not flags:
        return False
    tail = flags[len(flags) // 2 :]
    return 2 * sum(tail) >= len(tail)


class RunView:
    """The records as arrays (windows × layers, NaN where missing), the metrics, the loss baseline and the config."""

    def __init__(
        self,
        records: list[dict[str, Any]],
        metrics: list[dict[str, Any]] | None,
        trivial_mse: float | None,
        test_mse: float | None,
        config: Any,
        patches: bool = True,
    ) -> None:
        self.patches = patches  # remedies as config patches (an aegrad model) or in words (any other model)
        self.reachable: dict[str, Any] | None = None  # the doctor's evidence of what this architecture reaches
        self.records = final_layout(records)
        layers = self.records[-1]["layers"] if self.records else []
        self.layers: list[str] = list(layers)
        self.cfg = ConfigView(config)
        self.config = self.cfg.to_dict()  # the config as a dict (None: unknown)
        self.metrics = metrics  # metrics.jsonl's records (epoch records hold the test-split terms), or None

        def mat(get: Callable[[dict[str, Any]], list[Any] | None]) -> np.ndarray:
            rows = [[as_float(v) for v in (get(r) or [None] * len(layers))] for r in self.records]
            return np.array(rows, dtype=float).reshape(len(self.records), len(layers))

        self.rms = mat(lambda r: r["grad_rms"])
        self.norm_mean = mat(lambda r: r["grad_norm"]["mean"])
        self.norm_max = mat(lambda r: r["grad_norm"]["max"])
        self.update = mat(lambda r: r.get("update_ratio"))
        self.nonfinite = [int(r.get("nonfinite_steps", 0)) for r in self.records]
        self.loss = np.array([as_float((r.get("loss") or {}).get("mean")) for r in self.records], dtype=float)
        self.steps = [int(r["step"]) for r in self.records]

        if test_mse is None and metrics:
            epochs = [m for m in metrics if m.get("kind") == "epoch" and m.get("test_mse") is not None]
            if epochs:
                test_mse = float(epochs[-1]["test_mse"])
        self.trivial_mse = trivial_mse if trivial_mse is not None and math.isfinite(trivial_mse) else None
        self.test_mse = test_mse if test_mse is not None and math.isfinite(test_mse) else None
        self._args = (metrics, self.trivial_mse, self.test_mse, config)

    def until_divergence(self) -> RunView:
        """The view of the windows before the first non-finite one: after it, statistics are noise."""
        first = next((i for i, n in enumerate(self.nonfinite) if n), None)
        if first is None:
            return self
        part = RunView(self.records[:first], *self._args, patches=self.patches)
        part.reachable = self.reachable
        return part

    @property
    def windows(self) -> int:
        return len(self.records)

    def remedies(self, *targets: Target | str, exclude: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """A finding's remedies for this run: those of each target in turn (catalogue.advice)."""
        return advice(targets, self.config, self.patches, exclude)

    def final_mse(self) -> float | None:
        """Test MSE if known, else the last finite window loss."""
        if self.test_mse is not None:
            return self.test_mse
        finite = self.loss[np.isfinite(self.loss)]
        return float(finite[-1]) if finite.size else None

    def stalled(self) -> bool | None:
        """Whether the loss sits at the trivial baseline; None when that baseline is unknown."""
        mse = self.final_mse()
        if self.trivial_mse is None or self.trivial_mse <= 0 or mse is None:
            return None
        return mse >= STALL_FRACTION * self.trivial_mse

    def loss_evidence(self) -> dict[str, Any]:
        mse = self.final_mse()
        out: dict[str, Any] = {}
        if self.test_mse is not None:
            out["test_mse"] = sig(self.test_mse)
        if self.trivial_mse is not None:
            out["trivial_mse"] = sig(self.trivial_mse)
            if mse is not None and self.trivial_mse > 0:
                out["mse_over_trivial"] = sig(mse / self.trivial_mse)
        return out

    def activation_windows(self) -> list[dict[str, dict[str, Any]]]:
        """Activation entries of the windows that have a sample, in order."""
        return [r["activations"] for r in self.records if r.get("activations")]

    def first_last_ratio(self) -> np.ndarray:
        """Per window, first layer's gradient RMS over the last layer's (NaN where undefined)."""
        if len(self.layers) < 2:
            return np.full(self.windows, math.nan)
        first, last = self.rms[:, 0], self.rms[:, -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where((last > 0) & np.isfinite(first), first / last, math.nan)
        return r
