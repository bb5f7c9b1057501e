"""Commands several families share (``sample``, ``interpolate``, ``probe``) ask the run's family for its own form.

A family's form of a command registers with ``@family_command("sample", "seq")``; the shared command looks it
up by the run's ``model.kind`` (``command_for``) and runs it in place of its default, so no command carries an
``if kind == ...`` branch. apps/__init__ imports the command modules that register.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from aegrad.registry import Registry

FamilyCommand = Callable[[argparse.Namespace], int]
FAMILY_COMMANDS: Registry[FamilyCommand] = Registry("family command")


def family_command(command: str, kind: str) -> Callable[[FamilyCommand], FamilyCommand]:
    """Register `kind`'s form of the shared `command` (it receives that command's parsed arguments)."""
    return FAMILY_COMMANDS.register(f"{command}:{kind}")


def command_for(command: str, kind: str) -> FamilyCommand | None:
    """`kind`'s own form of `command`, or None when the family uses the command's default."""
    key = f"{command}:{kind}"
    return FAMILY_COMMANDS.get(key) if key in FAMILY_COMMANDS else None
