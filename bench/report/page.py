"""docs/benchmarks.md: what each benchmark measures, how to run it, and its latest results."""

from __future__ import annotations

import re

from bench import queries as query_set
from bench.report import blocks
from bench.report.benchmark import accuracy_table, comparison_notes, summary_table
from bench.report.render import Page, percent, run_of, share, table

# command, what it measures, how long it takes here (2 cores), what it writes in bench/results
BENCHMARKS = [
    ("make bench", "accuracy, speed and storage on real music, Earshot beside Dejavu", "~75 min",
     "results.json, results.md, accuracy_vs_snr.png"),
    ("make growth", "query latency as the catalog grows to 3 × 10⁸ hashes; after `make bench`",
     "~20 min, ~15 GB of disk", "growth.json, growth.png"),
    ("make bench-live", "time to answer over a websocket, concurrent sockets and API clients; after `make bench`",
     "~6 min", "live.json"),
    ("make bench-latency", "file to answer: `recognize --json`, other formats, a batch, the partner API, ingest; "
     "the code before issue 39's change beside the code now", "~30 min", "latency.json"),
    ("make faults", "ingest atomicity under SIGKILL, a terminated backend and PostgreSQL stopped", "~10 min",
     "faults.json"),
    ("make bench-monitor", "monitors on live loopback stations: detection delay, start/end error, misses, false "
     "detections, CPU per stream-hour, streams two cores hold", "~25 min", "monitor.json"),
    ("make faults-monitor", "monitors under faults: worker SIGKILLed, stream server and PostgreSQL restarted "
     "(scratch cluster)", "~8 min", "monitor_faults.json"),
    ("make abuse", "availability under hostile files, body floods and socket abuse; after `make bench`", "~3 min",
     "abuse.json"),
    ("make fuzz", "atheris fuzz targets: fingerprint, listen, decode", "3 × `FUZZ_SECONDS` (6 min)", "fuzz.log"),
    ("make fuzz-api", "schemathesis against the OpenAPI schema, on a throwaway database", "~5 min",
     "schemathesis.json"),
    ("python -m bench.run --only earshot", "`make bench` for Earshot alone, after an engine change", "~10 min",
     "results_earshot.json"),
    ("python -m bench.studies.ingest_cost", "where ingest's CPU goes, stage by stage; after `make bench`", "~6 min",
     "ingest_cost.txt"),
]  # fmt: skip

CONDITIONS = (
    "Conditions: `clean`; `white+10` … `white-10`, white noise at that SNR in dB over 0–22 kHz; `music+5`, "
    "`music0`, another track mixed in at 5 and 0 dB; `mp3-64k`, MP3 at 64 kbps; `phone`, a 300–3400 Hz band "
    "with line noise at 10 dB; `room`, a synthetic room (RT60 0.4 s); `speed+2`, `speed-2`, played 2 % "
    "faster or slower, pitch and tempo together."
)


def benchmark_section(page: Page) -> list[str]:
    report = page.results.json("results.json")
    lines = [
        "## Accuracy, speed and storage (`make bench`)",
        "",
        "The catalog is three Debian game soundtracks (`drascula-music`, `asc-music`, `warzone2100-music`), "
        "deduplicated by content; a seeded tenth of their tracks is never indexed and measures false matches, "
        "and `hyperrogue-music`, never used for tuning, measures them again (`bench/corpus.py`). Queries are "
        "excerpts at seeded random offsets, 1, 2, 3, 5 and 10 s long, cut from the files decoded at 44.1 kHz "
        "and distorted there, so both engines get the same bytes (`bench/queries.py`, `bench/distortions.py`). "
        "An answer naming another file counts as right when that file holds the same recording at the "
        "answered offset (`bench/versions.py`). Earshot and Dejavu (`PyDejavu-Rollong` in its own venv, "
        "`bench/baseline/`) run one after the other on the same files, queries and machine, each on its own "
        "PostgreSQL database; latencies are taken one query at a time.",
        "",
        "White noise at a stated SNR is white over 0–22 kHz, as in a room; the engine hears 0–4 kHz, where "
        "white noise keeps less of its power than music does, so each white-noise cell is easier in the "
        "engine's band than its label.",
        "",
        "```sh",
        "make bench                                        # both engines; installs the soundtracks and Dejavu",
        ".venv/bin/python -m bench.run --only earshot      # Earshot alone: bench/results/results_earshot.json",
        ".venv/bin/python -m bench.run --resume            # reuse an engine's answers saved in bench/out/",
        "```",
        "",
        f"### Results, {run_of(report)}",
        "",
        report["setup"],
        "",
        page.source("results.json", run_of(report), "make bench"),
        "",
    ]
    for name in ("earshot", "dejavu"):
        if report.get(name):
            lines += accuracy_table(report[name], report["per_cell"], name.capitalize(), level="####")
    lines += [CONDITIONS, "", "#### Summary", "", *summary_table(report["earshot"], report.get("dejavu"))]
    lines += comparison_notes(report)
    plot = page.link(page.results.folder / "accuracy_vs_snr.png")
    lines += ["", f"![accuracy against white-noise SNR, per query length]({plot})", ""]
    alone = blocks.earshot_alone(page, report)
    if alone:
        lines += earshot_alone_section(page, report, alone)
    return lines


def earshot_alone_section(page: Page, report: dict, alone: dict) -> list[str]:
    """The newer Earshot-only run against Earshot's column of the run beside Dejavu."""
    before, after = report["earshot"]["accuracy"], alone["earshot"]["accuracy"]
    changed = [
        f"{condition} {length} s {share(before[condition][length])} → {percent(after[condition][length])}"
        for condition in query_set.CONDITIONS
        for length in (f"{x:g}" for x in query_set.LENGTHS_S)
        if before.get(condition, {}).get(length) != after.get(condition, {}).get(length)
    ]
    cells = len(query_set.CONDITIONS) * len(query_set.LENGTHS_S)
    accuracy = (
        f"every one of the {cells} accuracy cells is as in the run beside Dejavu"
        if not changed
        else f"{len(changed)} of the {cells} accuracy cells differ from the run beside Dejavu: " + "; ".join(changed)
    )
    return [
        f"### Earshot alone, {run_of(alone)}",
        "",
        f"{alone['setup']} In this run {accuracy}. Speeds come from another machine: compare them with each "
        "other, not with Dejavu's.",
        "",
        *summary_table(alone["earshot"], report["earshot"], names=(alone["when"], report["when"])),
        "",
        page.source("results_earshot.json", run_of(alone), "python -m bench.run --only earshot"),
        "",
    ]


def fuzz_section(page: Page) -> list[str]:
    log = page.results.text("fuzz.log")
    started = re.search(r"^# (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z)", log, re.MULTILINE)
    rows = []
    for target, body in re.findall(r"^== (\S+) for \S+\n(.*?)(?=^== |\Z)", log, re.MULTILINE | re.DOTALL):
        done = re.search(r"Done (\d+) runs in (\d+) second", body)
        rows.append([f"`{target}`", f"{int(done[1]):,}" if done else "stopped early", done[2] if done else "—"])
    schema = page.results.json("schemathesis.json")
    statuses = sorted({status for counts in schema["runs"].values() for status in counts})
    return [
        "## Fuzzing (`make fuzz`, `make fuzz-api`)",
        "",
        "`make fuzz` runs each atheris target of `tests/fuzz/` for `FUZZ_SECONDS` (a crash is written to "
        "`tests/fuzz/crashes/` and fails the run); `make fuzz-api` sends schemathesis' generated requests to "
        "every operation of the partner API, as a rights holder and as a partner, and fails on any 5xx.",
        "",
        *table(["target", "inputs run", "seconds"], rows),
        "",
        page.source("fuzz.log", f"run of {started[1]}" if started else "run date not recorded", "make fuzz"),
        "",
        *table(
            ["API key", *statuses],
            [[who, *(f"{counts.get(status, 0):,}" for status in statuses)] for who, counts in schema["runs"].items()],
        ),
        "",
        f"{schema['requests']:,} requests, {schema['server_errors']} server errors.",
        "",
        page.source("schemathesis.json", run_of(schema), "make fuzz-api"),
        "",
    ]


def benchmarks_page(page: Page) -> str:
    """The whole of docs/benchmarks.md."""
    results = page.link(page.results.folder)
    lines = [
        "<!-- Generated by `python -m bench.report` (make report) from bench/results: edit bench/report/. -->",
        "",
        "# Benchmarks",
        "",
        f"Every figure here comes from the latest results file of its benchmark in [`bench/results/`]({results}), "
        "through `python -m bench.report` (`make report`); each table names its file and its run, and git "
        "keeps the runs before. CI fails when a results file changes and this page does not "
        "(`tests/bench/test_report.py`).",
        "",
        *table(
            ["command", "what it measures", "takes", "writes"],
            [[f"`{command}`", what, takes, writes] for command, what, takes, writes in BENCHMARKS],
            text_columns=4,
        ),
        "",
        *benchmark_section(page),
        "## Ingest speed",
        "",
        "Ingest is timed in `make bench`: one process decodes, fingerprints and writes each file, by the wall "
        "clock and per core (the CPU of Python, of the ffmpeg children and of the PostgreSQL "
        "backend, summed), beside ffmpeg alone decoding the same files to the engine's rate, the floor under "
        "it. `python -m bench.studies.ingest_cost --rounds 3` splits that CPU by stage.",
        "",
        blocks.ingest(page),
        "",
        "## Latency as the catalog grows (`make growth`)",
        "",
        "`bench/growth.py` copies the benchmark's database and grows it with synthetic tracks of ~3 minutes "
        "whose triplet rows and pairs draw their hashes from the real ones, with frame sketches of random "
        "bits, rebuilding the indexes after each bulk load and prewarming the tables as a running server "
        "has them. At each size it times 5 s clean catalog clips and never-seen clips (engine + PostgreSQL, "
        "audio decoded beforehand), checks the answers, and times deleting a track of 10⁶ hashes through "
        "the service. `python -m bench.growth --sizes 1e7 1e8` grows to other sizes.",
        "",
        blocks.growth(page),
        "",
        f"![query latency against catalog size]({page.link(page.results.folder / 'growth.png')})",
        "",
        "## Live recognition and load (`make bench-live`)",
        "",
        "Against the benchmark's catalog and a real Daphne: `python -m bench.live answer` streams catalog "
        "excerpts over the websocket and counts the audio heard until the answer; `ws-load` opens 1, 10 and "
        "25 sockets at once, three times each; `api-load` has 4 and 8 partner clients post clips for 60 s.",
        "",
        blocks.live(page),
        "",
        "## File to answer, before and after (`make bench-latency`)",
        "",
        "`python -m bench.latency` times what a user waits for, from a file's path to its answer: `recognize "
        "--json` in one process (its `elapsed_ms`) on 5 s WAV clips cut from the corpus (44.1 kHz mono) and on "
        "the same clips as MP3, Ogg/Opus, AAC and WebM; `manage.py recognize --json` over a batch of files by "
        "the wall clock; the partner API on its own Daphne at 1 and 8 clients (5 s WAV at 8 kHz); ingest "
        "beside ffmpeg alone. The code before issue 39's change (one probe and one decode per file, each a new "
        "ffmpeg) runs from `git archive` beside this checkout, round by round in the same run.",
        "",
        blocks.latency(page),
        "",
        "Ingest once it overlaps its stages (one file read ahead while the one before is written, a pipe that "
        "holds a chunk, forked workers), beside the code before it (docs/decisions.md, Ingest, overlapped):",
        "",
        blocks.latency_ingest(page),
        "",
        "## Ingest under faults (`make faults`)",
        "",
        "Each fault strikes a running ingest at a random moment, on a scratch PostgreSQL cluster; after every "
        "trial no track may have a hash count other than its rows and no row may lack its track. A control "
        "ingest that commits the track before its hashes must be caught by the same check.",
        "",
        blocks.faults(page),
        "",
        "## Monitors on live streams (`make bench-monitor`, `make faults-monitor`)",
        "",
        "`bench/monitor/` indexes half of the corpus's recordings on a scratch database and starts loopback "
        "stations: paced Icecast-style MP3 (a 2 s burst on connect, then real time) and live HLS (2 s segments), "
        "each looping a seeded playlist of catalog excerpts of 20–40 s (cut or crossfaded, 2 s), music never "
        "indexed (the other half, and `hyperrogue-music`), speech-like sound and silence. Monitors are created "
        "through the API of a live Daphne and listened to by two real `manage.py monitor_worker` processes. "
        "A song's start is its airtime on the station's clock (on HLS, for the delay, the publication of the "
        "segment holding it); a play counts when the monitor heard all of it. CPU is the workers' with their "
        "ffmpeg children and PostgreSQL's, from /proc. `python -m bench.monitor --quick` is a ~5 min smoke run.",
        "",
        blocks.monitor(page),
        "",
        "Faults (RELIABILITY.md G23), on a scratch PostgreSQL cluster that the run restarts:",
        "",
        blocks.monitor_faults(page),
        "",
        "## Availability under abuse (`make abuse`)",
        "",
        "While hostile files, 1 GiB bodies without a length and socket abuse run at once, a canary recognises "
        "a catalog clip every 5 s and a probe asks `/healthz` twice a second.",
        "",
        blocks.abuse(page),
        "",
        *fuzz_section(page),
        "## Tuning studies",
        "",
        "`bench/studies/` holds the tools used to choose the engine's parameters, run as "
        "`python -m bench.studies.<name>`: `sweep` (the benchmark's queries against an in-memory index under "
        "other settings), `noise_study` (fresh noisy clips, variants of the smoothed retry), `margin` (how close "
        "unknown clips come to the false-match threshold), `stages` (where a query's time goes on the grown "
        "catalog), `engine_ab` (this engine against an earlier commit's on the grown catalog, interleaved, "
        "with any answer that differs), `probe_repeats` (how many of a clip's probes earlier clips made) "
        "and `ingest_cost`. They are for choosing, not quoting: what they "
        "printed is kept in `bench/results/studies/`, and what was decided from it in `docs/decisions.md`.",
        "",
    ]
    return "\n".join(lines)
