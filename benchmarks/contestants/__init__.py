"""The contestants: one module each, registered by name with what they need installed.

A contestant is a function ``run(task, **options) -> Measurement`` executed inside a
fresh worker process (``benchmarks.worker``), so its peak RSS is its own. Modules
here import their framework inside the function: importing the registry stays
cheap and works in any environment that has numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks.spec import Task


@dataclass(frozen=True)
class Measurement:
    """What one training run reports. Time counts training only (no data loading, eval or save)."""

    samples_per_s: float  # training samples per second of training time
    train_s: float  # training time
    test_mse: float  # mean over test samples and pixels, pixels in [0, 1]
    extra: dict[str, Any] = field(default_factory=dict)  # contestant-specific facts (steps, versions, ...)


@dataclass(frozen=True)
class Contestant:
    name: str
    fn: Callable[..., Measurement]
    requires: tuple[str, ...]  # importable top-level modules it needs
    peer_env: bool  # runs under the peers' interpreter (--peer-python), not necessarily aegrad's
    options: dict[str, Any]  # keyword arguments passed to fn
    install_hint: str


_REGISTRY: dict[str, Contestant] = {}


def register(
    name: str,
    *,
    requires: tuple[str, ...],
    peer_env: bool = False,
    options: dict[str, Any] | None = None,
    install_hint: str = "pip install -e '.[bench]'",
) -> Callable[[Callable[..., Measurement]], Callable[..., Measurement]]:
    def deco(fn: Callable[..., Measurement]) -> Callable[..., Measurement]:
        if name in _REGISTRY:
            raise ValueError(f"contestant {name!r} registered twice")
        _REGISTRY[name] = Contestant(name, fn, requires, peer_env, dict(options or {}), install_hint)
        return fn

    return deco


def get(name: str) -> Contestant:
    if name not in _REGISTRY:
        raise KeyError(f"unknown contestant {name!r}; valid: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def list_contestants() -> list[str]:
    return list(_REGISTRY)


def run(name: str, task: Task, options: dict[str, Any] | None = None) -> Measurement:
    c = get(name)
    return c.fn(task, **{**c.options, **(options or {})})


# Registration happens on import (spec.CONTESTANTS fixes the running order).
from benchmarks.contestants import aegrad_api, keras_fit, pythae_trainer, torch_loop  # noqa: F401
