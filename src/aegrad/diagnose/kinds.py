"""The names findings.json uses: finding kinds, severities and what remedies treat, as str enums.

Each member is its string (``Kind.SATURATION == "saturation"``, it hashes alike, ``json.dumps``
writes the value, f-strings show the value), so findings.json and every comparison with text read as before.
They live in this module, which imports nothing of aegrad, so that both the detectors
(findings.py) and the remedy catalogue (remedies.py, which findings.py imports) use them.
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
    """A finding's kind (the ``kind`` field of findings.json); each is also its detector's name."""

    EXPLODING_GRADIENT = "exploding_gradient"
    DEAD_UNITS = "dead_units"
    SATURATION = "saturation"
    VANISHING_GRADIENT = "vanishing_gradient"
    STALLED_LOSS = "stalled_loss"
    UPDATE_RATIO = "update_ratio"
    OVERSIZE_UPDATE = "oversize_update"  # steps as large as the weights while the gradients stay normal: the learning rate
    UNDERTRAINED = "undertrained"  # the loss ends far above what the doctor showed the same architecture reaches


class Severity(_Names):
    """How bad a finding is: errors (the run failed, or will) are listed before warnings."""

    WARNING = "warning"
    ERROR = "error"


class Target(_Names):
    """What a remedy treats: a finding kind, with update_ratio split by direction."""

    VANISHING_GRADIENT = "vanishing_gradient"
    EXPLODING_GRADIENT = "exploding_gradient"
    DEAD_UNITS = "dead_units"
    SATURATION = "saturation"
    STALLED_LOSS = "stalled_loss"
    UPDATE_RATIO_LOW = "update_ratio_low"
    UPDATE_RATIO_HIGH = "update_ratio_high"
    OVERSIZE_UPDATE = "oversize_update"
