"""The names findings.json uses: finding kinds, severities and what remedies treat, as str enums.

Each member is its string (``Kind.SATURATION == "saturation"``, it hashes alike, ``json.dumps``
writes the value, f-strings show the value), so findings.json and every comparison with text read as before.
``Kind`` is the one list of finding kinds, the model families' included; ``Target`` (what a remedy
treats) is derived from it. This module imports nothing of aegrad, so every detector and remedy,
in diagnose/ or in a family's folder, can use it.
"""

from __future__ import annotations

from enum import Enum


class _Names(str, Enum):
    """A str enum that prints and formats as its value on every Python version (3.10's and 3.11's differ)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    def __hash__(self) -> int:
        # Enum hashes the member's name; equal to its value as a str, it must hash like it, so
        # a dict keyed by members finds plain strings and the other way round.
        return hash(self.value)


class Kind(_Names):
    """A finding's kind (the ``kind`` field of findings.json); each is also its detector's name, but for
    the kinds judged before training (``BEFORE_TRAINING``), which have no run to read."""

    EXPLODING_GRADIENT = "exploding_gradient"
    DEAD_UNITS = "dead_units"
    SATURATION = "saturation"
    VANISHING_GRADIENT = "vanishing_gradient"
    STALLED_LOSS = "stalled_loss"
    UPDATE_RATIO = "update_ratio"  # remedies treat it by direction: update_ratio_low / update_ratio_high
    OVERSIZE_UPDATE = "oversize_update"  # steps as large as the weights, the gradients normal: the learning rate
    UNDERTRAINED = "undertrained"  # the loss ends far above what the doctor showed the same architecture reaches
    POSTERIOR_COLLAPSE = "posterior_collapse"  # a VAE's code carries nothing (models/variational/findings.py)
    VANISHING_THROUGH_TIME = "vanishing_through_time"  # a recurrent encoder's far steps (models/seq/findings.py)
    CODEC_RATE_COLLAPSE = "codec_rate_collapse"  # a codec that sends no bits (models/codec/findings.py)
    UNTRAINABLE_AT_INIT = "untrainable_at_init"  # a net that cannot train, seen at init (diagnose/trainability.py)


class Severity(_Names):
    """How bad a finding is: errors (the run failed, or will) are listed before warnings."""

    WARNING = "warning"
    ERROR = "error"


# Kinds found from the model and one batch before any step (`aegrad check`, trainability.check_findings), not by a
# detector over a run's records: no detector is registered under them.
BEFORE_TRAINING = (Kind.UNTRAINABLE_AT_INIT,)
# Kinds no remedy names: the undertrained finding's one remedy is the doctor's patch; untrainable_at_init lists
# the vanishing or exploding gradients' remedies, the failures it foresees.
_UNTREATED = (Kind.UNDERTRAINED, Kind.UNTRAINABLE_AT_INIT)
# Kinds treated by direction: the finding is reported under the kind, its remedies are the direction's.
_DIRECTIONS = {Kind.UPDATE_RATIO: ("low", "high")}


def _targets() -> list[tuple[str, str]]:
    out = []
    for k in Kind:
        if k in _UNTREATED:
            continue
        for d in _DIRECTIONS.get(k, ("",)):
            out.append((f"{k.name}_{d.upper()}", f"{k.value}_{d}") if d else (k.name, k.value))
    return out


# What a remedy treats: every finding kind but the untreated, update_ratio split by direction
# (Target.UPDATE_RATIO_LOW == "update_ratio_low"), in Kind's order.
Target = _Names("Target", _targets(), module=__name__)  # type: ignore[misc]
