"""The engine as a package: no Django, no import cycle, a surface that resolves."""

import ast
import subprocess
import sys

import recognition.engine
from tests.conftest import ROOT

ENGINE = ROOT / "recognition" / "engine"


def _engine_modules() -> dict[str, ast.Module]:
    """Every module of the engine by dotted name (a package by its own name), parsed."""
    modules = {}
    for path in sorted(ENGINE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = ast.parse(path.read_text(), filename=str(path))
    return modules


def _imports(tree: ast.Module, modules: dict[str, ast.Module]) -> set[str]:
    """The engine modules a module imports, wherever the import sits (TYPE_CHECKING blocks and
    functions included): `from package import name` counts as importing the submodule `name`
    when there is one, else the package itself."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return found & set(modules)


def test_engine_does_not_import_django():
    modules = ", ".join(_engine_modules())
    code = (
        f"import sys; import {modules}; "
        "sys.exit(1 if any(m == 'django' or m.startswith('django.') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


def test_no_engine_module_imports_one_that_imports_it_back():
    modules = _engine_modules()
    graph = {name: _imports(tree, modules) - {name} for name, tree in modules.items()}
    assert len(graph) > 20 and graph["recognition.engine.identify.identifier"]

    def cycle_from(start: str) -> list[str] | None:
        """A path of imports that leads from `start` back to it, if any (depth first)."""
        stack = [(start, [start])]
        seen = set()
        while stack:
            name, path = stack.pop()
            for imported in graph[name]:
                if imported == start:
                    return [*path, start]
                if imported not in seen:
                    seen.add(imported)
                    stack.append((imported, [*path, imported]))
        return None

    cycles = [cycle for cycle in map(cycle_from, graph) if cycle]
    assert cycles == []


def test_the_surface_names_what_it_exports():
    surface = recognition.engine.__all__
    assert len(surface) == len(set(surface))
    assert all(hasattr(recognition.engine, name) for name in surface)
    expected = {"Identifier", "ListeningSession", "HashIndex", "LookupRows", "MemoryIndex", "decode", "AudioError"}
    assert expected <= set(surface)
