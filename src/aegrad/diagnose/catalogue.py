"""The catalogue of findings: the typed Finding, and the registries of detectors and remedies with their decorators.

Every detector is registered by ``@detector`` and every remedy by ``@remedy``, those of diagnose/
(the gradient-health ones) and those of a model family (its folder's ``findings.py``, imported by
the family's ``__init__``) alike; ``list_detectors()`` / ``list_remedies()`` read them back. A
detector returns ``Finding``s, whose ``to_dict()`` is the findings.json entry; a remedy computes
its patch from the run's config (a ``ConfigView``: the typed Config's fields, None where unknown).

This module, kinds.py, configview.py, patches.py and view.py import nothing of aegrad.models at
module level: the families import them while aegrad.models is importing the families.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aegrad.diagnose.configview import ConfigView
from aegrad.diagnose.kinds import Kind, Severity, Target
from aegrad.diagnose.patches import Patch, describe_patch
from aegrad.registry import Registry

if TYPE_CHECKING:
    from aegrad.diagnose.view import RunView


def sig(x: float | None, digits: int = 3) -> float | None:
    """A number rounded to `digits` significant figures for evidence (None if missing or not finite)."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


# -- findings -------------------------------------------------------------------------------------


@dataclass
class Finding:
    """One finding of a diagnosis; ``to_dict()`` is its findings.json entry (keys in this order)."""

    kind: Kind
    severity: Severity
    layers: list[str]  # parameterised layers or activation modules involved
    evidence: dict[str, Any]  # the numbers that triggered it
    explanation: str  # what is wrong and why, in a sentence or three
    remedies: list[dict[str, Any]] = field(default_factory=list)  # [{"patch" | "action", "why", "name"}], best first

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "layers": self.layers,
            "evidence": self.evidence,
            "explanation": self.explanation,
            "remedies": self.remedies,
        }


# -- remedies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Remedy:
    """A named config change: `patch(cfg)` gives the patch for this run, or None if it does not apply."""

    name: str  # the name findings show
    why: str
    treats: dict[Target, int]  # finding kind -> rank among that kind's remedies (lower first)
    patch: Callable[[ConfigView], Patch | None]


REMEDIES: Registry[Remedy] = Registry("remedy")


def remedy(
    name: str, why: str, treats: dict[Target, int], key: str | None = None
) -> Callable[[Callable[[ConfigView], Patch | None]], Remedy]:
    """Register the decorated patch function as a remedy.

    `key`: the registry's name when `name` is taken by a remedy of other kinds (a family's own
    ``layer_norm`` beside the gradient-health one); findings show `name`.
    """

    def deco(fn: Callable[[ConfigView], Patch | None]) -> Remedy:
        r = Remedy(name=name, why=why, treats=treats, patch=fn)
        REMEDIES.register(key or name)(r)
        return r

    return deco


def list_remedies() -> list[str]:
    """Names of every registered remedy."""
    return REMEDIES.names()


def remedies_for(kind: Target | str, config: Any = None) -> list[dict[str, Any]]:
    """Ranked remedies for a finding kind, best first: [{"patch": {...}, "why": str, "name": str}].

    `config` is the run's resolved config (a Config or its dict); remedies that do not apply to
    it (already set) are left out, and identical patches appear once.
    """
    if kind not in tuple(Target):
        raise KeyError(f"unknown finding kind {kind!r}; valid: {', '.join(Target)}")
    kind = Target(kind)
    cfg = ConfigView(config)
    ranked = sorted(
        (r for r in (REMEDIES.get(n) for n in REMEDIES.names()) if kind in r.treats),
        key=lambda r: (r.treats[kind], r.name),
    )
    out: list[dict[str, Any]] = []
    seen: list[Patch] = []
    for r in ranked:
        patch = r.patch(cfg)
        if patch is None or patch in seen:
            continue
        seen.append(patch)
        out.append({"patch": patch, "why": r.why, "name": r.name})
    return out


def advice(
    targets: Sequence[Target | str], config: Any = None, patches: bool = True, exclude: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """A finding's remedies: those of each of `targets` in turn (a cause's first), a patch already listed left out.

    patches: each remedy as an aegrad config patch (``"patch"``); False for a model aegrad did not
    build: the patch in words (``"action"``). exclude: remedy names that do not apply to this finding.
    """
    out: list[dict[str, Any]] = []
    seen: list[Patch] = []
    for target in targets:
        for r in remedies_for(target, config):
            if r["name"] in exclude or r["patch"] in seen:
                continue
            seen.append(r["patch"])
            how = {"patch": r["patch"]} if patches else {"action": describe_patch(r["patch"])}
            out.append({**how, "why": r["why"], "name": r["name"]})
    return out


# -- detectors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detector:
    """A named check over a RunView; `order` ranks its findings (root causes first)."""

    name: Kind
    order: int
    superseded_by: tuple[Kind, ...]  # dropped when one of these kinds is also found
    fn: Callable[[RunView], list[Finding]]
    every_window: bool  # judged on every window; False: on the windows before a divergence


DETECTORS: Registry[Detector] = Registry("detector")


def detector(
    name: Kind, order: int, superseded_by: tuple[Kind, ...] = (), every_window: bool = False
) -> Callable[[Callable[[RunView], list[Finding]]], Detector]:
    """Register the decorated check as the detector of finding kind `name`."""

    def deco(fn: Callable[[RunView], list[Finding]]) -> Detector:
        d = Detector(name=Kind(name), order=order, superseded_by=superseded_by, fn=fn, every_window=every_window)
        DETECTORS.register(d.name)(d)
        return d

    return deco


def list_detectors() -> list[str]:
    """Names (finding kinds) of every registered detector."""
    return DETECTORS.names()
