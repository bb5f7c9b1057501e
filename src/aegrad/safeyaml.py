"""YAML with limits: every config, study spec and ``--set`` value is read through `load`.

PyYAML's ``safe_load`` runs no code, but it takes any size of input, lets the second of
two equal keys silently win, and expands aliases without bound (a 1 KB "billion laughs"
file becomes a structure no one can validate or print). `load` refuses all three in one
line that quotes at most a short excerpt of the input.
"""

from __future__ import annotations

from typing import Any

import yaml

from aegrad.errors import UserError, excerpt

MAX_BYTES = 1 << 20  # 1 MiB: a config or study spec is a few KB
MAX_NODES = 100_000  # nodes after alias expansion (a config has ~100, a big study spec a few thousand)
MAX_DEPTH = 100  # nesting levels of flow collections ([...], {...}); a config has 3
_MERGE = "tag:yaml.org,2002:merge"


class LimitedLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys in a mapping (merge keys ``<<`` still override)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {excerpt(key, 40)!r} (each key may appear once)", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def expanded_size(node: yaml.Node, limit: int = MAX_NODES) -> int:
    """Nodes in `node` with every alias expanded (stops counting past `limit`); linear in the file's size."""
    memo: dict[int, int] = {}

    def size(n: yaml.Node, depth: int) -> int:
        if id(n) in memo:
            return memo[id(n)]
        if depth > 200:
            return limit + 1  # nesting this deep is no config (and recursive aliases land here)
        memo[id(n)] = limit + 1  # a node reached again while being sized is a recursive alias
        if isinstance(n, yaml.SequenceNode):
            total = 1 + sum(size(c, depth + 1) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            total = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in n.value)
        else:
            total = 1
        memo[id(n)] = min(total, limit + 1)
        return memo[id(n)]

    return size(node, 0)


def load(text: str | bytes, where: str = "YAML") -> Any:
    """Parse one YAML document with limits; a one-line UserError naming `where` for anything refused."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise UserError(f"{where} is {len(text):,} bytes; at most {MAX_BYTES:,} are read")
        if b"\0" in text:
            raise UserError(f"{where} is a binary file, not YAML text")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise UserError(f"{where} is not UTF-8 text (byte {err.start} is invalid); save it as UTF-8") from None
    if len(text) > MAX_BYTES:
        raise UserError(f"{where} is {len(text):,} characters; at most {MAX_BYTES:,} are read")
    if _flow_depth(text) > MAX_DEPTH:  # PyYAML's scanner takes seconds on a few KB of deep brackets
        raise UserError(f"{where} is nested more than {MAX_DEPTH} levels deep; no config is")
    loader = None
    try:
        loader = LimitedLoader(text)  # its reader already refuses control characters
        node = loader.get_single_node()
        if node is None:
            return None
        if expanded_size(node) > MAX_NODES:
            raise UserError(
                f"{where} expands to more than {MAX_NODES:,} values (aliases nested too deep); write the values out"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise UserError(f"{where} is not valid YAML: {_yaml_reason(err)}") from None
    except RecursionError:
        raise UserError(f"{where} is nested too deeply to be a config") from None
    finally:
        if loader is not None:
            loader.dispose()


def _flow_depth(text: str) -> int:
    """The deepest nesting of [ and { (counted everywhere, quotes included: an upper bound)."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
    return deepest


def _yaml_reason(err: yaml.YAMLError) -> str:
    """The problem and its line, short (PyYAML's own message quotes the input around it)."""
    if isinstance(err, yaml.MarkedYAMLError):
        problem = err.problem or err.context or "syntax error"
        mark = err.problem_mark or err.context_mark
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        return excerpt(problem, 120) + at
    return excerpt(err, 120)
