"""Layering: what may import what, read statically from the source (AST), and registries that fill the same
whatever is imported first (each in a fresh interpreter).

The rules (STYLE.md: "a family lives in one place, below its users"; "diagnose/ computes, report/ draws"):

* nothing below the applications imports ``aegrad.apps`` — at module level or inside a function; only
  ``apps/`` itself, ``cli.py``, ``__main__.py`` and the top package's ``__init__.py`` sit above them;
* ``diagnose/`` never imports ``aegrad.train``: the monitor works in anyone's loop;
* no module outside ``report/`` imports matplotlib at module level (``if TYPE_CHECKING:`` aside), and
  ``import aegrad`` loads no matplotlib;
* every package imports on its own in a fresh interpreter;
* the registries (models, objectives, data sources) hold the same names after importing ``aegrad.models``,
  ``aegrad.data`` or the objectives alone as after ``import aegrad``: no registration relies on an import
  placed "after" another.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "aegrad"
ABOVE_APPS = {"cli.py", "__main__.py", "__init__.py"}  # top-level files that may import apps (with apps/ itself)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def _rel(path: Path) -> str:
    return path.relative_to(PKG).as_posix()


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path, module_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file `path` (see ``_imports_in``)."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    return _imports_in(_tree(path), package, module_level_only)


def _imports_in(tree: ast.Module, package: str, module_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, imported module) for every import in `tree`, a module of `package`: ``import a.b``,
    ``from a import b`` (as ``a.b`` too, since b may be a module), relative imports resolved, and
    ``importlib.import_module("...")`` / ``__import__("...")`` with a literal name. `module_level_only`: skip
    function bodies and ``if TYPE_CHECKING:`` blocks (class bodies run at import, so they count)."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if module_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        if module_level_only and isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{a.name}") for a in node.names if a.name != "*")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations(paths: list[Path], banned: str, module_level_only: bool = False) -> list[str]:
    """"file:line imports module" for each import statement in `paths` that reaches into `banned`."""
    out = {}
    for p in paths:
        for line, mod in _imports(p, module_level_only):
            if _within(mod, banned):
                out.setdefault((_rel(p), line), mod)  # `from a.b import c`: a.b, not also a.b.c
    return [f"{path}:{line} imports {mod}" for (path, line), mod in sorted(out.items())]


# ------------------------------------------------------------------------------------------------ static rules


def _below_apps() -> list[Path]:
    return [p for p in _sources() if not _rel(p).startswith("apps/") and _rel(p) not in ABOVE_APPS]


def test_nothing_below_the_applications_imports_them():
    bad = _violations(_below_apps(), "aegrad.apps")
    assert not bad, "modules below apps/ that import aegrad.apps:\n" + "\n".join(bad)


def test_diagnose_never_imports_the_trainer():
    bad = _violations([p for p in _sources() if _rel(p).startswith("diagnose/")], "aegrad.train")
    assert not bad, "diagnose/ must work in anyone's loop:\n" + "\n".join(bad)


def test_only_report_imports_matplotlib_at_module_level():
    outside = [p for p in _sources() if not _rel(p).startswith("report/")]
    bad = _violations(outside, "matplotlib", module_level_only=True)
    assert not bad, "matplotlib at module level outside report/ (import it where a figure is drawn):\n" + "\n".join(bad)


def test_the_import_reader_sees_every_form():
    """The reader itself, on a module with each form of import the rules must catch."""
    text = ("from . import stats\nfrom ..apps import text\nimport aegrad.apps.vae\n"
            "def f():\n    from aegrad.apps.compress import codec\n    importlib.import_module('aegrad.apps.x')\n"
            "if TYPE_CHECKING:\n    import matplotlib\nclass A:\n    import matplotlib.pyplot\n")
    every = {m for _, m in _imports_in(ast.parse(text), "aegrad.diagnose")}
    top = {m for _, m in _imports_in(ast.parse(text), "aegrad.diagnose", module_level_only=True)}
    assert {"aegrad.diagnose.stats", "aegrad.apps.text", "aegrad.apps.vae", "aegrad.apps.compress.codec",
            "aegrad.apps.x", "matplotlib", "matplotlib.pyplot"} <= every
    assert "aegrad.apps.compress.codec" not in top and "aegrad.apps.x" not in top
    assert "matplotlib.pyplot" in top and "matplotlib" not in top


# ------------------------------------------------------------------------------------------------ fresh interpreters


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    """`python -c code args` in a fresh interpreter that imports aegrad from this tree."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(SRC)})


def _packages() -> list[str]:
    """aegrad's sub-packages: each folder under src/aegrad with an __init__.py."""
    return sorted(_module_name(p) for p in PKG.rglob("__init__.py") if p.parent != PKG and "__pycache__" not in p.parts)


def _top_level(name: str) -> bool:
    return name.count(".") == 1


@pytest.mark.parametrize("package", [
    p if _top_level(p) else pytest.param(p, marks=pytest.mark.slow) for p in _packages()
])
def test_each_package_imports_in_a_fresh_interpreter(package):
    proc = _python(f"import {package}")
    assert proc.returncode == 0, f"import {package}:\n{proc.stderr.strip()[-2000:]}"


# Reads the three registries as a JSON object. The top package is stubbed first when asked, so that
# `import aegrad.models` runs models/__init__.py alone and not aegrad/__init__.py's imports of everything.
REGISTRIES = r"""
import importlib, importlib.util, json, sys, types
first, stub = sys.argv[1], sys.argv[2] == "stub"
if stub:
    spec = importlib.util.find_spec("aegrad")
    top = types.ModuleType("aegrad")
    top.__path__ = list(spec.submodule_search_locations)
    sys.modules["aegrad"] = top
importlib.import_module(first)
def objectives():
    return importlib.import_module("aegrad.objectives").list_objectives()
print(json.dumps({
    "models": sorted(importlib.import_module("aegrad.models").list_models()),
    "objectives": sorted(objectives()),
    "sources": sorted(importlib.import_module("aegrad.data").list_sources()),
    "matplotlib": "matplotlib" in sys.modules,
}))
"""


def _registries(first: str, stub: bool) -> dict:
    proc = _python(REGISTRIES, first, "stub" if stub else "full")
    assert proc.returncode == 0, f"import {first} first:\n{proc.stderr.strip()[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def full_registries() -> dict:
    return _registries("aegrad", stub=False)


def test_import_aegrad_loads_no_matplotlib(full_registries):
    assert full_registries["matplotlib"] is False
    assert full_registries["models"] and full_registries["objectives"] and full_registries["sources"]


@pytest.mark.parametrize("first", ["aegrad.models", "aegrad.data", "aegrad.objectives"])
def test_registries_do_not_depend_on_import_order(first, full_registries):
    """In a fresh interpreter where only `first` is imported (aegrad/__init__.py not run), then the registries'
    own modules to read them, every registry holds what ``import aegrad`` gives."""
    alone = _registries(first, stub=True)
    for registry in ("models", "objectives", "sources"):
        assert alone[registry] == full_registries[registry], (
            f"after importing {first} alone, {registry} holds {alone[registry]}; after import aegrad: "
            f"{full_registries[registry]}")
