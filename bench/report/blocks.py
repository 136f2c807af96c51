"""The named blocks: each renders one benchmark's latest results as markdown for a given page."""

from __future__ import annotations

import re

from bench.report.render import Page, ReportError, measured, num, pair, percent, run_of, share, table


def _accuracy(scored: dict, condition: str, length: str) -> str:
    return percent(scored["accuracy"][condition][length])


def _unknown_matched(scored: dict) -> str:
    """Unknown clips (never indexed and never seen) named as a catalog track, as "n of N"."""
    kinds = scored["false_matches"].values()
    return f"{sum(k['matched'] for k in kinds):,} of {sum(k['queries'] for k in kinds):,}"


def earshot_alone(page: Page, report: dict) -> dict | None:
    """The Earshot-only run (results_earshot.json) when it is newer than `report`'s run, else None."""
    if not page.results.exists("results_earshot.json"):
        return None
    alone = page.results.json("results_earshot.json")
    return alone if alone["when"] > report["when"] else None


def columns(page: Page, report: dict) -> list[tuple[str, dict]]:
    """(heading, scored) of each engine of `report`, then of a newer Earshot-only run."""
    found = [("Earshot", report["earshot"])]
    if report.get("dejavu"):
        found.append(("Dejavu", report["dejavu"]))
    alone = earshot_alone(page, report)
    if alone:
        found.append((f"Earshot alone, {alone['when']}", alone["earshot"]))
    return found


def sources(page: Page, report: dict) -> str:
    """The line naming the runs a table of `columns` comes from."""
    engines = "Earshot and Dejavu one after the other on one machine" if report.get("dejavu") else "Earshot"
    line = f"_From {page.result_link('results.json')} (`make bench`), {run_of(report)}: {engines}"
    alone = earshot_alone(page, report)
    if alone:
        line += (
            f"; from {page.result_link('results_earshot.json')} (`python -m bench.run --only earshot`), "
            f"{run_of(alone)}: Earshot alone on another machine, whose speeds compare with Earshot's, not Dejavu's"
        )
    return line + "._"


def headline(page: Page) -> str:
    """One compact table: the headline cells, Earshot beside Dejavu."""
    report = page.results.json("results.json")
    found = columns(page, report)

    def latency(scored: dict, kind: str, name: str) -> str:
        if kind == "engine" and name == "Dejavu":
            return "—"  # Dejavu is timed from the file only
        times = scored["latency_ms"]["5"]
        return pair(times[f"{kind}_p50"], times[f"{kind}_p95"], "ms")

    def ingest(scored: dict) -> str:
        per_core = scored.get("ingest_x_realtime_per_core")
        return f"{num(scored['ingest_x_realtime'], 0)}×" + (f" ({num(per_core, 0)}× per core)" if per_core else "")

    rows = [
        ("5 s clean", lambda s, _: _accuracy(s, "clean", "5")),
        ("5 s, white noise 0 dB SNR", lambda s, _: _accuracy(s, "white0", "5")),
        ("5 s, white noise −5 dB SNR", lambda s, _: _accuracy(s, "white-5", "5")),
        ("5 s, MP3 64 kbps", lambda s, _: _accuracy(s, "mp3-64k", "5")),
        ("5 s, room (RT60 0.4 s)", lambda s, _: _accuracy(s, "room", "5")),
        (
            "5 s, speed +2 % / −2 %",
            lambda s, _: f"{share(s['accuracy']['speed+2']['5'])} / {percent(s['accuracy']['speed-2']['5'])}",
        ),
        ("1 s clean", lambda s, _: _accuracy(s, "clean", "1")),
        ("unknown clips named as a track (false matches)", lambda s, _: _unknown_matched(s)),
        ("5 s query p50 / p95, engine + database", lambda s, name: latency(s, "engine", name)),
        ("5 s query p50 / p95 from the file, decoding included", lambda s, name: latency(s, "total", name)),
        ("ingest, × real time", lambda s, _: ingest(s)),
        # Runs on different machines compare through this row: the same decoder on the same files.
        ("ffmpeg alone on the same files, × real time", lambda s, _: _times(s.get("decode_x_realtime"))),
        ("storage per audio hour", lambda s, _: f"{num(s['bytes_per_audio_hour'] / 1e6, 2)} MB"),
    ]
    lines = table(
        ["", *(name for name, _ in found)],
        [[label, *(cell(scored, name) for name, scored in found)] for label, cell in rows],
    )
    benchmarks = page.link(page.root / "docs" / "benchmarks.md")
    lines += [
        "",
        sources(page, report)
        + (" Dejavu is timed from the file only, its decoding included." if report.get("dejavu") else ""),
        "",
        f"Every length, condition and measure, and how each is taken: [docs/benchmarks.md]({benchmarks}).",
    ]
    return "\n".join(lines)


def growth(page: Page) -> str:
    """Latency and answers at each catalog size (growth.json), with its plot."""
    points = page.results.json("growth.json")
    rows = [
        [
            f"{point['rows']:,}",
            num(point.get("triplet_rows"), 0),
            f"{num(point['bytes'] / 1e9, 2)} GB" if point.get("bytes") else "—",
            pair(point["p50_ms"], point["p95_ms"], "ms"),
            percent(point["accuracy_pct"]),
            str(point.get("wrong", 0)),
            point["unknown_false_matches"],
            f"{num(point['delete_1m_hashes_s'], 2)} s" if "delete_1m_hashes_s" in point else "—",
        ]
        for point in points
    ]
    header = [
        "hashes stored",
        "triplet rows",
        "hash tables + indexes",
        "5 s query p50 / p95",
        "catalog clips right",
        "wrong",
        "never-seen clips matched",
        "deleting a 10⁶-hash track",
    ]
    return "\n".join([
        *table(header, rows),
        "",
        "The first row is the benchmark's own catalog; each next one adds synthetic tracks whose hashes are "
        "drawn from the real ones.",
        "",
        page.source("growth.json", measured(points), "make growth")
        + f" Plot: [growth.png]({page.link(page.results.folder / 'growth.png')}).",
    ])  # fmt: skip


def _part_date(data: dict, part: str) -> str:
    when = data.get("measured", {}).get(part) or data.get("when")
    return f"run of {when}" if when else "run date not recorded"


def live(page: Page) -> str:
    """Time to answer over a websocket, concurrent sockets and concurrent API clients (live.json)."""
    data = page.results.json("live.json")
    lines = ["Time to answer: 15 s excerpts streamed in real time, 250 ms frames, as the record page sends them.", ""]
    answers = data["time_to_answer"]
    lines += table(
        ["excerpts", "sessions", "right", "wrong", "no match", "errors", "audio heard p50 / p95", "delay p50 / p95"],
        [
            [
                "clean" if label == "clean" else f"white noise {label.removeprefix('white')} dB",
                str(r["sessions"]),
                str(r["matched_right"]),
                str(r["matched_wrong"]),
                str(r["no_match"]),
                str(r["errors"]),
                pair(r["heard_s_p50"], r["heard_s_p95"], "s", 2),
                pair(r["delay_s_p50"], r["delay_s_p95"], "s", 2),
            ]
            for label, r in answers.items()
        ],
    )
    lines += ["", page.source("live.json", _part_date(data, "time_to_answer"), "python -m bench.live answer"), ""]
    lines += ["Sockets at once, each streaming a clean excerpt; delay is from the last frame needed to the answer.", ""]
    lines += table(
        ["sockets at once", "runs", "right", "wrong", "errors", "delay p95 (median of runs)"],
        [
            [
                sessions,
                str(len(load["runs"])),
                f"{sum(r['matched_right'] for r in load['runs'])} of {sum(r['sessions'] for r in load['runs'])}",
                str(load["wrong_matches"]),
                str(load["errors"]),
                f"{num(load['delay_s_p95_median_of_runs'], 2)} s",
            ]
            for sessions, load in data["websocket_load"].items()
        ],
    )
    lines += ["", page.source("live.json", _part_date(data, "websocket_load"), "python -m bench.live ws-load"), ""]
    lines += ["Partner API clients posting 10 s clips back to back (503: shed by the load shedder, by design).", ""]
    lines += table(
        ["clients", "requests", "per second", "per core", "p50 / p95", "statuses", "right matches"],
        [
            [
                clients,
                f"{load['requests']:,}",
                num(load["per_second"], 2),
                num(load["per_second_per_core"], 2),
                pair(load["p50_s"], load["p95_s"], "s", 3),
                ", ".join(f"{status}: {n:,}" for status, n in load["statuses"].items()),
                f"{load['right_matches']:,}",
            ]
            for clients, load in data["api_load"].items()
        ],
    )
    lines += ["", page.source("live.json", _part_date(data, "api_load"), "python -m bench.live api-load")]
    return "\n".join(lines)


FAULTS = {
    "kill": "SIGKILL the ingest process",
    "terminate": "terminate its database backend",
    "stop": "stop PostgreSQL immediately",
}


def faults(page: Page) -> str:
    """Ingest under faults (faults.json): trials, partial tracks, recovery; the control run."""
    data = page.results.json("faults.json")
    rows = [
        [
            FAULTS.get(kind, kind),
            str(f["trials"]),
            str(f["trials_interrupted_mid_ingest"]),
            str(f["trials_with_partial_tracks"]),
            f"{num(f['recovery_s_max'], 2)} s" if "recovery_s_max" in f else "—",
        ]
        for kind, f in data["faults"].items()
    ]
    control = data["control"]
    rows.append([
        "control: a non-atomic ingest, killed",
        str(control["trials"]),
        "—",
        f"{control['trials_caught_partial']} (the check can fail)",
        "—",
    ])  # fmt: skip
    lines = table(["fault, at a random moment", "trials", "mid-ingest", "partial tracks left", "recovery (max)"], rows)
    lines += [
        "",
        f"Trials go on until {data['trials_per_fault']} of each fault land mid-ingest "
        f"(an ingest lasts ~{num(data.get('ingest_span_s'), 2)} s).",
        "",
        page.source("faults.json", run_of(data), "make faults"),
    ]
    return "\n".join(lines)


def abuse(page: Page) -> str:
    """Availability while hostile files, body floods and socket abuse run (abuse.json)."""
    data = page.results.json("abuse.json")
    before, after = data["server_rss_mb_before_after"]
    rows = [
        ["abuse", f"{num(data['seconds'], 0)} s of {', '.join(data['abusers'])} at once"],
        ["canary recognitions right", f"{percent(data['canary_success_pct'])} of {data['canary_runs']}"],
        ["/healthz answered 2xx", percent(data["healthz_2xx_pct"])],
        ["server errors (5xx other than shedding)", str(data["server_5xx"])],
        ["server memory (RSS) before → after", f"{before} → {after} MB"],
    ]
    outcomes = ", ".join(f"{outcome} × {n:,}" for outcome, n in data["abuse_outcomes"].items())
    return "\n".join([
        *table(["measure", "result"], rows, text_columns=2),
        "",
        f"What the abusers got: {outcomes}.",
        "",
        page.source("abuse.json", run_of(data), "make abuse"),
    ])  # fmt: skip


STAGE_ROW = re.compile(r"^(?P<stage>\S.*?)\s+(?P<wall>[\d.]+)\s+(?P<cpu>[\d.]+)\s+(?P<x>\d+)\s+(?P<core>\d+)$")


def ingest_stages(text: str) -> tuple[str, str, list[list[str]], str]:
    """(run date, what was measured, stage rows, the closing lines) of ingest_cost.txt's first run."""
    block = text.strip().split("\n\n", 1)[0].splitlines()
    when = re.search(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2})", block[0])
    rows = [list(m.groupdict().values()) for line in block if (m := STAGE_ROW.match(line))]
    if not when or len(block) < 3 or not rows:
        raise ReportError("bench/results/ingest_cost.txt: no dated stage table at its top")
    last = max(i for i, line in enumerate(block) if STAGE_ROW.match(line))
    closing = " ".join(line.strip() for line in block[last + 1 :])
    if closing and not closing.endswith((".", ":", ")")):
        closing += "."
    return when.group(1), block[1], rows, closing


def ingest(page: Page) -> str:
    """Ingest speed against ffmpeg's (results.json) and where its CPU goes (ingest_cost.txt)."""
    report = page.results.json("results.json")
    found = columns(page, report)

    def share(s: dict) -> str:
        if not (s.get("ingest_x_realtime_per_core") and s.get("decode_x_realtime_per_core")):
            return "—"
        return num(s["ingest_x_realtime_per_core"] / s["decode_x_realtime_per_core"], 2)

    parts = " + ".join(report["earshot"].get("ingest_cpu_s") or {}) or "the process"
    rows = [
        ("ingest, × real time, one process (wall clock)", lambda s: f"{num(s['ingest_x_realtime'], 0)}×"),
        (f"ingest, × real time per core (CPU of {parts})", lambda s: _times(s.get("ingest_x_realtime_per_core"))),
        ("ffmpeg alone on the same files, × real time per core", lambda s: _times(s.get("decode_x_realtime_per_core"))),
        ("ingest per core / ffmpeg alone per core", share),
    ]  # fmt: skip
    lines = table(["", *(name for name, _ in found)], [[label, *(f(s) for _, s in found)] for label, f in rows])
    lines += ["", sources(page, report), ""]
    when, what, stages, closing = ingest_stages(page.results.text("ingest_cost.txt"))
    lines += [f"Where ingest's CPU goes, stage by stage: {what}.", ""]
    lines += table(["stage", "wall s", "CPU s", "× real time", "× real time per core"], stages)
    lines += ["", closing, ""] if closing else [""]
    lines.append(page.source("ingest_cost.txt", f"run of {when}", "python -m bench.studies.ingest_cost"))
    return "\n".join(lines)


def _times(value: float | None) -> str:
    return "—" if value is None else f"{num(value, 0)}×"


BLOCKS = {
    "headline": headline,
    "growth": growth,
    "live": live,
    "faults": faults,
    "abuse": abuse,
    "ingest": ingest,
}
