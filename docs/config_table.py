"""Print the README's config table from config.py (every key, its default, its comment, its choices).

    .venv/bin/python docs/config_table.py > /tmp/table.md   # then paste into README.md

Sub-sections (``model.codec``, ``model.vae``, ``data.text``, ...) are listed key by key
(``model.vae.beta``). tests/test_readme.py checks, through `config_rows`, that the README's
table has a row for every key with the right default.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Iterator

from pydantic import BaseModel

from aegrad import config as mod

SEP = " \\| "
SECTIONS = {"data": mod.DataConfig, "model": mod.ModelConfig, "train": mod.TrainConfig, "monitor": mod.MonitorConfig}


def _default(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return str(list(value))
    return str(value)


def _comment(cls: type[BaseModel], name: str) -> str:
    """The comment on `name`'s line in `cls`'s own source (field names repeat across sections), with the
    comment lines that continue it below."""
    lines = inspect.getsource(cls).splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.strip().startswith(f"{name}:"))
    parts = [lines[i].split("#", 1)[1].strip()] if "#" in lines[i] else []
    for ln in lines[i + 1:]:
        if not ln.strip().startswith("#"):
            break
        parts.append(ln.strip().removeprefix("#").strip())
    return " ".join(parts)


def _choices(annotation: object) -> tuple[str, ...]:
    if typing.get_origin(annotation) is not typing.Literal:
        literals = (a for a in typing.get_args(annotation) if typing.get_origin(a) is typing.Literal)
        annotation = next(literals, annotation)
    return typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else ()


def config_rows(
    prefix: str = "", cls: type[BaseModel] | None = None
) -> Iterator[tuple[str, str, str, tuple[str, ...]]]:
    """(dotted key, default as the table prints it, comment, choices) for every key, sub-sections expanded."""
    sections = SECTIONS.items() if cls is None else ((prefix, cls),)
    for section, model in sections:
        inst = model()
        for name, field in model.model_fields.items():
            key = f"{section}.{name}"
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                yield from config_rows(key, ann)
                continue
            yield key, _default(getattr(inst, name)), _comment(model, name), _choices(ann)


def main() -> None:
    print("| key | default | meaning |\n|---|---|---|")
    for key, default, comment, choices in config_rows():
        extra = f" (`{SEP.join(choices)}`)" if choices else ""
        print(f"| `{key}` | `{default}` | {comment}{extra} |")


if __name__ == "__main__":
    main()
