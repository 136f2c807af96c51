"""The engine as a package: no Django once imported, a surface that resolves (tests/test_imports.py
checks its imports statically)."""

import subprocess
import sys

import recognition.engine
from tests.conftest import ROOT

ENGINE = ROOT / "recognition" / "engine"


def _engine_modules() -> list[str]:
    """Every module of the engine by dotted name (a package by its own name)."""
    modules = []
    for path in sorted(ENGINE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def test_engine_does_not_import_django():
    modules = ", ".join(_engine_modules())
    code = (
        f"import sys; import {modules}; "
        "sys.exit(1 if any(m == 'django' or m.startswith('django.') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


def test_the_surface_names_what_it_exports():
    surface = recognition.engine.__all__
    assert len(surface) == len(set(surface))
    assert all(hasattr(recognition.engine, name) for name in surface)
    expected = {"Identifier", "ListeningSession", "HashIndex", "LookupRows", "MemoryIndex", "decode", "AudioError"}
    assert expected <= set(surface)
