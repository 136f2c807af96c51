"""Import rules that pytest checks too: the engine never imports Django, and no module cycles.

Imports inside functions and under TYPE_CHECKING count: a lazy import still runs on some code
path, and a type-only one still ties the modules together for the reader. The contracts of
pyproject.toml (`lint-imports`) state the same rules and the layers; these tests name the file
and line of each offence, and print every cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("portal", "accounts", "catalog", "recognition")
ENGINE = "recognition.engine"

# Django and what only runs inside it; the engine must not need any of them.
DJANGO = {
    "django",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "channels",
    "channels_redis",
    "daphne",
    "django_tasks_db",
    "environ",
    "storages",
    "whitenoise",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported_names(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """Return (line, module) for every import in `source`, at any depth of the syntax tree.

    `from a import b` gives `a.b` when that is a module of the project, else `a`; relative
    imports are resolved against `module`; `importlib.import_module("x")` and `__import__("x")`
    with a literal name count as imports of `x`.
    """
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.append((node.lineno, child if _is_module(child) else base))
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id in {"import_module", "__import__"})
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def _needs_django(name: str) -> bool:
    """Whether importing `name` brings in Django: Django's world, or the project outside the engine."""
    top = name.split(".", maxsplit=1)[0]
    if top in DJANGO:
        return True
    return top in PACKAGES and name not in {"recognition", ENGINE} and not name.startswith(ENGINE + ".")


def django_imports(path: Path) -> list[str]:
    """Return 'file:line imports name' for each import in `path` that brings in Django."""
    module = _module_name(path)
    found = imported_names(path.read_text(), module, is_package=path.name == "__init__.py")
    return [f"{path.relative_to(ROOT)}:{line} imports {name}" for line, name in found if _needs_django(name)]


def test_the_engine_never_imports_django():
    files = sorted((ROOT / "recognition" / "engine").rglob("*.py"))
    assert len(files) > 10, "the engine's modules were not found"
    offences = [offence for path in files for offence in django_imports(path)]
    assert not offences, "The engine must not import Django or the portal's modules:\n" + "\n".join(offences)


def test_the_django_check_sees_every_kind_of_import():
    source = """
from typing import TYPE_CHECKING

import numpy as np
from . import arrays

if TYPE_CHECKING:
    from django.db.models import QuerySet

def lookup():
    from recognition import store
    import rest_framework.fields
    importlib.import_module("channels.layers")
"""
    found = imported_names(source, "recognition.engine.identify")
    assert [name for _, name in found if _needs_django(name)] == [
        "django.db.models",
        "recognition.store",
        "rest_framework.fields",
        "channels.layers",
    ]
    assert ("recognition.engine.arrays" in {name for _, name in found}) and not _needs_django("numpy")


def import_cycles(graph: grimp.ImportGraph, limit: int = 100) -> list[list[str]]:
    """Return the simple cycles of the import graph (each from its first module in sort order).

    Only modules that reach each other are searched, so the walk stays small; `limit` bounds
    the report if a large tangle ever appears.
    """
    imports = {module: sorted(graph.find_modules_directly_imported_by(module)) for module in sorted(graph.modules)}
    reach = {}
    for module in imports:
        seen, frontier = set(), [module]
        while frontier:
            for imported in imports[frontier.pop()]:
                if imported not in seen:
                    seen.add(imported)
                    frontier.append(imported)
        reach[module] = seen
    cycles = []
    for start in imports:
        tangle = {other for other in reach[start] if start in reach[other] and other >= start}
        paths = [[start]]
        while paths and len(cycles) < limit:
            path = paths.pop()
            for imported in reversed(imports[path[-1]]):
                if imported == start:
                    cycles.append(path)
                elif imported in tangle and imported not in path:
                    paths.append([*path, imported])
    return cycles


def _describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    steps = [cycle[0]]
    for importer, imported in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
        details = graph.get_import_details(importer=importer, imported=imported)
        steps.append(f"{imported} (l.{', '.join(str(line) for line in sorted({d['line_number'] for d in details}))})")
    return " -> ".join(steps)


def test_the_cycle_search_finds_every_loop_once():
    graph = grimp.ImportGraph()
    for importer, imported in [("a", "b"), ("b", "a"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e")]:
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents=f"import {imported}")
    assert sorted(import_cycles(graph)) == [["a", "b"], ["a", "b", "c"]]


def test_no_import_cycles():
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert ENGINE in graph.modules
    if cycles := import_cycles(graph):
        pytest.fail(
            f"{len(cycles)} import cycle(s); move what both sides need below them, or pass it in "
            "(each step gives the line of its import):\n" + "\n".join(_describe(graph, cycle) for cycle in cycles),
            pytrace=False,
        )
