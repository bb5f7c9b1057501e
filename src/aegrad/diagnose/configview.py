"""A run's config as remedies and detectors read it: the typed ``Config``'s attributes, None where unknown.

``ConfigView(config).model.vae.free_bits`` follows the fields of ``aegrad.config.Config``: a name
that is not a field raises AttributeError whatever the config holds, so a misspelt key fails the
first test that runs the remedy, never silently reads None. A value the caller did not give (no
config: a model aegrad did not build; a partial dict) reads None, so a remedy can tell "unknown"
from a default and propose nothing it cannot justify.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from aegrad.config import Config


def _section(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


class ConfigView:
    """Read-only attribute access to a resolved config (a Config or its dict), checked against Config's fields."""

    # Attribute names of its own start with "_" (or are `known`, `to_dict`), clear of Config's field names.
    __slots__ = ("_data", "_schema")

    def __init__(self, config: Any = None, schema: type[BaseModel] = Config) -> None:
        if config is not None and hasattr(config, "to_dict"):
            config = config.to_dict()
        self._data: dict[str, Any] | None = config if isinstance(config, dict) else None
        self._schema = schema

    @property
    def known(self) -> bool:
        """Whether a config was given (a section: whether the config has it)."""
        return self._data is not None

    def to_dict(self) -> dict[str, Any] | None:
        """The config as given (a dict), or None when unknown."""
        return self._data

    def __getattr__(self, name: str) -> Any:
        field = self._schema.model_fields.get(name)
        if field is None:
            valid = ", ".join(self._schema.model_fields)
            raise AttributeError(f"{self._schema.__name__} has no field {name!r}; valid: {valid}")
        value = self._data.get(name) if self._data is not None else None
        inner = _section(field.annotation)
        return ConfigView(value, inner) if inner is not None else value

    def __repr__(self) -> str:
        return f"ConfigView({self._schema.__name__}, {self._data!r})"
