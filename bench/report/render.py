"""What every generated table needs: the results files, the page it goes into, numbers as text."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import RESULTS, ROOT

RESULTS_SHOWN_AS = "bench/results"  # how a results file is named in the text, wherever the folder is

# The command that writes each results file, for the error that says it is missing.
WRITERS = {
    "results.json": "make bench",
    "results_earshot.json": "python -m bench.run --only earshot",
    "growth.json": "make growth",
    "live.json": "make bench-live",
    "faults.json": "make faults",
    "abuse.json": "make abuse",
    "monitor.json": "make bench-monitor",
    "monitor_faults.json": "make faults-monitor",
    "reports.json": "make bench-reports",
    "retroactive.json": "make bench-retroactive",
    "fuzz.log": "make fuzz",
    "schemathesis.json": "make fuzz-api",
    "ingest_cost.txt": "python -m bench.studies.ingest_cost",
    "sandbox_cost.json": "python -m bench.studies.sandbox_cost",
    "latency.json": "make bench-latency",
    "api_profile.json": "python -m bench.studies.api_profile --py-spy PATH",
    "latency_followup.json": "python -m bench.latency --before 8c364aa --parts formats,api,ingest "
    "--output latency_followup.json",
    "robustness.json": "python -m bench.studies.robustness",
    "robustness_cpu.json": "python -m bench.studies.robustness_cpu --before COMMIT",
    "growth_wide.json": "python -m bench.growth --wide off on --results bench/results/growth_wide.json",
    "invariant_triplets.json": "python -m bench.studies.invariant_triplets",
    "timeline_speeds.json": "python -m bench.studies.timeline_speeds",
    "room.json": "python -m bench.studies.room",
    "room_onsets.json": "python -m bench.studies.room_onsets",
    "room_reference.json": "python -m bench.studies.room_reference",
    "dense_gate.json": "python -m bench.studies.dense_gate",
    "engine_ab_sorts.json": "python -m bench.studies.engine_ab --base 3b9362d --rounds 5 "
    "--out bench/results/engine_ab_sorts.json",
    "engine_ab_sort_groups.json": "python -m bench.studies.engine_ab --base a9ccafc --rounds 4 "
    "--out bench/results/engine_ab_sort_groups.json",
    "studies/sort_runs.json": "python -m bench.studies.sort_runs --repeats 400",
    "upload_progress.json": "python -m bench.studies.upload_progress",
    "voice.json": "python -m bench.studies.voice",
    "catalog_search.json": "python -m bench.studies.catalog_search --keep",
}


class ReportError(Exception):
    """A results file is missing or unreadable, or a markdown file holds a block that cannot be filled."""


@dataclass
class Results:
    """The results files of one folder, each read once."""

    folder: Path = RESULTS
    _texts: dict[str, str] = field(default_factory=dict)

    def exists(self, name: str) -> bool:
        return (self.folder / name).exists()

    def text(self, name: str) -> str:
        """Return the file's text, or raise ReportError naming the command that writes it."""
        if name not in self._texts:
            try:
                self._texts[name] = (self.folder / name).read_text()
            except FileNotFoundError:
                writer = WRITERS.get(name, "its benchmark")
                raise ReportError(f"{RESULTS_SHOWN_AS}/{name} is missing: `{writer}` writes it") from None
        return self._texts[name]

    def json(self, name: str) -> Any:
        """Return the file's JSON, or raise ReportError."""
        try:
            return json.loads(self.text(name))
        except json.JSONDecodeError as error:
            raise ReportError(f"{RESULTS_SHOWN_AS}/{name} is not JSON: {error}") from None


@dataclass
class Page:
    """A markdown file being generated: where it lies (links are relative to it) and what it quotes."""

    path: Path
    results: Results
    root: Path = ROOT

    def link(self, target: Path) -> str:
        """Return a link target from this page to `target`."""
        return Path(os.path.relpath(target, self.path.parent)).as_posix()

    def result_link(self, name: str) -> str:
        return f"[`{RESULTS_SHOWN_AS}/{name}`]({self.link(self.results.folder / name)})"

    def source(self, name: str, when: str, how: str = "", note: str = "") -> str:
        """Return the line under a table that names the file and the run it comes from."""
        return f"_From {self.result_link(name)}{f' (`{how}`)' if how else ''}, {when}{note}._"


def num(value: float | None, digits: int = 1) -> str:
    """Return `value` with thousands separated and `digits` decimals; a dash for no value."""
    return "—" if value is None else f"{value:,.{digits}f}"


def share(value: float | None) -> str:
    """Return a percentage without its sign, "96" or "99.5"."""
    return num(value).removesuffix(".0")


def percent(value: float | None) -> str:
    """Return a percentage, "96 %" or "99.5 %"."""
    return "—" if value is None else f"{share(value)} %"


def pair(first: float | None, second: float | None, unit: str, digits: int = 1) -> str:
    """Return "p50 / p95 unit"."""
    return f"{num(first, digits)} / {num(second, digits)} {unit}"


def run_of(data: dict) -> str:
    """Return "run of <when>" from a results file's own date."""
    return f"run of {data['when']}" if data.get("when") else "run date not recorded"


def measured(points: list[dict]) -> str:
    """Return the days a set of points were measured on."""
    days = sorted({str(point["when"])[:10] for point in points if point.get("when")})
    if not days:
        return "run date not recorded"
    return f"measured {days[0]}" if len(days) == 1 else f"measured {days[0]} to {days[-1]}"


def table(header: list[str], rows: list[list[str]], text_columns: int = 1) -> list[str]:
    """Return a markdown table's lines: the first `text_columns` left-aligned, the figures after them right."""
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * text_columns + "---:|" * (len(header) - text_columns),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
