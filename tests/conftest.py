"""Shared fixtures: small real trainings on the bundled digits, and the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def fashion_available() -> bool:
    return FASHION_DIR.is_dir() and any(FASHION_DIR.iterdir())


needs_fashion = pytest.mark.skipif(not fashion_available(), reason="Debian's dataset-fashion-mnist is not installed")


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m aegrad ARGS` in a fresh process, as a user would run it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "aegrad", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env
    )


@pytest.fixture(autouse=True)
def _torch_threads():
    """Two workers share two cores: one thread each keeps tests from oversubscribing."""
    import torch

    torch.set_num_threads(1)
    yield
