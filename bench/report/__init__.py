"""The benchmark documents, generated from bench/results so that no figure drifts from its run.

    .venv/bin/python -m bench.report            # write docs/benchmarks.md, results.md and every block
    .venv/bin/python -m bench.report --check    # exit 1, printing the diff, when any of them differs
    .venv/bin/python -m bench.report --plots    # also redraw accuracy_vs_snr.png and growth.png

docs/benchmarks.md and bench/results/results.md are generated whole. Any other markdown file of
the repository may hold named blocks: a line `<!-- report:NAME -->`, generated text, and a line
`<!-- /report:NAME -->`. The text between the two lines is rewritten and the rest of the file is
left as it is. BLOCKS lists the names; an unknown name, a block left open and a missing results
file are errors, never empty text.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from pathlib import Path

from bench import RESULTS, ROOT
from bench.report.benchmark import results_markdown
from bench.report.blocks import BLOCKS
from bench.report.page import benchmarks_page
from bench.report.plots import accuracy_plot, growth_plot
from bench.report.render import Page, ReportError, Results

__all__ = [
    "BLOCKS",
    "ReportError",
    "accuracy_plot",
    "differences",
    "generate",
    "growth_plot",
    "main",
    "results_markdown",
    "rewrite_blocks",
]

MARKER = re.compile(r"^<!-- (/?)report:(\S*) -->$", re.MULTILINE)
SKIPPED = {"node_modules", "out", "media", "staticfiles", "var", "backups", "__pycache__"}


def rewrite_blocks(text: str, page: Page) -> str:
    """Return `text` with every named block's content generated anew, the text around it unchanged."""
    parts, at, opened = [], 0, None

    def where(match: re.Match) -> str:
        return f"{page.path}:{text.count(chr(10), 0, match.start()) + 1}"

    for marker in MARKER.finditer(text):
        closing, name = marker[1] == "/", marker[2]
        if name not in BLOCKS:
            raise ReportError(f"{where(marker)}: unknown report block {name!r} (known: {', '.join(BLOCKS)})")
        if not closing:
            if opened:
                raise ReportError(f"{where(marker)}: block {name!r} opens inside block {opened[2]!r}")
            opened = marker
            continue
        if not opened or opened[2] != name:
            raise ReportError(f"{where(marker)}: block {name!r} closes without being opened")
        parts += [text[at : opened.end()], "\n", BLOCKS[name](page).strip("\n"), "\n"]
        at, opened = marker.start(), None
    if opened:
        raise ReportError(f"{where(opened)}: block {opened[2]!r} is never closed")
    return "".join([*parts, text[at:]])


def markdown_files(root: Path) -> list[Path]:
    """Every markdown file of the repository outside hidden folders and generated output."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(s for s in subfolders if not s.startswith(".") and s not in SKIPPED)
        found += [Path(folder) / name for name in sorted(files) if name.endswith(".md")]
    return found


def generate(root: Path = ROOT, results: Path = RESULTS) -> dict[Path, str]:
    """Return the text every generated file should hold, by path: the two whole pages, and each
    markdown file with blocks."""
    shelf = Results(results)
    benchmarks = root / "docs" / "benchmarks.md"
    summary = results / "results.md"
    texts = {
        benchmarks: benchmarks_page(Page(benchmarks, shelf, root)),
        summary: results_markdown(shelf.json("results.json")),
    }
    for path in markdown_files(root):
        if path in texts:
            continue
        text = path.read_text()
        if MARKER.search(text):
            texts[path] = rewrite_blocks(text, Page(path, shelf, root))
    return texts


def differences(texts: dict[Path, str], root: Path = ROOT) -> str:
    """A unified diff from what is on disk to `texts`; empty when they agree."""
    diff = []
    for path, text in texts.items():
        now = path.read_text() if path.exists() else ""
        if now != text:
            name = os.path.relpath(path, root)
            diff += difflib.unified_diff(
                now.splitlines(keepends=True), text.splitlines(keepends=True), f"a/{name}", f"b/{name}"
            )
    return "".join(diff)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 with the diff when any differs")
    parser.add_argument("--plots", action="store_true", help="also redraw accuracy_vs_snr.png and growth.png")
    args = parser.parse_args(argv)
    try:
        texts = generate()
    except ReportError as error:
        print(f"bench.report: {error}", file=sys.stderr)
        return 2
    if args.check:
        diff = differences(texts)
        if diff:
            print(diff, end="")
            print("bench.report: the documents differ from bench/results; run `make report`", file=sys.stderr)
            return 1
        return 0
    for path, text in texts.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {os.path.relpath(path, ROOT)}")
    if args.plots:
        shelf = Results(RESULTS)
        accuracy_plot(shelf.json("results.json"), RESULTS / "accuracy_vs_snr.png")
        growth_plot(shelf.json("growth.json"), RESULTS / "growth.png")
    return 0
