"""The named blocks: each renders one benchmark's latest results as markdown for a given page."""

from __future__ import annotations

import re

from bench.queries import ROBUST_CONDITIONS
from bench.report.render import Page, ReportError, measured, num, pair, percent, run_of, share, table
from portal.formatting import clock


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
    anonymous = data.get("anonymous_large_posts") or {}
    if anonymous.get("count"):  # runs since the anonymous large-body flood was added
        rows.append([
            "anonymous 150 MB posts: answered, p95 time, most body sent",
            f"{anonymous['count']:,}, {num(anonymous['p95_s'], 3)} s, {num(anonymous['max_sent_mb'], 1)} MB",
        ])  # fmt: skip
    if data.get("webhook_notices_sent"):  # runs since the webhook tarpit was added
        worker = data.get("webhook_worker_rss_mb_before_after") or ["?", "?"]
        rows.append([
            "webhook tarpit: notices to the honest receiver delivered, p95 wait; webhook worker memory",
            f"{data['webhook_honest_received']} of {data['webhook_notices_sent']}, "
            f"{num(data['webhook_honest_wait_p95_s'], 1)} s; {worker[0]} → {worker[1]} MB",
        ])  # fmt: skip
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


def _secs(spread: dict, digits: int = 1) -> str:
    return pair(spread.get("p50"), spread.get("p95"), "s", digits)


def _signed(spread: dict) -> str:
    if not spread.get("n"):
        return "—"
    return (
        f"median {num(spread['median_signed'], 2)} s; absolute p50 / p95 {num(spread['p50'], 1)} / "
        f"{num(spread['p95'], 1)} s; {share(spread['within_1s'])} % within ±1 s"
    )


def _minutes(seconds: float) -> str:
    if seconds >= 3600:
        return f"{num(seconds / 3600, 2)} h"
    return f"{num(seconds / 60, 0)} min" if seconds >= 120 else f"{num(seconds, 0)} s"


def _capacity_table(steps: list[dict]) -> list[str]:
    header = ["streams", "MP3 / HLS", "plays", "missed", "delay p50 / p95", "CPU s per stream-hour", "machine busy"]
    rows = []
    for step in sorted(steps, key=lambda s: s["streams"]):
        cpu = step["cpu_s_per_stream_h"]
        rows.append([
            str(step["streams"]),
            f"{step['streams_by_kind'].get('mp3', 0)} / {step['streams_by_kind'].get('hls', 0)}",
            str(step["plays"]),
            str(step["missed"]),
            _secs(step["latency_s"]),
            num((cpu["workers"] or 0) + (cpu["database"] or 0), 0),
            f"{num(step['machine_busy_cores'], 2)} cores",
            "yes" if step["holds"] else "no",
        ])  # fmt: skip
    return table([*header, "holds"], rows)


def _per_stream(spreads: dict, render) -> str:
    return "; ".join(f"{kind.upper()} {render(spread)}" for kind, spread in spreads.items())


def _signed_short(spread: dict) -> str:
    if not spread.get("n"):
        return "—"
    return f"median {num(spread['median_signed'], 1)} s, {share(spread['within_1s'])} % within ±1 s"


def _false_note(phase: dict) -> list[str]:
    """What each false detection named, and how close what played came to it (bench/versions.py)."""
    pairs: dict[tuple[str, str, str], list[dict]] = {}
    for false in phase["false"]:
        pairs.setdefault((false["detected"], false["during"], false["playing"]), []).append(false)
    if not pairs:
        return []
    kinds = {"unknown": "never-indexed music", "catalog": "another catalog song", "speech": "speech"}
    said = [
        f"`{detected.rsplit('/', 1)[-1]}` named {len(found)}× while {kinds.get(during, during)}"
        + (f" (`{playing.rsplit('/', 1)[-1]}`, spectrogram similarity "
           f"{num(max(f.get('similarity', -1) for f in found), 2)})" if playing else "")
        + " played"
        for (detected, during, playing), found in pairs.items()
    ]  # fmt: skip
    return [
        "False detections: " + "; ".join(said) + ". A same-recording similarity is ≥ 0.45 and chance stays "
        "under 0.31 (bench/versions.py).",
        "",
    ]


def _shared_note(phase: dict) -> list[str]:
    """Each row set apart as shared material, with where the two files hold the same audio."""
    shared = phase.get("shared") or []
    if not shared:
        return []
    kinds = {"unknown": "never-indexed", "catalog": "catalog"}
    said = [
        f"`{row['detected'].rsplit('/', 1)[-1]}` while {kinds.get(row['during'], row['during'])} "
        f"`{row['playing'].rsplit('/', 1)[-1]}` played (its {clock(row['evidence']['playing_s'])} holds "
        f"the named track's {clock(row['evidence']['detected_s'])} for two windows in a row, "
        f"log₁₀ p {num(row['evidence']['log10_p'], 1)})"
        for row in shared
    ]
    return ["Shared material: " + "; ".join(said) + ".", ""]


def _others(steps: list[dict]) -> str:
    """The busiest processes outside the run during its largest step (the machine is shared)."""
    largest = max(steps, key=lambda s: s["streams"])
    found = [p for p in largest.get("other_processes") or [] if p["command"]]  # kernel threads have none
    if not found:
        return "nothing else used a second of CPU"
    return "; ".join(f"`{p['command'][:60]}` {num(p['cpu_s'], 0)} s" for p in found[:3])


def monitor(page: Page) -> str:
    """Monitors on live stations (monitor.json): delay, accuracy, CPU, and how many streams two cores hold."""
    data = page.results.json("monitor.json")
    a = data["accuracy"]
    goals, catalog = data["goals"], data["catalog"]
    exposure, everything = a["exposure_s"], data["all_phases"]
    cpu = a["cpu_s_per_stream_h"]
    total_cpu = (cpu["workers"] or 0) + (cpu["database"] or 0)
    kinds = ", ".join(f"{n} {kind.upper()}" for kind, n in a["streams_by_kind"].items())
    delay_goal = f"≤ {num(goals['latency_p50_s'], 0)} / ≤ {num(goals['latency_p95_s'], 0)} s"
    rows = [
        ["catalog plays of 20–40 s heard whole; missed", f"{a['plays']}; {a['missed']} missed", "≥ 50; 0"],
        ["song start → detection visible, p50 / p95", _secs(a["latency_s"]), delay_goal],
        ["… by stream (HLS: from the segment's publication)", _per_stream(a["latency_s_by_stream"], _secs), ""],
        ["start error (`started_at` − the song's airtime)", _signed(a["start_error_s"]), "±1 s"],
        ["… by stream", _per_stream(a["start_error_s_by_stream"], _signed_short), ""],
        ["… of which the worker's stream clock (`started_at` − airtime of the audio at `offset_start_s`)",
         _per_stream(a["clock_error_s_by_stream"], _signed_short), ""],
        ["… and where the row puts the song's start in the track (`offset_start_s` − true)",
         _signed(a["offset_start_error_s"]), ""],
        ["end error (`ended_at` − the song's last airtime)", _signed(a["end_error_s"]), "±1 s"],
        ["plays logged as two rows or more; rows naming another indexed version too",
         f"{a['split_plays']}; {a['version_rows']}", "0"],
        ["false detections",
         f"{a['false_detections']} over {_minutes(exposure['unknown'])} of never-indexed music, "
         f"{_minutes(exposure['speech'])} of speech, {_minutes(exposure['silence'])} of silence; "
         f"{everything['false_detections']} over {_minutes(everything['exposure_s']['unknown'])} in every phase",
         "0 over ≥ 1 h"],
        *([["… rows naming audio the file on air holds too (a loop, a remaster; bench/monitor/shared.py)",
             str(a["shared_material"]), ""]] if "shared_material" in a else []),
        ["CPU per monitored stream-hour",
         f"{num(total_cpu, 0)} s: workers with their ffmpeg {num(cpu['workers'], 0)} s, PostgreSQL "
         f"{num(cpu['database'], 0)} s ({num(total_cpu / 36, 1)} % of a core per stream)", ""],
        ["most concurrent streams held (p95 ≤ 6 s, ≤ 5 % missed)", str(data.get("most_streams_held", "—")),
         f"≥ {goals['streams']}"],
    ]  # fmt: skip
    lines = [
        f"{a['streams']} streams ({kinds}) for {num(a['seconds'] / 60, 1)} min ({num(a['stream_h'], 2)} "
        f"stream-hours), two `monitor_worker` processes. Each monitor's `GET /api/v1/monitors/<id>/detections` "
        f"was polled every {num(a['api']['poll_period_s'], 1)} s and showed every row at the first poll after "
        f"it was written ({a['api']['detections_never_seen_in_api']} never shown), so delays run to the row's "
        f"commit. The machine was busy {num(a['machine_busy_cores'], 2)} cores of 2 on average (the run's own "
        "processes included).",
        "",
        *table(["measure", "result", "goal"], rows, text_columns=3),
        "",
        *_false_note(a),
        *_shared_note(a),
        page.source("monitor.json", _part_date(data, "accuracy"), "make bench-monitor"),
        "",
    ]
    steps = data.get("steps") or []
    if steps:
        lines += [
            "Capacity: more streams at once, each step with monitors of its own, up to the goal's 50 and past "
            "it while a step holds: its p95 delay within 6 s and at most 5 % of its plays missed.",
            "",
            *_capacity_table(steps),
            "",
            f"What else ran during the largest step: {_others(steps)}.",
            "",
            page.source("monitor.json", _part_date(data, "capacity"), "python -m bench.monitor --only capacity"),
            "",
        ]
    lines.append(
        f"Catalog: {catalog['indexed_tracks']} tracks ({num(catalog['indexed_h'], 2)} h) indexed; never indexed: "
        f"{catalog['never_indexed_files']} files ({num(catalog['never_indexed_h'], 2)} h)"
        + _held_note(catalog.get("holding_catalog_audio"))
        + f". Speech: {data['speech']}. "
        f"PostgreSQL's CPU: {data['database_cpu']}. {data['machine']}."
        + (f" Workers' extra environment: {', '.join(data['worker_env'])}." if data.get("worker_env") else "")
    )
    return "\n".join(lines)


def _held_note(held: list[dict] | None) -> str:
    """The never-indexed files left out because they hold catalog audio (bench/monitor/shared.py)."""
    if not held:
        return ""
    said = [
        f"`{h['path'].rsplit('/', 1)[-1]}` holds `{h['track'].rsplit('/', 1)[-1]}` at {clock(h['playing_s'])}"
        for h in held
    ]
    return (
        f", of which {len(held)} hold an indexed track's audio and are not played as never-indexed music ("
        + "; ".join(said)
        + ")"
    )


def _fault_verdict(data: dict) -> str:
    """ "met", or which of G23's goals the run missed."""
    missed = []
    kills = data.get("kill") or []
    if any(k["not_resumed"] or max(k["resumed_s"]) > 30 for k in kills):
        missed.append("a takeover took over 30 s")
    if any(n != 1 for k in kills for n in k["rows_per_struck_play"]):
        missed.append("plays struck by the kill got more than one row")
    stations = data.get("station_restart") or []
    if any(t["not_reconnected"] for t in stations):
        missed.append("a monitor did not reconnect")
    if any(n > 2 for t in stations for n in t["rows_per_struck_play"]):
        missed.append("plays struck by the station restart got more than two rows")
    restarts = data.get("postgres_restart") or []
    if any(t["workers_alive"] < t["workers"] or t["monitors_detecting_again"] < data["stations"] for t in restarts):
        missed.append("a worker died or stopped detecting after PostgreSQL restarted")
    if not restarts:
        missed.append("PostgreSQL was not restarted")
    return "met" if not missed else "not met: " + "; ".join(missed)


def monitor_faults(page: Page) -> str:
    """Monitors under faults (monitor_faults.json): worker killed, station and PostgreSQL restarted."""
    data = page.results.json("monitor_faults.json")

    def rows_per_play(trials: list[dict]) -> str:
        counts = [n for t in trials for n in t["rows_per_struck_play"]]
        return f"{sum(n == 1 for n in counts)} of {len(counts)} plays struck kept one row" + (
            f" (rows: {', '.join(str(n) for n in counts)})" if any(n != 1 for n in counts) else ""
        )

    rows = []
    kills = data.get("kill") or []
    if kills:
        resumed = [s for k in kills for s in k["resumed_s"]]
        rows.append([
            "SIGKILL the worker mid-play, a second one standing by",
            str(len(kills)),
            f"taken over in {num(max(resumed), 1)} s at most ({sum(k['not_resumed'] for k in kills)} not taken); "
            + rows_per_play(kills),
            "≤ 30 s, one row per play",
        ])  # fmt: skip
    stations = data.get("station_restart") or []
    if stations:
        back = [s for t in stations for s in t["running_again_s_after_restart"]]
        states = sorted({s for t in stations for s in t["states_seen"]})
        rows.append([
            f"stream server stopped for {num(stations[0]['down_s'], 0)} s mid-play, then started",
            str(len(stations)),
            f"running again {num(max(back), 1) if back else '—'} s after the restart at most "
            f"({sum(t['not_reconnected'] for t in stations)} not); states seen: {', '.join(states)}; "
            + rows_per_play(stations),
            "reconnects; the play continues or reopens once",
        ])  # fmt: skip
    restarts = data.get("postgres_restart")
    if restarts:
        heard = [s for t in restarts for s in t["heard_again_s"]]
        moved = [s for t in restarts for s in t["detecting_again_s"]]
        rows.append([
            "PostgreSQL restarted mid-play",
            str(len(restarts)),
            f"{sum(t['workers_alive'] for t in restarts)} of {sum(t['workers'] for t in restarts)} workers alive; "
            f"listening again {num(max(heard), 1) if heard else '—'} s after at most; log moving again on "
            f"{sum(t['monitors_detecting_again'] for t in restarts)} of {data['stations'] * len(restarts)} monitors "
            f"(within {num(max(moved), 1) if moved else '—'} s); " + rows_per_play(restarts),
            "workers survive and keep detecting",
        ])  # fmt: skip
    else:
        rows.append(["PostgreSQL restarted mid-play", "0", "not run (needs a scratch cluster)", ""])
    whole = data.get("whole_run", {})
    return "\n".join([
        *table(["fault", "trials", "result", "goal"], rows, text_columns=4),
        "",
        f"{data['stations']} MP3 stations playing 60–80 s catalog excerpts; over the whole run "
        f"{whole.get('detected', 0)} of {whole.get('plays', 0)} plays detected, {whole.get('split_plays', 0)} split, "
        f"{whole.get('false_detections', 0)} false detections. G23: {_fault_verdict(data)}.",
        "",
        page.source("monitor_faults.json", run_of(data), "make faults-monitor"),
    ])  # fmt: skip


def reports(page: Page) -> str:
    """A month's report at 10^6 detections and 10^6 plays (reports.json): time per case, plan."""
    data = page.results.json("reports.json")
    rows = []
    for name in ("holder", "track", "staff", "staff_summary", "holder_page"):
        case = data["cases"].get(name)
        if case is None:
            continue
        reads = case.get("reads", {})
        size = f"{case['plays']:,} plays in {case['rows']:,} rows" if "plays" in case else "statement and templates"
        rows.append([
            case["about"], size, reads.get("detections", "—"), reads.get("plays", "—"),
            f"{num(case['median_ms'], 0)} ms", f"{num(case['min_ms'], 0)}–{num(case['max_ms'], 0)} ms",
        ])  # fmt: skip
    for case in data.get("pages", {}).get("cases", {}).values():
        after = case["after"]
        size = f"{after['bytes'] / 1e6:,.1f} MB" + (", streamed" if after["streamed"] else "")
        rows.append([
            case["about"].split(" (")[0], size, "—", "—",
            f"{num(after['median_ms'], 0)} ms", f"{num(after['min_ms'], 0)}–{num(after['max_ms'], 0)} ms",
        ])  # fmt: skip
    load = data.get("load_average")
    runs = data["cases"]["holder"]["runs"]
    return "\n".join([
        f"{data['detections']:,} detections ({data['monitors']} monitors) and {data['plays']:,} plays of "
        f"{data['tracks']:,} tracks owned by {data['holders']} rights holders, all within the month reported "
        f"({data['month']['from']} to {data['month']['to']}); 1 % of detections disputed.",
        "",
        *table(
            ["report of the month", "size", "detections read by", "plays read by", f"median of {runs}", "range"],
            rows,
            text_columns=4,
        ),
        "",
        page.source(
            "reports.json",
            run_of(data),
            "make bench-reports",
            f": {data['machine']}" + (f", load average {num(load, 1)} during the run" if load is not None else ""),
        ),
    ])  # fmt: skip


PAGE_VIEWS = ("holder_page", "staff_page")  # the pages bench.reports tries at several page sizes


def reports_pages(page: Page) -> str:
    """The report pages and CSV exports of two commits on one database, taking turns (reports.json)."""
    data = page.results.json("reports.json")
    pages = data["pages"]
    before_commit, after_commit, runs = pages["before"], pages["after"], pages["runs"]

    def seconds(side: dict | None) -> str:
        return "—" if side is None else f"{num(side['median_ms'] / 1000, 2)} s"

    def megabytes(side: dict | None) -> str:
        return "—" if side is None else f"{side['bytes'] / 1e6:,.2f} MB"

    rows, csvs = [], []
    for case in pages["cases"].values():
        before, after = case.get("before"), case["after"]
        first_row = "—"
        if after["streamed"]:
            csvs.append(case)
            first_row = f"{seconds({'median_ms': after['first_row_ms']})} (before: {seconds(before)})"
        rows.append([
            case["about"], seconds(before), seconds(after),
            f"{num(case['ratio'], 1)}×" if "ratio" in case else "—",
            f"{num(after['min_ms'] / 1000, 2)}–{num(after['max_ms'] / 1000, 2)} s",
            f"{megabytes(before)} → {megabytes(after)}", first_row,
        ])  # fmt: skip
    same = [case["about"] for case in csvs if case.get("same_bytes")]
    differ = [case["about"] for case in csvs if case.get("same_bytes") is False]
    varied = [
        f"{case['about']} {side} ({case[side]['distinct_bytes']} in {runs} runs)"
        for case in csvs
        for side in ("before", "after")
        if case.get(side, {}).get("distinct_bytes", 1) > 1
    ]
    peak = pages["peak_rss_mb"]
    notes = [
        f"The same bytes before and after (SHA-256, in at least one run of each): {', '.join(same) or 'none'}"
        + (f"; different: {', '.join(differ)}" if differ else "")
        + "."
        + (f" Different bytes from run to run of one side: {', '.join(varied)}." if varied else ""),
        "Peak resident memory of the process that served every case: "
        + (f"before {num(peak['before'], 0)} MB, " if "before" in peak else "")
        + f"after {num(peak['after'], 0)} MB.",
    ]
    bars = [
        f"{case['about']} {case['before']['chart_bars']:,} before, {case['after']['chart_bars']:,} after"
        for case in pages["cases"].values()
        if "chart_bars" in case["after"] and "before" in case and not case["after"]["streamed"]
    ]
    if bars:
        notes.append(f"Chart bars drawn: {'; '.join(bars)}.")
    sizes = []
    for per_page, found in pages.get("page_sizes", {}).items():
        cells = [f"{num(found[c]['median_ms'] / 1000, 2)} s ({found[c]['bytes'] / 1e6:,.2f} MB)" for c in PAGE_VIEWS]
        sizes.append([str(per_page), *cells])
    heading = [
        "tracks a page (after)",
        f"the rights holder's page, median of {runs}",
        f"staff's page, median of {runs}",
    ]
    by_size = ["", *table(heading, sizes)] if sizes else []
    return "\n".join([
        *table(
            ["case (the month's report)", f"before, median of {runs}", f"after, median of {runs}", "before ÷ after",
             "after, range", "response, before → after", "a CSV's first row after"],
            rows,
        ),
        *by_size,
        "",
        " ".join(notes),
        "",
        page.source(
            "reports.json",
            run_of(data),
            f"python -m bench.reports --before {before_commit} --runs {runs}"
            if before_commit
            else "make bench-reports",
            f": before is {before_commit}, after {after_commit}, each in its own process on one database, taking "
            f"turns; {data['detections']:,} detections and {data['plays']:,} plays of {data['tracks']:,} tracks; "
            f"{data['machine']}, load average {num(pages['load_average'], 1)} at the end",
        ),
    ])  # fmt: skip


def retroactive(page: Page) -> str:
    """Retroactive scans (retroactive.json): storage per stream-hour, accuracy on real hours, a week's speed."""
    data = page.results.json("retroactive.json")
    real, week, prune = data["real"], data["week"], data["prune"]

    def errors(spread: dict) -> str:
        if spread.get("median") is None:
            return "—"
        return (
            f"median {num(spread['median'], 2)} s; absolute p50 / p95 {num(spread['abs_p50'], 2)} / "
            f"{num(spread['abs_p95'], 2)} s; {percent(100 * spread['within_1s'])} within ±1 s"
        )

    rows = [
        [
            "retained per stream-hour",
            f"{num(data['bytes_per_stream_hour'] / 1e6, 2)} MB ({num(data['peaks_per_second'], 0)} peaks/s); "
            f"the hashes they make: {num(data['hashes_per_second'], 0)}/s, "
            f"{num(data['hash_bytes_per_stream_hour'] / 1e6, 0)} MB at 6 bytes each",
            "",
        ],
        [
            f"plays of the new tracks in {num(data['real_hours'], 2)} real hours: found; missed",
            f"{real['found']} of {real['plays']}; {len(real['missed'])} missed",
            "all",
        ],
        ["start error (`started_at` − airtime)", errors(real["start_error_s"]), "±1 s"],
        ["end error (`ended_at` − last airtime)", errors(real["end_error_s"]), "±1 s"],
        [
            "false detections; rows per play",
            f"{len(real['false'])}; {real['rows']} rows for {real['found']} plays",
            "0; 1",
        ],
        [
            f"scan of the {num(data['real_hours'], 2)} real hours",
            f"{num(real['wall_s'], 1)} s ({num(real['cpu_s'], 1)} s CPU)",
            "≤ 2 min",
        ],
        [
            f"scan of {num(week['hours'], 0)} h (one stream's week) for {data['new_tracks']} new tracks",
            f"{_minutes(week['wall_s'])} ({num(week['cpu_s'], 0)} s CPU of this process, "
            f"{num(week['real_time_x'], 0)}× real time); {week['found']} of {week['plays']} plays found, "
            f"{week['false']} false",
            "≤ 10 min, ≥ 1,000×",
        ],
        [
            "storage after pruning 14 days of minutes, 7 kept",
            f"{num(prune['bytes_before'] / 1e6, 0)} → {num(prune['bytes_after'] / 1e6, 0)} MB "
            f"(oldest kept {num(prune['oldest_kept_days'], 2)} days old; pruned in {num(prune['prune_s'], 1)} s)",
            "bounded",
        ],
    ]
    return "\n".join([
        *table(["measure", "result", "goal"], rows, text_columns=3),
        "",
        f"A StreamMonitor (live code, `retain=True`) listened directly to {num(data['real_hours'], 2)} h of the "
        f"corpus ({data['items']} items, {data['catalog_tracks']} catalog tracks): first the {data['new_tracks']} "
        "tracks to be added, twice each (whole, then an excerpt), between catalog and never-indexed music, then "
        f"other music only; the week is those minutes with the later hours tiled ({num(week['bytes'] / 1e6, 0)} MB "
        f"in PostgreSQL). Errors are against the minutes' own clock, exact here: on a live source the "
        "worker's stream clock error (above) moves retroactive rows as it moves live ones. "
        f"{data['machine']}, shared with other runs.",
        "",
        page.source("retroactive.json", run_of(data), "make bench-retroactive"),
    ])  # fmt: skip


def sandbox(page: Page) -> str:
    """The decode sandbox's cost per ffmpeg/ffprobe call, beside the call before it (sandbox_cost.json)."""
    data = page.results.json("sandbox_cost.json")
    modes = ["before", "env", "unshare", "landlock", "bwrap"]
    rows = [
        [call, *(num(by[mode], 1) for mode in modes),
         *(f"{by[mode] - by['before']:+.1f}" for mode in ("landlock", "bwrap"))]
        for call, by in data["median_ms"].items()
    ]  # fmt: skip
    headings = ["median ms per call", "before (prlimit only)", "env", "unshare", "landlock", "bwrap",
                "landlock − before", "bwrap − before"]  # fmt: skip
    return "\n".join([
        *table(headings, rows),
        "",
        page.source(
            "sandbox_cost.json",
            f"{data['rounds']} interleaved rounds of {data['when']}, sandbox here: {data['machine_mode']}",
            "python -m bench.studies.sandbox_cost",
        ),
    ])  # fmt: skip


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


_LATENCY_FORMATS = {"mp3": "MP3", "opus": "Ogg/Opus", "m4a": "AAC in MP4", "webm": "WebM/Opus"}


def _latency_rows(data: dict, versions: list[str], *, prestarted: bool = False) -> list[list[str]]:
    """The rows of a latency results file (bench.latency) for the parts it measured."""
    goals, cli, api = data["goals"], data["recognize"], data.get("api") or {}

    def both(render) -> list[str]:
        return [render(version) for version in versions]

    def cell(name: str, version: str) -> str:
        found = cli[name][version]
        return pair(found["p50_ms"], found["p95_ms"], "ms")

    def api_cell(clients: str, version: str) -> str:
        found = api[clients][version]
        if clients == "1":
            return f"{num(found['p50_ms'], 1)} ms"
        return f"{num(found['per_second'], 1)}/s, p95 {num(found['p95_ms'], 0)} ms, {found['errors']:,} errors"

    def files(name: str) -> str:
        found = cli[name][versions[-1]]
        if prestarted:
            return f"{found['files']} files, {found.get('prestarted', 0)} through a pre-started child"
        return f"{found['files']} files"

    rows = []
    if "wav" in cli:
        rows.append([f"`recognize --json`, 5 s WAV, p50 / p95 ({files('wav')})", *both(lambda v: cell("wav", v)),
                     f"≤ {goals['wav_p50_ms']} / ≤ {goals['wav_p95_ms']} ms"])  # fmt: skip
    rows += [
        [f"5 s {label}, p50 / p95 ({files(name)})", *both(lambda v, n=name: cell(n, v)),
         f"p50 ≤ {goals['formats_p50_ms']} ms"]
        for name, label in _LATENCY_FORMATS.items() if name in cli
    ]  # fmt: skip
    if data.get("batch_ms_per_file"):
        rows.append([f"`manage.py recognize --json` over {data['batch_files']} WAV files, wall clock per file",
                     *both(lambda v: f"{num(data['batch_ms_per_file'][v], 1)} ms"),
                     f"≤ {goals['batch_ms_per_file']} ms"])  # fmt: skip
    if data.get("engine_p50_ms"):
        rows.append(["the engine alone on the same clips, decoded, p50",
                     *both(lambda v: f"{num(data['engine_p50_ms'][v], 1)} ms"), ""])  # fmt: skip
    if api:
        rows += [
            ["partner API, 5 s WAV at 8 kHz, 1 client, p50", *both(lambda v: api_cell("1", v)),
             f"≤ {goals['api_1_p50_ms']} ms"],
            ["partner API, 8 clients (errors: 503, shed)", *both(lambda v: api_cell("8", v)),
             f"≥ {goals['api_8_per_second']}/s, p95 ≤ {goals['api_8_p95_ms']} ms, 0 errors"],
        ]  # fmt: skip
    ingest = data.get("ingest")
    if ingest:
        speed = ingest["x_realtime"]
        rows += [
            ["ingest `--jobs 1` ÷ ffmpeg alone decoding the same files",
             *both(lambda v: _ratio(speed[f"{v}, --jobs 1"] / speed["ffmpeg alone"])), "≥ 0.9×"],
            ["ingest `--jobs 2` ÷ `--jobs 1`",
             *both(lambda v: _ratio(speed[f"{v}, --jobs 2"] / speed[f"{v}, --jobs 1"])), "≥ 1.8×"],
        ]  # fmt: skip
    return rows


def _latency_notes(data: dict) -> list[str]:
    clock = data["machine"]["median_ms"]
    load = data["load_average"]
    notes = [
        f"{data['rounds']} rounds, before and after in turn, on {data['catalog_tracks']} catalog tracks "
        f"(database `{data['database']}`)",
        f"load average {num(load['before'][0], 1)} before and {num(load['after'][0], 1)} after on "
        f"{data['machine']['cpus']} cores (the machine is shared)",
        f"this machine's ffmpeg {data['machine']['ffmpeg']}, sandboxed: "
        + ", ".join(f"{name} {num(ms, 1)} ms" for name, ms in clock.items()),
    ]
    if data.get("api") and data.get("api_rounds", 1) > 1:
        notes.append(f"the API in {data['api_rounds']} rounds of each client count, versions in turn")
    if data.get("servers"):
        notes.append("servers as each version deploys them: " + ", ".join(
            f"{version} `{server}`" for version, server in data["servers"].items()))  # fmt: skip
    ingest = data.get("ingest")
    if ingest:
        speed = ingest["x_realtime"]
        notes.append(
            f"ingest: {ingest['files']} corpus files ({_minutes(ingest['audio_s'])} of audio), ffmpeg alone "
            f"{num(speed['ffmpeg alone'], 0)}× real time, {ingest['rounds']} round{'s' if ingest['rounds'] > 1 else ''}"
        )
    return notes


def latency(page: Page) -> str:
    """File to answer, the code before issue 39's change beside the code now (latency.json)."""
    data = page.results.json("latency.json")
    heading = ["5 s clips, median of the rounds", f"before ({data['before']})", f"after ({data['after']})", "goal"]
    return "\n".join([
        *table(heading, _latency_rows(data, ["before", "after"])),
        "",
        page.source("latency.json", f"run of {data['when']}: " + "; ".join(_latency_notes(data)), "make bench-latency"),
    ])  # fmt: skip


def latency_followup(page: Page) -> str:
    """Issue 39's follow-up (pre-started decoders, the API at 8 clients) beside main before it
    (latency_followup.json: bench.latency with some of its parts)."""
    data = page.results.json("latency_followup.json")
    heading = ["5 s clips, median of the rounds", f"before ({data['before']})", f"after ({data['after']})", "goal"]
    command = f"python -m bench.latency --before {data['before']} --parts {','.join(data['parts'])} "
    command += "--output latency_followup.json"
    return "\n".join([
        *table(heading, _latency_rows(data, ["before", "after"], prestarted=True)),
        "",
        page.source("latency_followup.json", f"run of {data['when']}: " + "; ".join(_latency_notes(data)), command),
    ])  # fmt: skip


def latency_ingest(page: Page) -> str:
    """Ingest speed, the code before the overlapped ingest beside it (latency_ingest.json: bench.latency
    with its ingest part only)."""
    data = page.results.json("latency_ingest.json")
    heading = ["ingest of the benchmark corpus, median of the rounds", f"before ({data['before']})",
               f"after ({data['after']})", "goal"]  # fmt: skip
    wall = data["ingest"]["wall_s"]
    rows = [
        [f"wall clock: ffmpeg alone {num(wall['ffmpeg alone'], 1)} s; `--jobs 1` / `--jobs 2`",
         *(f"{num(wall[f'{v}, --jobs 1'], 1)} / {num(wall[f'{v}, --jobs 2'], 1)} s" for v in ("before", "after")),
         ""],
        *_latency_rows(data, ["before", "after"]),
    ]  # fmt: skip
    command = f"python -m bench.latency --before {data['before']} --parts ingest "
    command += f"--ingest-rounds {data['ingest']['rounds']} --output latency_ingest.json"
    # The notes of the ingest part alone: the clip rounds, catalog and servers did not take part.
    notes = [note for note in _latency_notes(data)[1:] if not note.startswith("servers as")]
    return "\n".join([
        *table(heading, rows),
        "",
        page.source("latency_ingest.json", f"run of {data['when']}: " + "; ".join(notes), command),
    ])  # fmt: skip


def ingest_cpu(page: Page) -> str:
    """Where ingest's wall time and CPU go, by process, before and after, and the floor two cores
    set under `--jobs 2` (ingest_cpu.json: bench.studies.ingest_cpu)."""
    data = page.results.json("ingest_cpu.json")
    medians, cores = data["medians"], data["cpus"]
    alone = medians["ffmpeg alone"]["wall_s"]
    rows = []
    for name, found in medians.items():
        version, _, jobs = name.partition(", ")
        label = "ffmpeg alone" if not jobs else f"{version} ({data[version]}), `{jobs}`"
        floor = found["cpu_s"] / cores
        rows.append([
            label, num(found["wall_s"], 1), _ratio(alone / found["wall_s"]), num(found["python_s"], 1),
            num(found["ffmpeg_s"], 1), num(found["postgres_s"], 1), num(found["cpu_s"], 1),
            f"{num(floor, 1)} s ({_ratio(alone / floor)})",
        ])  # fmt: skip
    heading = [f"{data['files']} files, CPU in seconds", "wall s", "speed ÷ ffmpeg alone", "Python", "ffmpeg + sandbox",
               "PostgreSQL", "all", f"all ÷ {cores} cores (its speed ÷ ffmpeg alone)"]  # fmt: skip
    note = (f"median of {data['rounds']} rounds of {data['when']}, versions in turn, {data['files']} corpus files "
            f"({_minutes(data['audio_s'])} of audio), load average {num(data['load_average']['before'], 1)} "
            f"before and {num(data['load_average']['after'], 1)} after on {cores} cores (the machine is shared); "
            "ffmpeg alone's Python is its start, not in its wall clock")  # fmt: skip
    command = f"python -m bench.studies.ingest_cpu --before {data['before']} --rounds {data['rounds']}"
    lines = [*table(heading, rows), ""]
    for version in ("before", "after"):
        one, two = medians.get(f"{version}, --jobs 1"), medians.get(f"{version}, --jobs 2")
        if one and two:
            lines.append(
                f"- {version}: `--jobs 2` at 1.8× `--jobs 1` would take {num(one['wall_s'] / 1.8, 1)} s; "
                f"its CPU needs {num(two['cpu_s'] / cores, 1)} s of {cores} cores even if no core ever idled, "
                f"so 1.8× is out of reach by {num(two['cpu_s'] / cores - one['wall_s'] / 1.8, 1)} s"
                if two["cpu_s"] / cores > one["wall_s"] / 1.8
                else f"- {version}: `--jobs 2` at 1.8× `--jobs 1` would take {num(one['wall_s'] / 1.8, 1)} s, "
                f"above the {num(two['cpu_s'] / cores, 1)} s its CPU needs of {cores} cores"
            )
    return "\n".join([*lines, "", page.source("ingest_cpu.json", note, command)])


def api_profile(page: Page) -> str:
    """Where one partner API request's CPU goes, by part, before and after (api_profile.json)."""
    data = page.results.json("api_profile.json")
    before, after = data["versions"]["before"], data["versions"]["after"]
    parts = sorted(
        set(before["parts_ms"]) | set(after["parts_ms"]), key=lambda name: (-before["parts_ms"].get(name, 0), name)
    )

    def ms(found: dict, name: str) -> str:
        value = found["parts_ms"].get(name)
        return "—" if value is None else f"{num(value, 1)} ms"

    rows = [[name, ms(before, name), ms(after, name)] for name in parts]
    rows.append(
        ["**the server's CPU per request**", *(f"**{num(v['cpu_ms_per_request'], 1)} ms**" for v in (before, after))]
    )
    rows.append(["server processes; requests answered; rate; p50",
                 *(f"{v['processes']}; {v['requests']:,}; {num(v['per_second'], 1)}/s; {num(v['p50_ms'], 1)} ms"
                   for v in (before, after))])  # fmt: skip
    heading = [f"{data['clients']} client{'s' if data['clients'] > 1 else ''}, 5 s WAV at 8 kHz, CPU per request",
               f"before ({data['before']})", f"after ({data['after']})"]  # fmt: skip
    note = (f"run of {data['when']}, {num(data['seconds'], 0)} s a version, load average "
            f"{num(data['load_average'][0], 1)} on {data['cpus']} cores; a part is its share of py-spy's samples "
            "of threads holding the GIL times the server's CPU per request")  # fmt: skip
    return "\n".join([
        *table(heading, rows),
        "",
        page.source("api_profile.json", note, "python -m bench.studies.api_profile --py-spy PATH"),
    ])  # fmt: skip


# The robustness set's goals (issue 38): condition -> {clip length: top-1 share}.
ROBUSTNESS_GOALS = {
    "speed+5": {"5": 95}, "speed-5": {"5": 95},
    "speed+10": {"10": 90, "5": 80}, "speed-10": {"10": 90, "5": 80},
    "speed+25": {"10": 80}, "speed-20": {"10": 80},
    "pitch+1": {"5": 90}, "pitch-2": {"5": 85},
    "tempo+10": {"5": 90}, "tempo-10": {"5": 90},
    "voice+5": {"5": 90}, "voice+10": {"10": 90, "5": 75},
    "music0": {"5": 90, "10": 95},
    "room-dr0": {"1": 70, "2": 95, "3": 97},
}  # fmt: skip


def _cells_by_arm(found: dict, arms: list[str], extra=lambda condition, length: []) -> list[list[str]]:
    """A row per condition and clip length of the first arm's cells, in ROBUST_CONDITIONS' order:
    each arm's right answers, `extra`'s columns, the goal."""
    order = {condition: n for n, condition in enumerate(ROBUST_CONDITIONS)}
    rows = []
    cells = found[arms[0]]["accuracy"]
    for condition, by_length in sorted(cells.items(), key=lambda item: order.get(item[0], len(order))):
        for length in sorted(by_length, key=float):
            goal = ROBUSTNESS_GOALS.get(condition, {}).get(length)
            rows.append([
                condition, f"{length} s",
                *(percent(found[arm]["accuracy"].get(condition, {}).get(length)) for arm in arms),
                *extra(condition, length),
                f"≥ {goal} %" if goal else "",
            ])  # fmt: skip
    return rows


def robustness(page: Page) -> str:
    """The robustness set (robustness.json): top-1 per condition and length for each retry arm,
    beside the goal; false matches; what unknown clips cost."""
    data = page.results.json("robustness.json")
    arms = sorted(data, key=lambda arm: data[arm]["when"])
    first = data[arms[0]]
    study = page.results.json("invariant_triplets.json") if page.results.exists("invariant_triplets.json") else None
    rows = _cells_by_arm(data, arms, lambda condition, length: (
        [percent(study["accuracy"][condition][length])] if study else []
    ))  # fmt: skip

    def told(arm: str) -> str:
        """Of the right answers to changed clips (speed, pitch, tempo), the share that said the change."""
        changed = [c for c in data[arm]["accuracy"] if c.startswith(("speed", "pitch", "tempo"))]
        right = sum(sum(data[arm]["accuracy"][c].values()) for c in changed)
        reported = sum(sum(data[arm]["change_reported"][c].values()) for c in changed)
        return percent(100 * reported / right) if right else "—"

    rows.append(["right answers to changed clips that reported the change", "", *(told(arm) for arm in arms),
                 *(["—"] if study else []), ""])  # fmt: skip
    rows.append(["unknown clips matched", "", *(
        f"{data[arm]['false_matches']['matched']:,} of {data[arm]['false_matches']['queries']:,}" for arm in arms
    ), *([f"0 of {study['unknown_clips']:,} (its threshold)"] if study else []), "0 of ≥ 1,000"])  # fmt: skip
    rows.append(["values a 5 s unknown clip looks up in every track, p50 / p95", "", *(
        pair(data[arm]["unknown_5s_values"]["p50"], data[arm]["unknown_5s_values"]["p95"], "", 0).strip()
        for arm in arms
    ), *([pair(study["values_5s"]["p50"], study["values_5s"]["p95"], "", 0).strip() + " more"] if study else []),
        ""])  # fmt: skip
    rows.append(["engine ms a 5 s unknown clip (memory index), p50 / p95", "", *(
        pair(data[arm]["unknown_ms"]["5"]["p50"], data[arm]["unknown_ms"]["5"]["p95"], "ms", 0) for arm in arms
    ), *(["—"] if study else []), ""])  # fmt: skip
    clips = min(n for by in first["clips"].values() for n in by.values())
    headings = ["condition", "clip", *(f"`{arm}`" for arm in arms)]
    if study:
        headings.append("invariant triplets (study)")
    lines = [
        *table([*headings, "goal"], rows, text_columns=2),
        "",
        page.source(
            "robustness.json",
            f"runs of {', '.join(sorted({data[arm]['when'] for arm in arms}))}; at least {clips} clips a cell "
            "of music never used for tuning, unknown clips never indexed; an in-memory index, no database; "
            "times on a shared 2-core machine, the arms run at different times beside other work",
            "python -m bench.studies.robustness",
        ),
    ]
    if study:
        lines += ["", page.source(
            "invariant_triplets.json",
            f"run of {study['when']}: every clip scored, right when its own track and place win with more "
            f"votes than any never-indexed clip got ({study['unknown_top_score']}); no calibrated decision; "
            f"{num(study['rows_per_audio_s'])} rows a second of audio more in the index",
            "python -m bench.studies.invariant_triplets",
        )]  # fmt: skip
    if page.results.exists("robustness_cells.txt"):
        lines += ["", *_noise_study_table(page, "robustness_cells.txt")]
    return "\n".join(lines)


_NOISE_LINE = re.compile(
    r"^(?P<variant>\S+) \| (?P<cells>.*) \| all (?P<all>\d+) \| false (?P<false>\d+/\d+) \| .* (?P<values>\d+/\d+)$"
)


def _noise_study_table(page: Page, name: str) -> list[str]:
    """The benchmark's closest cells under each arm (noise_study's lines): right answers of each
    cell's clips, all of them, unknown clips matched, values a 5 s unknown clip looks up."""
    text = page.results.text(name)
    found = [m for m in map(_NOISE_LINE.match, text.splitlines()) if m]
    if not found:
        raise ReportError(f"{name} holds no noise_study line")
    cells = [re.match(r"(\S+)\s+(\d+)", part.strip()) for part in found[0]["cells"].split(" | ")]
    header = ["arm", *(f"{c[1].replace(':', ' ')} s" for c in cells if c), "all", "unknown matched",
              "values, 5 s unknown, p50/p95"]  # fmt: skip
    rows = []
    for m in found:
        counts = [re.match(r"(\S+)\s+(\d+)", part.strip()) for part in m["cells"].split(" | ")]
        values = " / ".join(num(float(v), 0) for v in m["values"].split("/"))
        rows.append([f"`{m['variant'].split('/')[-1]}`", *(c[2] for c in counts if c), m["all"],
                     m["false"].replace("/", " of "), values])  # fmt: skip
    first_line = text.splitlines()[0].lstrip("# ")
    return [
        *table(header, rows),
        "",
        page.source(name, first_line, "python -m bench.studies.noise_study"),
    ]


def growth_wide(page: Page) -> str:
    """The wide retries on and off, timed interleaved on the grown catalog (growth_wide.json)."""
    name = "growth_wide.json"
    points = page.results.json(name)
    arms = [arm for arm in ("off", "on") if any(arm in p.get("wide_ab", {}) for p in points)]
    labelled = any("code" in point for point in points)  # runs of two versions of the engine
    rows = []
    for point in points:
        rounds = point.get("wide_ab", {})
        rows.append([
            f"{num(point['rows'] / 1e6, 1)} M",
            *([point.get("code", "—")] if labelled else []),
            *(" · ".join(pair(r["p50_ms"], r["p95_ms"], "ms", 0) for r in rounds.get(arm, [])) or "—" for arm in arms),
            " · ".join(
                f"{r['accuracy_pct']:g} % / {r['unknown_false_matches'].replace('/', ' of ')}"
                for arm in arms[1:] for r in rounds.get(arm, [])
            ) or "—",
        ])  # fmt: skip
    return "\n".join([
        *table(["stored hashes", *(["engine"] if labelled else []),
                *(f"`{arm}`, p50 / p95 (two rounds)" for arm in arms), "wide on: right / unknown matched"], rows,
               text_columns=2 if labelled else 1),
        "",
        page.source(name, measured(points) + "; 5 s clips, known and never-indexed in turn, engine + PostgreSQL; "
                    "the `off` arm is the engine without the wide retries",
                    "python -m bench.growth --keep --sizes 3e8 --wide off on --code NAME "
                    "--results bench/results/growth_wide.json"),
    ])  # fmt: skip


def timeline_speeds(page: Page) -> str:
    """Speeds measured from a match's drift, and timelines retried at other speeds
    (timeline_speeds.json): clips before and after the measure, the measure's settings swept,
    long inputs through the timeline before retries, with the near speeds and with the wide tier."""
    data = page.results.json("timeline_speeds.json")
    clips, sweep, long_inputs = data["clips"], data.get("sweep"), data["timelines"]
    how = "python -m bench.studies.timeline_speeds"

    def of_right(cell: dict, when: str) -> str:
        right = cell[f"right_{when}"]
        return percent(100 * cell[f"speed_within_1pct_{when}"] / right) if right else "—"

    order = {condition: n for n, condition in enumerate(ROBUST_CONDITIONS)}

    def cell_order(name: str) -> tuple[int, float]:
        """Near speeds first, slowest first; then the robustness set's cells in its order."""
        arm, condition = name.split("/")
        if arm == "near":
            return (-1, float(condition.removeprefix("speed")))
        return (order.get(condition, len(order)), 0.0)

    rows = []
    for name in sorted(clips["cells"], key=cell_order):
        by_length = clips["cells"][name]
        arm, condition = name.split("/")
        for length in sorted(by_length, key=float):
            cell = by_length[length]
            rows.append([
                condition.replace("speed+0", "as recorded"), f"{length} s",
                "wide tier" if arm == "wide" else "as it is",
                str(cell["clips"]), percent(cell["right_before"]), percent(cell["speed_exactly_1_before"]),
                of_right(cell, "before"), of_right(cell, "after"),
            ])  # fmt: skip
    lines = [
        *table(
            ["clips", "length", "engine", "clips", "right", "found as heard", "speed within 1 %, before", "after"],
            rows,
            text_columns=3,
        ),
        "",
        page.source(
            "timeline_speeds.json",
            f"{run_of(clips)}: clips of the never-seen package, 2-2.5 % fast or slow and as recorded made by the "
            "study, the robustness set's speed and tempo cells; each clip with and without the measured speed; "
            "found as heard: clips answered right as heard (or smoothed), before the measure; the speed columns "
            "are shares of the right answers (as recorded: within 1 % of 1, no change reported)",
            how,
        ),
    ]
    if sweep:
        sweep_rows = [
            [f"{c['min_drift_votes']} votes, {num(100 * c['max_speed_error'], 2)} %",
             f"{c['changed_within_1pct']} of {c['changed_right']}",
             f"{c['recorded_change_said']} of {c['recorded_right']}"]
            for c in sweep["by_setting"]
        ]  # fmt: skip
        lines += [
            "",
            *table(
                [
                    "votes, largest standard error",
                    "right answers 2-2.5 % off, speed within 1 %",
                    "right answers as recorded that reported a change",
                ],
                sweep_rows,
            ),
            "",
            page.source(
                "timeline_speeds.json",
                f"{run_of(sweep)}: 3 and 5 s clips of the never-seen package, 2-2.5 % fast or slow and as recorded "
                "(three times as many), the engine as it is with each setting of matching/drift.py",
                how + " --part sweep",
            ),
        ]
    arms = long_inputs["arms"]
    names = {"before": "no retry (before)", "near": "near speeds (as it is)", "wide": "wide tier"}
    speeds = list(arms["before"]["by_speed"])
    timeline_rows = []
    for speed in sorted(speeds, key=float):
        counts = {arm: arms[arm]["by_speed"][speed] for arm in arms}
        label = "as recorded" if float(speed) == 1 else f"{100 * (float(speed) - 1):+g} %"
        timeline_rows.append([
            label, str(counts["before"]["inputs"]),
            *(f"{c['found']} / {c['right']} / {c['speed_within_1pct']}" for c in counts.values()),
        ])  # fmt: skip
    timeline_rows += [
        ["segments naming another track", "",
         *(f"{arms[a]['false_segments_known']} / {arms[a]['false_segments_unknown']} of "
           f"{arms[a]['unknown_inputs']} never-indexed" for a in arms)],
        ["CPU seconds a minute of input, p50 / p95: with a track", "",
         *(pair(arms[a]["cpu_s_a_minute"]["known"]["p50"], arms[a]["cpu_s_a_minute"]["known"]["p95"], "s", 2)
           for a in arms)],
        ["never-indexed", "",
         *(pair(arms[a]["cpu_s_a_minute"]["unknown"]["p50"], arms[a]["cpu_s_a_minute"]["unknown"]["p95"], "s", 2)
           for a in arms)],
        ["values a minute of never-indexed input looks up in every track, p50 / p95", "",
         *(pair(arms[a]["values_a_minute"]["unknown"]["p50"], arms[a]["values_a_minute"]["unknown"]["p95"], "", 0)
           .strip() for a in arms)],
    ]  # fmt: skip
    lines += [
        "",
        *table(
            ["input played at", "inputs", *(f"{names.get(a, a)}: found / right / speed" for a in arms)],
            timeline_rows,
            text_columns=1,
        ),
        "",
        page.source(
            "timeline_speeds.json",
            f"{run_of(long_inputs)}: inputs of 60 s, 50 s of a never-seen track between never-indexed music, all at "
            "one speed, and 60 s of never-indexed music at speeds from −20 to +25 %; right: every segment of the "
            "track holds the input's audio and together they span it within a window; speed: within 1 % and its "
            "change reported as it is; segments naming another track on inputs with a track / never-indexed ones; "
            "an in-memory index of the catalog and the never-seen package",
            how,
        ),
    ]
    return "\n".join(lines)


def room(page: Page) -> str:
    """Short clips in a room (room.json): the reference's peaks and pairs a clip holds, clean and in
    the room, and the answers with one more look whose hashes allow a frame of delay."""
    data = page.results.json("room.json")
    how = "python -m bench.studies.room"
    peaks, looks = data["peaks"], data["looks"]
    windows = ["0.5", "1.0", "2.0", "4.0"]
    peak_rows = []
    for name in sorted(peaks, key=lambda n: (float(n.split("/")[1]), n)):
        cell = peaks[name]
        kind, length = name.split("/")
        counts = cell["peaks"]
        peak_rows.append([
            f"{length} s {kind}", str(cell["clips"]),
            *(percent(100 * counts[w] / counts["reference_peaks"]) for w in windows),
            f"{num(cell['pairs']['reference'] / cell['clips'], 0)}",
            f"{num(cell['pairs']['as is']['mean'], 1)} / {num(cell['pairs']['dt+-1']['mean'], 1)}",
        ])  # fmt: skip
    arms = [key for key in next(iter(looks["cells"].values())) if key not in ("clips", "wrong")]
    look_rows = [
        [
            f"{length} s",
            str(cell["clips"]),
            *(percent(100 * cell[arm] / cell["clips"]) for arm in arms),
            str(cell["wrong"]),
        ]
        for length, cell in sorted(looks["cells"].items(), key=lambda item: float(item[0]))
    ]
    matched = ", ".join(
        f"{arm.replace('+-', '±').replace(' x', ' ×')}: {num(n, 0)} of {num(looks['unknown'], 0)}"
        for arm, n in looks["unknown_matched_by_the_look"].items()
    )
    cpu = num(looks["cpu_ms_a_never_indexed_clip"], 0)
    return "\n".join([
        *table(["clips", "n", "reference peaks held within a bin and ½ frame", "1 frame", "2 frames", "4 frames",
                "reference pairs a clip", "pairs held at the true offset, mean: as is / dt ±1"], peak_rows),
        "",
        *table(["room, length", "clips", *(f"right: {arm}".replace("+-", "±").replace(" x", " ×") for arm in arms),
                "wrong (the look)"], look_rows),
        "",
        page.source("room.json", f"{run_of(data)}: the robustness set's `room-dr0` clips (RT60 0.4 s, as much "
                    "reverberant as direct sound), the clean excerpt at the same place beside them; the look is tried "
                    f"on clips the engine does not answer; never-indexed clips it named as a track: {matched}; CPU "
                    f"of the engine and both looks on a never-indexed clip: {cpu} ms",
                    how),
    ])  # fmt: skip


def _answered(marks: str, before: str | None) -> str:
    """A cell's clips answered right (`marks`: "1" or "0" a clip), and, against another arm's
    marks of the same clips, how many it gained and lost."""
    text = percent(100 * marks.count("1") / len(marks))
    if before is None:
        return text
    gained = sum(a == "1" and b == "0" for a, b in zip(marks, before, strict=True))
    lost = sum(a == "0" and b == "1" for a, b in zip(marks, before, strict=True))
    return f"{text} (+{gained} −{lost})"


def room_onsets(page: Page) -> str:
    """Peaks timed at their onset on both sides (room_onsets.json): the reference's peaks and pairs
    a room clip holds, and each variant's answers on the room, the benchmark's conditions and the
    never-indexed clips, clip by clip against today's times, with the rows it stores."""
    data = page.results.json("room_onsets.json")
    variants = data["variants"]
    names = list(variants)
    base = variants[names[0]]

    def each(values: list[str]) -> str:
        return " / ".join(values)

    peak_rows = []
    for cell in sorted(base["peaks"], key=lambda n: (n.split("/")[0] != "room", float(n.split("/")[1]))):
        kind, length = cell.split("/")
        rows = [variants[name]["peaks"][cell] for name in names]
        peak_rows.append([
            f"{length} s {kind}", str(rows[0]["clips"]),
            *(each([num(100 * r["peaks"][w] / r["peaks"]["reference_peaks"]) for r in rows]) + " %"
              for w in ("0.5", "1.0", "4.0")),
            each([num(100 * r["pairs_held"] / r["pairs"]) for r in rows]) + " %",
        ])  # fmt: skip

    def right(name: str, cell: str) -> str:
        before = None if name == names[0] else base["answered"][cell]
        return _answered(variants[name]["answered"][cell], before)

    answer_rows = [
        [f"{cell.split(':')[0]}, {cell.split(':')[1]} s", str(len(base["answered"][cell])),
         *(right(name, cell) for name in names)]
        for cell in base["answered"]
    ]  # fmt: skip
    storage = [variants[name]["storage"] for name in names]
    cpu = [variants[name]["cpu_ms_a_never_indexed_clip"] for name in names]
    answer_rows += [
        ["never-indexed clips named as a track", num(base["unknown"], 0),
         *(num(variants[name]["unknown_matched"], 0) for name in names)],
        ["known clips named as another recording or place", "",
         *(num(variants[name]["known_wrong"], 0) for name in names)],
        ["index rows a second of audio: pairs + triplets", "",
         *(f"{num(kept['pairs_per_s'], 1)} + {num(kept['triplets_per_s'], 1)}" for kept in storage)],
        ["storage per audio hour", "", *(f"{num(kept['mb_per_audio_hour'], 2)} MB" for kept in storage)],
        ["CPU a never-indexed clip, p50 / p95", "", *(pair(ms["p50"], ms["p95"], "ms", 0) for ms in cpu)],
    ]  # fmt: skip
    return "\n".join([
        *table(["clips", "n", f"reference peaks held within a bin and ½ frame: {each(names)}", "1 frame",
                "4 frames", "reference pairs held at the true offset"], peak_rows),
        "",
        *table(["cell", "clips", *(f"right: {name}" for name in names)], answer_rows),
        "",
        page.source("room_onsets.json", f"{run_of(data)}: every peak timed at its maximum (today) or its onset "
                    "(`FingerprintParams.peak_time`), references and clips alike, in-memory indexes of the "
                    f"robustness set's {num(data['indexed_hours'], 2)} h; `room-dr0` is the set's room clips (RT60 "
                    f"0.4 s, as much reverberant as direct sound), the other cells {data['clips_a_cell']} clips each "
                    "cut from the catalog's tracks and distorted as the benchmark's conditions; (+gained −lost) "
                    f"counts clips against {names[0]}; storage at the benchmark's bytes a stored row; CPU on the "
                    "shared 2-core machine, the variants one after another",
                    "python -m bench.studies.room_onsets"),
    ])  # fmt: skip


def dense_gate(page: Page) -> str:
    """The denser look taken only by clips that came near a match as heard (dense_gate.json): per
    gate on that nearness, the cells the look changes and the never-indexed clips that would
    take it, each clip's answer as the engine with that gate gives it."""
    data = page.results.json("dense_gate.json")
    clips = data["clips"]
    cells = sorted({(c["condition"], c["length"]) for c in clips if c["condition"] != "unknown"})
    changed = [cell for cell in cells if any(
        c["always"] != c["never"] for c in clips if (c["condition"], c["length"]) == cell)]  # fmt: skip
    unknown = [c for c in clips if c["condition"] == "unknown"]
    only_look = [c for c in clips if c["always"] == "right" and c["never"] != "right"]

    def answer(clip: dict, gate: float | None) -> str:
        return clip["always"] if gate is None or clip["nearest"] <= gate else clip["never"]

    rows = []
    for gate in (None, *data["gates"], float("-inf")):
        label = "always (today)" if gate is None else "never" if gate == float("-inf") else f"≤ {num(gate, 1)}"
        right = []
        for cell in changed:
            in_cell = [c for c in clips if (c["condition"], c["length"]) == cell]
            right.append(percent(100 * sum(answer(c, gate) == "right" for c in in_cell) / len(in_cell)))
        kept = sum(answer(c, gate) == "right" for c in only_look)
        taking = sum(gate is None or c["nearest"] <= gate for c in unknown)
        wrong = sum(answer(c, gate) == "wrong" for c in unknown)
        rows.append([label, *right, f"{kept} of {len(only_look)}", f"{taking:,} of {len(unknown):,}", f"{wrong:,}"])
    ms = {arm: sorted(c[f"{arm}_ms"] for c in unknown) for arm in ("always", "never")}

    def p(values: list[float], q: float) -> float:
        return values[round(q * (len(values) - 1))]

    def times(arm: str) -> str:
        return pair(p(ms[arm], 0.5), p(ms[arm], 0.95), "ms", 0)

    nearest = sorted(c["nearest"] for c in unknown)
    note = (
        f"{run_of(data)}: the robustness set in memory, every clip through the engine with the denser look "
        "always and never taken (its decisions counting the look either way), interleaved; a gate takes the "
        "look only when the clip as heard came at least that near a match (the smallest false-match bound "
        "of its best track on pairs or triplets, log10, corrected as the decision corrects it); only the "
        "cells where the look changes an answer are shown; never-indexed clips' nearness p5 / p50 / p95 "
        f"{num(p(nearest, 0.05), 2)} / {num(p(nearest, 0.5), 2)} / {num(p(nearest, 0.95), 2)}; engine time "
        f"of a never-indexed clip (no database), p50 / p95, with the look {times('always')}, without {times('never')}"
    )
    header = ["gate", *(f"{condition} {num(length, 0)} s" for condition, length in changed),
              "clips only the look answers, still answered", "never-indexed clips taking the look",
              "never-indexed clips named"]  # fmt: skip
    how = "python -m bench.studies.dense_gate"
    return "\n".join([*table(header, rows), "", page.source("dense_gate.json", note, how)])


def engine_ab(page: Page, name: str) -> str:
    """An engine against the one at an earlier commit on the grown catalog (bench.studies.engine_ab):
    each round's p50 / p95, the never-indexed clips' alone and their CPU, the medians over the
    rounds, and how many answers differ."""
    data = page.results.json(name)
    arms = {"base": f"base ({data['base']})", "this": f"this ({data['this']})"}
    rows = [
        [str(run["round"]), arms[run["arm"]], pair(*run["p50_p95_ms"], "ms"), pair(*run["unknown_p50_p95_ms"], "ms"),
         f"{num(run['unknown_cpu_ms'])} ms"]
        for run in data["runs"]
    ]  # fmt: skip
    for arm, label in arms.items():
        rows.append(["median", label, pair(*data["median_p50_p95_ms"][arm], "ms"),
                     pair(*data["median_unknown_p50_p95_ms"][arm], "ms"),
                     f"{num(data['median_unknown_cpu_ms'][arm])} ms"])  # fmt: skip
    differ = data["answers_differ"]
    note = (
        f"{run_of(data)} on {data['db']}: one process per arm and round, the base first; "
        f"{data['queries']} queries, answers differing: {len(differ)}{f' ({", ".join(differ)})' if differ else ''}"
    )
    header = ["round", "engine", "all, p50 / p95", "never-indexed, p50 / p95", "never-indexed, CPU a clip"]
    return "\n".join([*table(header, rows, text_columns=2), "", page.source(name, note, data["command"])])


def sort_runs(page: Page) -> str:
    """The engine's sorts and row searches on arrays shaped like a clip's (studies/sort_runs.json):
    for each run and numpy's SIMD dispatch as found or off, each shape by numpy's default sort,
    its merge sort and `arrays.sort`, and which way `arrays.sort` took values sorted but for
    small groups; then the memo's and the pair lists' searches of each run."""
    name = "studies/sort_runs.json"
    runs = page.results.json(name)["runs"]
    shapes = [row[0] for row in runs[0]["sorts"]["as found"]["rows"]]
    way = {True: "merged", False: "default", None: "merged (always, then)"}
    rows = []
    for run in runs:
        dispatch = ", ".join(run["dispatch"]) if run.get("dispatch") is not None else "not recorded"
        for regime, timed in run["sorts"].items():
            label = f"{run['when']}, SIMD " + (f"as found: {dispatch}" if regime == "as found" else "off")
            cells = [f"{num(d, 0)} / {num(m, 0)} / {num(a, 0)} µs" for _, d, m, a in timed["rows"]]
            rows.append([label, *cells, way[timed["merges_small_groups"]]])
    header = ["run", *(f"{shape}: default / merge / `arrays.sort`" for shape in shapes), "small groups"]
    searched = [
        [
            run["when"],
            f"{num(run['memo']['rows'], 0)} rows asked {num(run['memo']['values'], 0)} values: "
            f"{num(run['memo']['each_row_tested_us'], 0)} / {num(run['memo']['each_value_searched_us'], 0)} µs",
            f"{num(run['memo']['new_rows_merged_us'], 0)} µs",
            f"{run['pair_lists']['lists']} × {num(run['pair_lists']['pairs_each'], 0)} pairs asked "
            f"{num(run['pair_lists']['hashes'], 0)} hashes: {num(run['pair_lists']['in_table_us'], 0)} / "
            f"{num(run['pair_lists']['searched_us'], 0)} µs",
        ]
        for run in runs
    ]
    search_header = [
        "run",
        "memo: each row tested / each value's run searched",
        f"memo: {num(runs[-1]['memo']['new_rows'], 0)} new rows merged in",
        "pair lists: each pair in a table / each hash searched",
    ]
    machines = "; ".join(f"{run['when']}: {run['machine']}, numpy {run['numpy']}" for run in runs)
    note = (
        f"runs of {', '.join(run['when'] for run in runs)} UTC ({machines}): medians of each way's timings, "
        "microseconds; "
        "SIMD dispatch off is a child process with NPY_DISABLE_CPU_FEATURES set to every target numpy found, "
        "as on a machine without AVX2; small groups: the way `arrays.sort` took them (`merges_small_groups`, "
        "timed once per process)"
    )
    return "\n".join(
        [*table(header, rows), "", *table(search_header, searched), "", page.source(name, note, runs[-1]["command"])]
    )


def room_reference(page: Page) -> str:
    """A room family on the references' side (room_reference.json): the reference's peaks and
    hashes clips in three rooms hold against the clean reference and the reference in the
    family's room, and, when measured, the engine's answers with each family indexed, clip by
    clip against today's index, with the rows it stores."""
    data = page.results.json("room_reference.json")
    how = "python -m bench.studies.room_reference"
    room = data["family_room"]
    peaks = data["peaks"]["cells"]
    names = sorted(peaks, key=lambda n: (n.split("/")[0] != "room-dr0", n.split("/")[0], float(n.split("/")[1])))
    kinds = [kind for kind in peaks[names[0]] if kind != "clips"]
    with_peaks = [kind for kind in kinds if peaks[names[0]][kind]["peaks"]]
    heading = {"clean": "clean reference", "both": "clean + family"}

    def clips(name: str) -> list[str]:
        condition, length = name.split("/")
        return [f"{condition}, {length} s", str(peaks[name]["clips"])]

    def held(entry: dict, what: str, clips: int, digits: int) -> str:
        return f"{num(100 * entry[f'{what}_held'] / entry[what])} % · {num(entry[f'{what}_held'] / clips, digits)}"

    peak_rows = [
        [*clips(name), *(" / ".join(num(100 * peaks[name][k]["peaks"][w] / peaks[name][k]["peaks"]["reference_peaks"])
                                    for w in ("0.5", "1.0")) + " %" for k in with_peaks)]
        for name in names
    ]  # fmt: skip
    pair_rows = [
        [*clips(name), *(held(peaks[name][k], "pairs", peaks[name]["clips"], 1) for k in kinds)] for name in names
    ]
    triplet_rows = [
        [*clips(name), *(held(peaks[name][k], "triplets", peaks[name]["clips"], 2) for k in kinds)] for name in names
    ]
    lines = [
        *table(["clips", "n", *(f"reference peaks held within a bin and ½ / 1 frame: {heading.get(k, k)}"
                                if k == with_peaks[0] else heading.get(k, k) for k in with_peaks)], peak_rows),
        "",
        *table(["clips", "n", *(f"reference pairs held at the true offset, share · a clip: {heading.get(k, k)}"
                                if k == kinds[0] else heading.get(k, k) for k in kinds)], pair_rows),
        "",
        *table(["clips", "n", *(f"reference triplets held, share · a clip: {heading.get(k, k)}"
                                if k == kinds[0] else heading.get(k, k) for k in kinds)], triplet_rows),
    ]  # fmt: skip
    dr0 = [peaks[name] for name in names if name.startswith("room-dr0/")]

    def repeated(what: str) -> str:
        family = sum(cell["family"][what] for cell in dr0)
        return percent(
            100 * sum(cell["clean"][what] + cell["family"][what] - cell["both"][what] for cell in dr0) / family
        )

    rooms = ", ".join(f"`{name}` RT60 {num(rt60, 2)} s" for name, rt60 in room["other_rooms_rt60_s"].items())
    note = (
        f"peaks {run_of(data['peaks'])}; the family's room: a direct path, early reflections and a diffuse tail of "
        f"RT60 {num(room['rt60_s'], 1)} s, {num(room['direct_to_reverberant_db'], 0)} dB direct to reverberant "
        f"(`room_impulse`, seed {room['seed']}); clips: the robustness set's `room-dr0` (bench/distortions.py's "
        f"`room`, RT60 0.4 s, 0 dB) and the same places in {rooms} at 0 dB; references: the track as it is "
        "(today's), in the family's room, in the same room 6 dB drier, and in the clips' own model (RT60 0.4 s, "
        "0 dB) with a tail of another seed (a bound, not a candidate); clean + family: the track's hashes and the "
        "family's new ones, as an index holding the family would (of the family's pairs and triplets in the "
        f"`room-dr0` clips' spans, {repeated('pairs')} and {repeated('triplets')} equal the track's own at the same "
        "frame, not stored twice)"
    )
    if "answers" in data:
        answers = data["answers"]
        arms = answers["arms"]
        names = list(arms)
        base = arms[names[0]]

        def right(name: str, cell: str) -> str:
            before = None if name == names[0] else base["answered"][cell]
            return _answered(arms[name]["answered"][cell], before)

        storage = [arms[name]["storage"] for name in names]
        cpu = [arms[name]["cpu_ms_a_never_indexed_clip"] for name in names]
        rows = [
            [f"{cell.split(':')[0]}, {cell.split(':')[1]} s", str(len(base["answered"][cell])),
             *(right(name, cell) for name in names)]
            for cell in base["answered"]
        ]  # fmt: skip
        rows += [
            ["never-indexed clips named as a track", num(base["unknown"], 0),
             *(num(arms[name]["unknown_matched"], 0) for name in names)],
            ["known clips named as another recording or place", "",
             *(num(arms[name]["known_wrong"], 0) for name in names)],
            ["index rows a second of audio: pairs + triplets", "",
             *(f"{num(kept['pairs_per_s'], 1)} + {num(kept['triplets_per_s'], 1)}" for kept in storage)],
            ["of which the family's", "",
             *(f"{num(kept['family_pairs_per_s'], 1)} + {num(kept['family_triplets_per_s'], 1)}" for kept in storage)],
            ["storage per audio hour", "", *(f"{num(kept['mb_per_audio_hour'], 2)} MB" for kept in storage)],
            ["CPU a never-indexed clip, p50 / p95", "", *(pair(ms["p50"], ms["p95"], "ms", 0) for ms in cpu)],
        ]  # fmt: skip
        lines += ["", *table(["cell", "clips", *(f"right: {name}" for name in names)], rows)]
        note += (
            f"; answers {run_of(answers)}: the engine as it is against in-memory indexes of the robustness set's "
            f"{num(answers['indexed_hours'], 2)} h, today's and with a family (`pN`: picked at N peaks a second, "
            "`-triplets`: its triplets alone; a row the track holds at the same frame not stored twice); the "
            f"benchmark's cells {answers['clips_a_cell']} clips each cut from the catalog's tracks as in "
            f"room_onsets.py; (+gained −lost) counts clips against {names[0]}; storage at the benchmark's bytes a "
            "stored row; CPU on the shared 2-core machine, the arms one after another"
        )
    return "\n".join([*lines, "", page.source("room_reference.json", note, how)])


def upload_progress(page: Page) -> str:
    """How an upload's progress follows its work, before and with the retries reported, and with
    each share of the bar the first pass could take (upload_progress.json)."""
    data = page.results.json("upload_progress.json")
    inputs, shares = data["inputs"], data["shares"]
    chosen = f"{data['first_pass_share']:.3f}"

    def sides(cell: dict, label: str) -> str:
        return f"{percent(100 * cell['bar'][label]['ahead'])} / {percent(100 * cell['bar'][label]['behind'])}"

    rows = [
        [name, f"{num(cell['audio_s'], 0)} s", num(cell["first_pass_s"], 2), num(cell["retries_s"], 2),
         percent(100 * cell["first_pass_share"]),
         f"{num(cell['longest_wait_s']['before'], 2)} / {num(cell['longest_wait_s']['now'], 2)}",
         sides(cell, "before"), *(sides(cell, share) for share in shares)]
        for name, cell in inputs.items()
    ]  # fmt: skip

    def heading(share: str) -> str:
        return f"first pass {share_label(share)}{' (chosen)' if share == chosen else ''}: ahead / behind"

    return "\n".join([
        *table(
            ["input", "audio", "first pass s", "retries s", "first pass, of the time",
             "longest wait between reports, before / now (s)", "before: ahead / behind",
             *(heading(share) for share in shares)],
            rows,
        ),
        "",
        page.source(
            "upload_progress.json",
            f"{run_of(data)}, medians of {data['runs']} runs ({data['machine']}): six synthetic songs in a row, "
            "played as recorded or faster or slower (tape-style), and six minutes of never-indexed synthetic music, "
            "through Identifier.timeline on an in-memory index of eight songs; retries: from the first pass's end "
            "to the answer; ahead / behind: how far the bar ran "
            "ahead of the share of the time elapsed at most, and behind it; before: the first pass's seconds over "
            "the input's, 100 % once the retries begin",
            "python -m bench.studies.upload_progress",
        ),
    ])  # fmt: skip


# The voice study's arms, as its tables name them (robustness.py ARMS).
VOICE_ARMS = {
    "wide-all-screen": "as it is",
    "dense": "`dense` (fp.QUERY_DENSE)",
    "dense-bands": "`dense-bands`",
    "dense-150": "`dense-150`",
}


def _voice_clips(page: Page, found: dict, part: str, made: str) -> list[str]:
    """The voice study's clips under each arm: right answers by cell beside the goal, unknown clips
    matched, what a never-indexed 5 s clip costs."""
    arms = [arm for arm in VOICE_ARMS if arm in found] + sorted(set(found) - set(VOICE_ARMS))
    first = found[arms[0]]
    rows = _cells_by_arm(found, arms)
    rows.append(["unknown clips matched", "", *(
        f"{found[arm]['false_matches']['matched']:,} of {found[arm]['false_matches']['queries']:,}"
        if found[arm]["false_matches"]["queries"] else "not run" for arm in arms
    ), "0 of ≥ 1,000"])  # fmt: skip
    rows.append(["values a 5 s unknown clip looks up in every track, p50 / p95", "", *(
        pair(found[arm]["unknown_5s_values"]["p50"], found[arm]["unknown_5s_values"]["p95"], "", 0).strip()
        if found[arm].get("unknown_5s_values") else "—" for arm in arms
    ), ""])  # fmt: skip
    rows.append(["engine ms a 5 s unknown clip (memory index), p50 / p95", "", *(
        pair(found[arm]["unknown_ms"]["5"]["p50"], found[arm]["unknown_ms"]["5"]["p95"], "ms", 0)
        if "5" in found[arm]["unknown_ms"] else "—" for arm in arms
    ), ""])  # fmt: skip
    clips = min(n for by in first["clips"].values() for n in by.values())
    return [
        *table(["condition", "clip", *(VOICE_ARMS.get(arm, f"`{arm}`") for arm in arms), "goal"], rows,
               text_columns=2),
        "",
        page.source("voice.json", f"runs of {', '.join(sorted({found[arm]['when'] for arm in arms}))}: "
                    f"{made.format(clips=clips)}; the arms in up to four processes at once beside other work on a "
                    "loaded 2-core machine: wall-clock times, not comparable between arms (the values are); an "
                    "in-memory index, no database",
                    f"python -m bench.studies.voice --part {part} --arms " + ",".join(arms)),
    ]  # fmt: skip


def voice(page: Page) -> str:
    """Music under a voice (voice.json): the set's voice-over and music 0 dB cells under each arm
    of the denser look, and uploads with a voice-over without and with the look on their windows."""
    data = page.results.json("voice.json")
    how = "python -m bench.studies.voice"
    lines: list[str] = []
    for part, made in (
        ("clips", "the robustness set's voice-over and music 0 dB cells ({clips} clips each) and its "
         "never-indexed clips"),
        ("fresh", "clips made by the study at 8 kHz from the decoded tracks, not the set: 5 s of the never-seen "
         "package under espeak-ng speech 5 and 10 dB louder or another never-indexed song at 0 dB ({clips} a cell), "
         "and never-indexed 5 s clips under the same in turn"),
    ):  # fmt: skip
        if part in data:
            lines += [*([""] if lines else []), *_voice_clips(page, data[part]["arms"], part, made)]
    if "uploads" in data:
        uploads = data["uploads"]
        arms = list(uploads["arms"])
        names = {"before": "without the denser look (before)", "dense": "with it (`window_dense_params`)"}

        def spread(arm: str, measure: str, kind: str, unit: str, digits: int) -> str:
            cell = uploads["arms"][arm][measure][kind]
            return pair(cell["p50"], cell["p95"], unit, digits).strip()

        rows = []
        for level in sorted(uploads["arms"][arms[0]]["by_level"], key=float):
            rows.append([f"a track under a voice {level} dB louder: found / right / seconds of its "
                         f"{num(uploads['arms'][arms[0]]['track_s'], 0)} covered", *(
                f"{c['found']} / {c['right']} of {c['inputs']} / {num(c['covered_s'], 1)} s"
                for c in (uploads["arms"][arm]["by_level"][level] for arm in arms)
            )])  # fmt: skip
        rows += [
            ["segments naming another track: with a track / never-indexed", *(
                f"{uploads['arms'][a]['false_segments_known']} / {uploads['arms'][a]['false_segments_unknown']} of "
                f"{uploads['arms'][a]['unknown_inputs']}" for a in arms)],
            ["engine CPU s a minute of input, p50 / p95: with a track", *(
                spread(a, "cpu_s_a_minute", "known", "s", 2) for a in arms)],
            ["never-indexed", *(spread(a, "cpu_s_a_minute", "unknown", "s", 2) for a in arms)],
            ["never-indexed, p50 of each arm ÷ the first's", *(
                _ratio(uploads["arms"][a]["cpu_s_a_minute"]["unknown"]["p50"]
                       / uploads["arms"][arms[0]]["cpu_s_a_minute"]["unknown"]["p50"]) for a in arms)],
            ["values a minute of never-indexed input looks up in every track, p50 / p95", *(
                spread(a, "values_a_minute", "unknown", "", 0) for a in arms)],
        ]  # fmt: skip
        lines += [
            *([""] if lines else []),
            *table(["uploads of 60 s", *(names.get(arm, f"`{arm}`") for arm in arms)], rows),
            "",
            page.source("voice.json", f"{run_of(uploads)} (load average {num(uploads['load_average'], 1)}): inputs "
                        "of 60 s with synthetic speech over all of them (espeak-ng, 5 and 10 dB louder in turn), 50 s "
                        "of a never-seen track between never-indexed music, and 60 s of never-indexed music; each "
                        "through `Identifier.timeline` in both arms, one after the other; CPU of the engine alone (no "
                        "decoding, no database), on an in-memory index of the catalog and the never-seen package",
                        how + " --part uploads"),
        ]  # fmt: skip
    return "\n".join(lines)


# The phases of robustness_cpu.json in the order the engine meets them, and what a reader calls them.
_CPU_PHASES = {
    "peaks": "peaks (spectrogram, maxima, budget)",
    "hashing as heard, smoothed, denser": "hashing as heard, smoothed and denser",
    "hashing the speed retries": "hashing the speed retries (near, wide screen, wide decided)",
    "lookups (memory index)": "lookups in the memory index (the database's part)",
    "votes and decisions": "votes, rankings and decisions",
    "sketches": "sketches",
}


def robustness_cpu(page: Page) -> str:
    """The engine's CPU on the robustness set (robustness_cpu.json): the engine at a commit, this
    checkout's, and this checkout's with the denser look on clips, timed clip by clip in turn;
    where a never-indexed 5 s clip's CPU goes; the answers that differ."""
    data = page.results.json("robustness_cpu.json")
    arms = list(data["arms"])
    names = {"before": f"before ({data['before']})", "now": "now", "now, denser look": "now, with the denser look"}
    rows = []
    for kind, label in (("unknown", "never-indexed"), ("known", "of the set")):
        for length in data["arms"][arms[0]]["ms"].get(kind, {}):
            cells = [data["arms"][arm]["ms"][kind][length] for arm in arms]
            rows.append([label, f"{length} s", f"{cells[0]['clips']:,}",
                         *(pair(c["p50"], c["p95"], "ms", 0) for c in cells)])  # fmt: skip
    answers = {arm: data["arms"][arm]["answers"] for arm in arms}
    rows.append(["never-indexed clips matched", "", "", *(
        f"{answers[arm].get('unknown matched', 0) + answers[arm].get('unknown right', 0)} of "
        f"{data['clips']['unknown']:,}" for arm in arms
    )])  # fmt: skip
    rows.append(["clips of the set answered right", "", "", *(
        f"{answers[arm].get('known right', 0):,} of {data['clips']['known']:,}" for arm in arms
    )])  # fmt: skip
    differing = len(data["answers_differing"])
    total = data["clips"]["known"] + data["clips"]["unknown"]
    phases = [
        [label, *(num(data["arms"][arm]["unknown_5s_phases_ms"].get(phase), 1) for arm in arms)]
        for phase, label in _CPU_PHASES.items()
    ]
    phases.append(["all", *(num(sum(data["arms"][arm]["unknown_5s_phases_ms"].values()), 1) for arm in arms)])
    how = f"python -m bench.studies.robustness_cpu --before {data['before']}"
    return "\n".join([
        *table(["clips", "length", "n", *(f"CPU ms, {names.get(arm, arm)}, p50 / p95" for arm in arms)], rows,
               text_columns=2),
        "",
        *table(["where a never-indexed 5 s clip's CPU goes, mean ms", *(names.get(arm, arm) for arm in arms)], phases),
        "",
        page.source("robustness_cpu.json", f"{run_of(data)} (load average {num(data['load_average'][0], 1)}, then "
                    f"{num(data['load_average'][1], 1)}): the robustness set's clips ({data['clips']['known']:,} of "
                    f"the set, {data['clips']['unknown']:,} never-indexed), each through every engine in turn, the "
                    "order rotating clip by clip; CPU of the engine on an in-memory index (no database, no "
                    f"decoding); answers that differ between before and now: {differing} of {total:,} (track, "
                    "place, score, bound, speed, pitch)", how),
    ])  # fmt: skip


def share_label(share: str) -> str:
    """A share of the bar as a percentage, "25 %" or "33.3 %"."""
    return percent(100 * float(share))


def catalog_search(page: Page) -> str:
    """The catalog search at 10^6 tracks (catalog_search.json): the first page, page 20, the count and
    a whole request before and after the capped count and the walk, and what the walk's rows cost."""
    data = page.results.json("catalog_search.json")
    how = "python -m bench.studies.catalog_search --keep"
    deep = data["deep_page"]

    def ms(value: float) -> str:
        return num(value, 0 if value >= 10 else 1)

    def fine_percent(fraction: float) -> str:
        return f"{num(100 * fraction, 2 if fraction < 0.01 else 1)} %"

    def change(cell: dict, measure: str) -> str:
        before, after = cell["before"][measure], cell["after"][measure]
        return "—" if before is None else f"{ms(before)} → {ms(after)}"

    rows = []
    for label, cell in data["capped_and_walked"].items():
        rows.append([
            f"{label}: `{cell['words']}`", fine_percent(cell["share"]), fine_percent(cell["estimated_share"]),
            " / ".join(cell["plan"].values()), change(cell, "page_ms"), change(cell, "deep_page_ms"),
            change(cell, "count_ms"), change(cell, "request_ms"), "yes" if cell["same_rows"] else "**no**",
        ])  # fmt: skip
    walked = []
    for cell in data["capped_and_walked"].values():
        if "calibration" in cell:
            costs = cell["calibration"]
            walked.append([
                f"`{cell['words']}`", num(costs["rows_walked"], 0), num(costs["walk_us_per_row"], 1),
                num(costs["union_us_per_id"], 1), num(costs["ratio"], 1),
            ])  # fmt: skip
    start = data["with_index"]
    common = next(label for label in start if label.startswith("common"))
    header = ["search", "share of the tracks", "PostgreSQL's estimate", f"plan: page 1 / page {deep}",
              "page 1, ms: before → after", f"page {deep}", "count", "count and page 1", "same rows"]  # fmt: skip
    costs_header = ["walked word", "tracks read for page 1", "µs a track read", "µs an id the union sorts", "ratio"]
    note = (
        f"{run_of(data)}: {num(data['tracks'], 0)} tracks and {num(data['artists'], 0)} artists, wall time of "
        f"reads through the ORM, median of {data['runs']} after one; before is `track_search` and Django's Paginator, "
        f"after `TrackSearch` and the paginator counting to {num(data['count_cap'], 0)}, in the same run (a page "
        f"alone asks PostgreSQL's estimate, which in a request the count spares a word with fewer matches than "
        f"that); "
        f"WALK_COST_RATIO {num(data['walk_cost_ratio'], 1)}. Without the title order (the schema before "
        f"catalog 0005), EXPLAIN ANALYZE gave the common word {ms(start[common]['page']['median_ms'])} ms "
        f"for its page and {ms(start[common]['count']['median_ms'])} ms for its count"
    )
    return "\n".join([
        *table(header, rows), "", *table(costs_header, walked), "", page.source("catalog_search.json", note, how),
    ])  # fmt: skip


BLOCKS = {
    "headline": headline,
    "growth": growth,
    "growth_wide": growth_wide,
    "live": live,
    "faults": faults,
    "abuse": abuse,
    "ingest": ingest,
    "monitor": monitor,
    "monitor_faults": monitor_faults,
    "reports": reports,
    "reports_pages": reports_pages,
    "retroactive": retroactive,
    "sandbox": sandbox,
    "latency": latency,
    "latency_followup": latency_followup,
    "latency_ingest": latency_ingest,
    "ingest_cpu": ingest_cpu,
    "api_profile": api_profile,
    "robustness": robustness,
    "robustness_cpu": robustness_cpu,
    "timeline_speeds": timeline_speeds,
    "room": room,
    "room_onsets": room_onsets,
    "room_reference": room_reference,
    "dense_gate": dense_gate,
    "engine_ab_sorts": lambda page: engine_ab(page, "engine_ab_sorts.json"),
    "engine_ab_sort_groups": lambda page: engine_ab(page, "engine_ab_sort_groups.json"),
    "sort_runs": sort_runs,
    "upload_progress": upload_progress,
    "voice": voice,
    "catalog_search": catalog_search,
}
