"""Live recognition against a real Daphne: time to answer, websocket load, and API load.

    .venv/bin/python -m bench.live answer   [--excerpts 40]      # G2: audio heard until the answer
    .venv/bin/python -m bench.live ws-load  [--sessions 1 10 25] [--repeats 3]  # G1: concurrent sockets
    .venv/bin/python -m bench.live api-load [--clients 4 8]      # G3: concurrent partner clients

Runs against the benchmark database (earshot_bench, filled by bench/run.py) with its own Daphne.
Audio is streamed at real-time pace in 250 ms frames, exactly as the record page sends it.
Results are appended to bench/results/live.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench import OUT, RESULTS, ROOT, corpus, distortions, versions

DSN = "postgres://postgres@127.0.0.1:5432/earshot_bench"
FRAME = 2000  # 250 ms at 8 kHz
LIVE_RESULTS = RESULTS / "live.json"


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def start_daphne(**extra_env) -> tuple[subprocess.Popen, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": DSN,
        "DJANGO_DEBUG": "false",
        "REDIS_URL": "redis://127.0.0.1:6379/12",
        "EARSHOT_LISTEN_ANONYMOUS_SOCKETS": "1000",
        "EARSHOT_LISTEN_ANONYMOUS_MAX_AUDIO_S": "20",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DJANGO_MEDIA_ROOT": str(OUT / "live-media"),  # abuse uploads stay out of ./media
        **extra_env,
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("daphne")), "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.2)
    raise SystemExit("daphne did not start")


def stop_daphne(process: subprocess.Popen) -> None:
    """Stop a Daphne started here; it can linger on open keep-alive connections after SIGTERM."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def excerpts(count: int, seconds: float, snr_db: float | None, seed: int) -> list[tuple[str, float, np.ndarray]]:
    """(source path, start, 8 kHz samples) of catalog excerpts, optionally with white noise."""
    from recognition.engine import audio

    manifest = corpus.load_or_build(OUT / "corpus.json")
    rng = np.random.default_rng(seed)
    chosen = []
    for _ in range(count):
        item = manifest["indexed"][int(rng.integers(len(manifest["indexed"])))]
        start = float(rng.uniform(0, max(0.0, item["duration_s"] - seconds - 1)))
        x = audio.decode(item["path"], sample_rate_hz=44100, max_seconds=seconds, start_s=start)
        if snr_db is not None:
            x = distortions.add_noise(x, snr_db, rng)
        from scipy import signal

        chosen.append((item["path"], start, signal.resample_poly(x, 8000, 44100).astype(np.float32)))
    return chosen


async def listen(port: int, samples: np.ndarray) -> dict:
    """Stream one excerpt like the page does; return the answer, audio heard and wall times."""
    import websockets

    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/ws/listen/", origin=f"http://127.0.0.1:{port}", max_size=2**20
    ) as socket_:
        await socket_.recv()  # listening
        started = time.perf_counter()
        sent_s = 0.0

        async def send_all():
            nonlocal sent_s
            for offset in range(0, len(pcm), FRAME * 2):
                await socket_.send(pcm[offset : offset + FRAME * 2])
                sent_s += FRAME / 8000
                await asyncio.sleep(0.25)

        sender = asyncio.create_task(send_all())
        try:
            while True:
                message = json.loads(await asyncio.wait_for(socket_.recv(), timeout=60))
                if message["type"] in {"match", "no_match", "error"}:
                    wall_s = time.perf_counter() - started
                    break
        finally:
            sender.cancel()
    heard = message.get("heard_s", 0.0)
    return {
        "type": message["type"],
        "match": message.get("match"),
        "heard_s": heard,
        "wall_s": wall_s,
        # Time from sending the frame that completed the audio the answer needed (frame k goes
        # out at k x 250 ms, so the one ending at `heard` left at heard - 250 ms) to the answer.
        "delay_s": max(0.0, wall_s - (heard - FRAME / 8000)),
    }


def track_names() -> dict[int, str]:
    """Catalog track id -> the corpus file it was ingested from (matched by SHA-256)."""
    import psycopg2

    manifest = corpus.load_or_build(OUT / "corpus.json")
    path_of = {item["sha256"]: item["path"] for item in manifest["indexed"]}
    with psycopg2.connect(DSN) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT id, sha256 FROM catalog_track")
        return {track_id: path_of.get(digest, "") for track_id, digest in cursor.fetchall()}


def summary(runs: list[dict], truths: list[tuple[str, float]], names: dict[int, str]) -> dict:
    """Medians and p95s; a match is right when it names the track the excerpt was cut from, or
    another that holds the same recording at the answered offset (bench/versions.py)."""

    def is_right(run: dict, truth: tuple[str, float]) -> bool:
        answered = names.get(run["match"]["track_id"])
        if not answered:  # a track that is not a corpus file (the demo catalog)
            return False
        return versions.same_recording(*truth, answered, run["match"].get("offset_s"), 5.0)

    matched = [(r, truth) for r, truth in zip(runs, truths, strict=True) if r["type"] == "match"]
    right = [r for r, truth in matched if is_right(r, truth)]
    wrong = [(r, truth) for r, truth in matched if not is_right(r, truth)]
    wrong_pairs = [
        {"heard": truth[0], "answered": names.get(r["match"]["track_id"]), "offset_s": r["match"].get("offset_s")}
        for r, truth in wrong
    ]
    heard = [r["heard_s"] for r in right]
    return {
        "wrong_answers": wrong_pairs,
        "sessions": len(runs),
        "matched_right": len(right),
        "matched_wrong": len(wrong),
        "no_match": sum(r["type"] == "no_match" for r in runs),
        "errors": sum(r["type"] == "error" for r in runs),
        "heard_s_p50": round(statistics.median(heard), 2) if heard else None,
        "heard_s_p95": round(percentile(heard, 95), 2) if heard else None,
        "wall_s_p50": round(statistics.median([r["wall_s"] for r in right]), 2) if right else None,
        "delay_s_p50": round(statistics.median([r["delay_s"] for r in right]), 2) if right else None,
        "delay_s_p95": round(percentile([r["delay_s"] for r in right], 95), 2) if right else None,
    }


def answer(args) -> dict:
    process, port = start_daphne()
    names = track_names()
    results = {}
    try:
        for label, snr in (("clean", None), ("white+10", 10.0)):
            chosen = excerpts(args.excerpts, 15, snr, seed=21 if snr is None else 22)
            runs = [asyncio.run(listen(port, x)) for _, _, x in chosen]
            results[label] = summary(runs, [(path, start) for path, start, _ in chosen], names)
            print(label, results[label], flush=True)
    finally:
        stop_daphne(process)
    return {"time_to_answer": results}


async def _together(port: int, clips: list[np.ndarray]) -> list[dict]:
    return await asyncio.gather(*(listen(port, x) for x in clips))


def ws_load(args) -> dict:
    process, port = start_daphne()
    names = track_names()
    results = {}
    try:
        for sessions in args.sessions:
            # G1 asks for the median of 3 runs: each run is a fresh set of excerpts, all at once.
            repeats = []
            for repeat in range(args.repeats):
                chosen = excerpts(sessions, 15, None, seed=100 + 7 * sessions + repeat)
                runs = asyncio.run(_together(port, [x for _, _, x in chosen]))
                repeats.append(summary(runs, [(path, start) for path, start, _ in chosen], names))
                print(sessions, repeat, repeats[-1], flush=True)
            p95s = [r["delay_s_p95"] for r in repeats if r["delay_s_p95"] is not None]
            results[str(sessions)] = {
                "runs": repeats,
                "delay_s_p95_median_of_runs": round(statistics.median(p95s), 2) if p95s else None,
                "wrong_matches": sum(r["matched_wrong"] for r in repeats),
                "errors": sum(r["errors"] for r in repeats),
            }
    finally:
        stop_daphne(process)
    return {"websocket_load": results}


def _wav_bytes(samples: np.ndarray) -> bytes:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(8000)
        handle.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def _hammer(port: int, key: str, clips: list, names: dict, clients: int, seconds: float) -> dict:
    """`clients` partners posting clips back to back for `seconds`; throughput, latency, errors."""
    import requests

    latencies: list[float] = []
    counts = {"errors": 0, "right": 0}
    statuses: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    def client(i: int) -> None:
        session = requests.Session()
        n = i
        while time.monotonic() < deadline:
            truth, body = clips[n % len(clips)]
            n += clients
            started = time.perf_counter()
            try:
                response = session.post(
                    f"http://127.0.0.1:{port}/api/v1/recognitions",
                    files={"file": ("clip.wav", body, "audio/wav")},
                    headers={"Authorization": f"Api-Key {key}"},
                    timeout=60,
                )
            except requests.RequestException:
                counts["errors"] += 1
                continue
            latencies.append(time.perf_counter() - started)
            statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
            if response.status_code != 200:
                counts["errors"] += 1
            elif names.get((response.json()["match"] or {}).get("track_id")) == truth:
                counts["right"] += 1

    began = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    elapsed = time.monotonic() - began
    return {
        "requests": len(latencies),
        "errors": counts["errors"],
        "statuses": statuses,  # 503 = shed by the load shedder (EARSHOT_MAX_QUEUED_HEAVY), by design
        "right_matches": counts["right"],
        "per_second": round(len(latencies) / elapsed, 2),
        "per_second_per_core": round(len(latencies) / elapsed / (os.cpu_count() or 1), 2),
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(percentile(latencies, 95), 3) if latencies else None,
    }


def api_load(args) -> dict:
    process, port = start_daphne(EARSHOT_API_RATE_PER_MINUTE="1000000", EARSHOT_API_BURST="1000000")
    key = (
        subprocess.run(
            [sys.executable, "manage.py", "create_api_key", "bench-load", "--name", "load"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": DSN},
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    names = track_names()
    chosen = excerpts(40, 10, None, seed=33)
    clips = [(path, _wav_bytes(x)) for path, _, x in chosen]
    results = {}
    try:
        for clients in args.clients:
            results[str(clients)] = _hammer(port, key, clips, names, clients, args.seconds)
            print(clients, results[str(clients)], flush=True)
    finally:
        stop_daphne(process)
    return {"api_load": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("answer")
    p.add_argument("--excerpts", type=int, default=40)
    p = sub.add_parser("ws-load")
    p.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 25])
    p.add_argument("--repeats", type=int, default=3)
    p = sub.add_parser("api-load")
    p.add_argument("--clients", type=int, nargs="+", default=[4, 8])
    p.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    result = {"answer": answer, "ws-load": ws_load, "api-load": api_load}[args.command](args)
    saved = json.loads(LIVE_RESULTS.read_text()) if LIVE_RESULTS.exists() else {}
    when = time.strftime("%Y-%m-%d %H:%M")
    saved.update(result, when=when)
    saved.setdefault("measured", {}).update(dict.fromkeys(result, when))  # each part is run on its own
    LIVE_RESULTS.parent.mkdir(exist_ok=True)
    LIVE_RESULTS.write_text(json.dumps(saved, indent=1))


if __name__ == "__main__":
    main()
