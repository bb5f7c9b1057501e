"""Print the README's config table from config.py (every key, its default, its comment, its choices).

    .venv/bin/python docs/config_table.py > /tmp/table.md   # then paste into README.md

tests/test_readme.py checks that the README's table has a row for every key with the right default.
"""

from __future__ import annotations

import inspect
import typing

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


def main() -> None:
    src = inspect.getsource(mod).splitlines()
    print("| key | default | meaning |\n|---|---|---|")
    for section, cls in SECTIONS.items():
        inst = cls()
        for name, field in cls.model_fields.items():
            line = next(ln for ln in src if ln.strip().startswith(f"{name}:"))
            comment = line.split("#", 1)[1].strip()
            ann = field.annotation
            if typing.get_origin(ann) is not typing.Literal:
                ann = next((a for a in typing.get_args(ann) if typing.get_origin(a) is typing.Literal), ann)
            choices = typing.get_args(ann) if typing.get_origin(ann) is typing.Literal else ()
            extra = f" (`{SEP.join(choices)}`)" if choices else ""
            print(f"| `{section}.{name}` | `{_default(getattr(inst, name))}` | {comment}{extra} |")


if __name__ == "__main__":
    main()
