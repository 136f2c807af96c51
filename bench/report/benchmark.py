"""The tables of one `make bench` run (bench/results/results.json): accuracy, the summary, notes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import queries as query_set


def accuracy_table(scored: dict, per_cell: int, name: str, level: str = "##") -> list[str]:
    """Top-1 accuracy per condition and query length, under a heading of `level`."""
    lengths = [f"{x:g}" for x in query_set.LENGTHS_S]
    lines = [f"{level} Top-1 accuracy, {name} (% of {per_cell} queries per cell)", ""]
    lines.append("| condition | " + " | ".join(f"{x} s" for x in lengths) + " |")
    lines.append("|---|" + "---:|" * len(lengths))
    for condition in query_set.CONDITIONS:
        row = scored["accuracy"].get(condition, {})
        lines.append(f"| {condition} | " + " | ".join(f"{row.get(x, float('nan')):.1f}" for x in lengths) + " |")
    return [*lines, ""]


def summary_table(e: dict, d: dict | None, names: tuple[str, str] = ("Earshot", "Dejavu")) -> list[str]:
    """Every measure but accuracy, `e` beside `d` (Earshot and Dejavu by default) and their ratio."""
    first, second = names
    lines = [f"| measure | {first} | {second} | {first} / {second} |", "|---|---:|---:|---:|"]

    def row(label: str, key: Callable[[dict], Any], fmt: str = "{:.1f}") -> None:
        ev = key(e)
        dv = key(d) if d else None
        ratio = f"{ev / dv:.2f}" if dv not in (None, 0) and ev is not None else ""
        dvs = fmt.format(dv) if dv is not None else "—"
        lines.append(f"| {label} | {fmt.format(ev)} | {dvs} | {ratio} |")

    row("false matches, never-indexed tracks (%)", lambda s: s["false_matches"]["held_out"]["percent"], "{:.2f}")
    row("false matches, never-seen package (%)", lambda s: s["false_matches"]["foreign"]["percent"], "{:.2f}")
    row("offset error p50 (s)", lambda s: s["offset_error_s"]["p50"], "{:.3f}")
    row("offset error p95 (s)", lambda s: s["offset_error_s"]["p95"], "{:.3f}")
    row("ingest, x real time (one process, wall clock)", lambda s: s["ingest_x_realtime"], "{:.0f}")
    if e.get("ingest_x_realtime_per_core"):
        parts = " + ".join(e["ingest_cpu_s"])
        row(f"ingest, x real time per core (CPU of {parts})", lambda s: s.get("ingest_x_realtime_per_core"), "{:.0f}")
    if e.get("decode_x_realtime"):
        row("ffmpeg alone decoding the same files, x real time", lambda s: s.get("decode_x_realtime"), "{:.0f}")
    if e.get("decode_x_realtime_per_core"):
        row("ffmpeg alone, x real time per core", lambda s: s.get("decode_x_realtime_per_core"), "{:.0f}")
    for length in ("1", "5", "10"):
        row(
            f"query latency p50, {length} s clip, engine + DB (ms)",
            lambda s, x=length: s["latency_ms"][x]["engine_p50"],
        )
        row(
            f"query latency p95, {length} s clip, engine + DB (ms)",
            lambda s, x=length: s["latency_ms"][x]["engine_p95"],
        )
    row("query latency p50, 5 s clip, from file incl. ffmpeg (ms)", lambda s: s["latency_ms"]["5"]["total_p50"])
    row("hashes per second of audio", lambda s: s["hashes_per_audio_s"], "{:.1f}")
    row("storage per audio hour, table + indexes (MB)", lambda s: s["bytes_per_audio_hour"] / 1e6, "{:.2f}")
    return lines


def comparison_notes(report: dict) -> list[str]:
    """What the tables cannot say: Dejavu under a vote threshold, and answers naming another file."""
    e, d = report["earshot"], report.get("dejavu")
    lines = []
    if report.get("dejavu_thresholded"):
        t = report["dejavu_thresholded"]
        lines += [
            "",
            f"Dejavu has no rejection threshold: it names a song whenever one hash matches. With its alignment "
            f"vote required to reach {t['threshold']} (the smallest threshold that brings its false matches on "
            f"never-indexed tracks to Earshot's level or below), its 5 s accuracy is: "
            + ", ".join(
                f"{c} {t['scored']['accuracy'][c]['5']:.1f} %" for c in ("clean", "white0", "white-5", "mp3-64k")
            )
            + f"; false matches {t['scored']['false_matches']['held_out']['percent']:.2f} % / "
            f"{t['scored']['false_matches']['foreign']['percent']:.2f} %.",
        ]
    moved = {name: scored["answers_naming_another_file"] for name, scored in (("Earshot", e), ("Dejavu", d)) if scored}
    lines += [
        "",
        "An answer naming another file than the clip's source counts as right when that file holds the "
        "same recording at the answered offset (bench/versions.py: the catalog ships remasters beside "
        "their originals). Answers naming another file, counted right / wrong: "
        + "; ".join(f"{name} {v['right']} / {v['wrong']}" for name, v in moved.items())
        + ".",
    ]
    return lines


def results_markdown(report: dict) -> str:
    """bench/results/results.md: every table of one `make bench` run."""
    lines = [f"# Benchmark results ({report['when']})", "", report["setup"], ""]
    for name, scored in (("Earshot", report["earshot"]), ("Dejavu", report.get("dejavu"))):
        if scored is not None:
            lines += accuracy_table(scored, report["per_cell"], name)
    lines += ["## Summary", "", *summary_table(report["earshot"], report.get("dejavu"))]
    lines += comparison_notes(report)
    lines += ["", "![accuracy vs SNR](accuracy_vs_snr.png)", ""]
    return "\n".join(lines)
