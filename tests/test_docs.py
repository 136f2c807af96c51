"""The docs cannot drift from the code: pointers into docs/decisions.md, links and the README's size."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("*/README.md"))]
CODE = [p for top in ("portal", "accounts", "catalog", "recognition", "bench") for p in (ROOT / top).rglob("*.py")]
POINTER = re.compile(r"docs/decisions\.md, `?([A-Za-z_][A-Za-z0-9_.]*)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
# A file of the repository named in backticks: `recognition/engine/audio.py`, `bench/results/growth.json`.
REPO_FILE = re.compile(
    r"`((?:portal|accounts|catalog|recognition|bench|tests|scripts|deployment|docs|static|templates)/[\w./-]+\.\w+)`"
)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _headings(path: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in path.read_text().splitlines() if line.startswith("#")]


def test_every_pointer_from_code_names_a_heading_of_decisions():
    headings = _headings(ROOT / "docs" / "decisions.md")
    missing = []
    for path in CODE:
        for name in POINTER.findall(path.read_text()):
            if not any(re.search(rf"\b{re.escape(name)}\b", heading) for heading in headings):
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, "pointers to docs/decisions.md without a heading:\n" + "\n".join(missing)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked here
        file_part, _, anchor = target.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        unknown_anchor = (
            path.is_file() and anchor and path.suffix == ".md" and anchor not in {_slug(h) for h in _headings(path)}
        )
        if not path.exists() or unknown_anchor:
            broken.append(target)
    assert not broken, f"{doc.relative_to(ROOT)}: broken links {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_files_named_in_the_docs_exist(doc):
    missing = [name for name in REPO_FILE.findall(doc.read_text()) if not (ROOT / name).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} names files that do not exist: {missing}"


def test_readme_fits_in_15_kb():
    assert (ROOT / "README.md").stat().st_size <= 15 * 1024


def test_every_setting_read_from_the_environment_is_documented():
    """Each variable portal/settings.py reads is named in the README or a page of docs/."""
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', (ROOT / "portal" / "settings.py").read_text()))
    assert len(read) > 30  # the pattern still finds them
    documented = "\n".join(path.read_text() for path in DOCS)
    assert sorted(name for name in read if f"`{name}`" not in documented and f"{name}=" not in documented) == []
