"""The built-in studies: the YAML files in ``study/specs`` are the registry (one file per study)."""

from __future__ import annotations

from importlib import resources

import yaml

from aegrad.errors import UserError

_PACKAGE = "aegrad.study.specs"


def _files() -> dict[str, str]:
    """Study name -> its spec file name."""
    return {
        e.name.removesuffix(".yaml"): e.name
        for e in sorted(resources.files(_PACKAGE).iterdir(), key=lambda e: e.name)
        if e.name.endswith(".yaml")
    }


def builtin_spec_text(name: str) -> str:
    files = _files()
    if name not in files:
        raise UserError(f"unknown built-in study {name!r}; valid: {', '.join(files)}")
    return resources.files(_PACKAGE).joinpath(files[name]).read_text(encoding="utf-8")


def list_builtin() -> dict[str, str]:
    """Built-in study name -> its one-line description."""
    return {name: str(yaml.safe_load(builtin_spec_text(name)).get("description", "")) for name in _files()}
