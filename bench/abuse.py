"""Availability under abuse (RELIABILITY.md G22, with G4, G6, G7 and G9), against a real Daphne.

    .venv/bin/python -m bench.abuse [--seconds 120]

While the abusers run at once, a canary recognises a real catalog clip every 5 s and a probe
asks /healthz twice a second:

* hostile files: the whole hostile-file corpus, posted to the API again and again;
* body floods: 1 GiB bodies without Content-Length, streamed as fast as loopback allows;
* anonymous floods: 8 clients at once posting 150 MB bodies with no credential to every upload
  path, declared or chunked (each must get 401 on its head, not the upload allowance);
* socket abuse: oversized frames, message floods, text frames and too many sockets;
* sign-in flood: password guesses against one account and fresh sign-ups, as fast as answered
  (`--abusers signin`; accounts/limits.py should turn most into 429s);
* webhook tarpit (`--abusers tarpit`): a partner's webhooks point at a receiver that answers one
  byte every 4 s and at one that answers 1 GB, beside an honest receiver; a webhook worker
  (`db_worker --queue-name webhooks`) delivers a notice to all three every 2 s. Reported: how
  long the honest receiver waited (p95), how the tarpit attempts ended, the worker's memory.

Reports the canary's and the probe's success rates, every status the abusers got (no 5xx is
allowed), and the server's memory growth. Runs on the benchmark database (bench/run.py first).
Results: bench/results/abuse.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import requests

from bench import RESULTS, ROOT, live

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def api_key(name: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", name, "--name", "abuse"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": live.DSN},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def hostile_files() -> list[tuple[str, bytes]]:
    import django

    django.setup()
    from tests import hostile

    folder = Path(tempfile.mkdtemp())
    files = []
    for entry in hostile.CORPUS:
        if entry.name == "10 h of silence as FLAC":
            continue  # 2 s to build each time; the rest cover its code path (too long)
        files.append((entry.filename, hostile.build(entry, folder).read_bytes()))
    return files


def anonymous_large_post(port: int, path: str, *, declared: bool) -> tuple[str, float, float]:
    """Post 150 MB to `path` without a credential; return (status, seconds to the answer, MB sent)."""
    import select
    import socket

    size, piece = 150 * 10**6, b"\0" * (64 * 1024)
    framing = f"Content-Length: {size}" if declared else "Transfer-Encoding: chunked"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{framing}\r\nConnection: close\r\n\r\n".encode()
    chunk = piece if declared else f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    started, sent = time.monotonic(), 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        client.sendall(head)
        try:
            while sent < size and not select.select([client], [], [], 0)[0]:
                client.sendall(chunk)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed; its answer is still to read
        answer = client.recv(64)
    status = answer.split(b" ")[1].decode() if answer.count(b" ") else "none"
    return status, time.monotonic() - started, sent / 1e6


class Tarpit:
    """A loopback webhook receiver: `drip` sends one byte every 4 s, `gigabyte` a 1 GB answer, `honest` 200."""

    def __init__(self, mode: str):
        import socket

        self.mode = mode
        self.arrivals: list[float] = []  # the honest receiver: when each notice came
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection) -> None:
        try:
            request = connection.recv(65536)
            if self.mode == "drip":
                for byte in b"HTTP/1.1 200 OK\r\n" * 100:
                    connection.sendall(bytes([byte]))
                    time.sleep(4)
            elif self.mode == "gigabyte":
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
                chunk = b"\0" * 65536
                for _ in range(1_000_000_000 // len(chunk)):
                    connection.sendall(chunk)
            else:
                self.arrivals.append(time.time())
                if b"\r\n\r\n" in request:
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        finally:
            connection.close()


def tarpit_run(stop: float, statuses: Counter) -> dict:
    """Notify three webhooks (drip, 1 GB, honest) every 2 s through a real webhook worker."""
    import django

    django.setup()
    from django.db import transaction

    from accounts.models import Role, User
    from recognition.models import Recognition, Webhook, WebhookDelivery
    from recognition.services.webhooks import webhooks_notify

    receivers = {mode: Tarpit(mode) for mode in ("drip", "gigabyte", "honest")}
    user, _ = User.objects.get_or_create(username="abuse-tarpit", defaults={"role": Role.PARTNER})
    Webhook.objects.filter(user=user).delete()
    for receiver in receivers.values():
        Webhook.objects.create(user=user, url=receiver.url, secret_encrypted=_encrypted_secret())
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--queue-name", "webhooks", "--interval", "0.2", "--no-reload"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_DEBUG": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker_memory_before = 0.0
    sent: list[float] = []
    try:
        time.sleep(3)
        worker_memory_before = rss_mb(worker.pid)
        while time.monotonic() < stop:
            with transaction.atomic():
                job = Recognition.objects.create(user=user, status=Recognition.Status.DONE)
                webhooks_notify(job)
            sent.append(time.time())
            time.sleep(2)
        time.sleep(6)  # the last notices' attempts end within their deadline
        worker_memory_after = rss_mb(worker.pid)
    finally:
        worker.terminate()
        worker.wait(30)
    honest = receivers["honest"].arrivals
    waits = [arrived - queued for queued, arrived in zip(sent, honest, strict=False)]
    for delivery in WebhookDelivery.objects.filter(webhook__user=user).select_related("webhook"):
        mode = next(m for m, r in receivers.items() if r.url == delivery.webhook.url)
        statuses[f"tarpit {mode} {delivery.status} {delivery.last_error[:40]}".strip()] += 1
    switched_off = list(Webhook.objects.filter(user=user, active=False).values_list("url", "disabled_reason"))
    return {
        "webhook_notices_sent": len(sent),
        "webhook_honest_received": len(honest),
        "webhook_honest_wait_p95_s": round(float(np.percentile(waits, 95)), 2) if waits else None,
        "webhook_worker_rss_mb_before_after": [round(worker_memory_before), round(worker_memory_after)],
        "webhooks_switched_off": [reason for _, reason in switched_off],
    }


def _encrypted_secret() -> str:
    from portal import crypto

    return crypto.encrypt("whsec_abuse")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120)
    abusers = ["hostile", "flood", "anonymous", "sockets", "signin", "tarpit"]
    parser.add_argument("--abusers", nargs="+", default=abusers, choices=abusers)
    parser.add_argument("--env", nargs="*", default=[], help="extra NAME=VALUE for the server")
    args = parser.parse_args()
    if "tarpit" in args.abusers:  # before Django is set up here: the tarpit's webhooks live on loopback
        os.environ["DATABASE_URL"] = live.DSN
        os.environ["EARSHOT_WEBHOOKS_ALLOW_PRIVATE"] = "true"
    # No per-key throttle: the hostile files must reach the decoder, not stop at a 429.
    server, port = live.start_daphne(
        EARSHOT_API_RATE_PER_MINUTE="100000", EARSHOT_API_BURST="100000", **dict(a.split("=", 1) for a in args.env)
    )
    base = f"http://127.0.0.1:{port}"
    canary_key, abuser_key = api_key("canary"), api_key("abuser")
    names = live.track_names()
    path, _, samples = live.excerpts(1, 10, None, seed=5)[0]
    clip = live._wav_bytes(samples)
    files = hostile_files()
    stop = time.monotonic() + args.seconds
    statuses: Counter = Counter()
    canary: list[bool] = []
    health: list[bool] = []
    anonymous_seconds: list[float] = []  # from connecting to the answer, per anonymous large post
    anonymous_sent_mb: list[float] = []  # body bytes it got to send before the answer
    memory_before = rss_mb(server.pid)

    def hostile_loop():
        session = requests.Session()
        i = 0
        while time.monotonic() < stop:
            name, body = files[i % len(files)]
            i += 1
            try:
                response = session.post(
                    f"{base}/api/v1/recognitions",
                    files={"file": (name, body)},
                    headers={"Authorization": f"Api-Key {abuser_key}"},
                    timeout=30,
                )
                statuses[f"hostile {response.status_code}"] += 1
            except requests.RequestException as error:
                statuses[f"hostile {type(error).__name__}"] += 1

    def flood_loop():
        chunk = b"\0" * (1 << 20)
        while time.monotonic() < stop:

            def body():
                for _ in range(1024):  # 1 GiB, no Content-Length (chunked)
                    yield chunk

            try:
                response = requests.post(
                    f"{base}/api/v1/recognitions",
                    data=body(),
                    timeout=30,
                    headers={"Authorization": f"Api-Key {abuser_key}"},
                )
                statuses[f"flood {response.status_code}"] += 1
            except requests.RequestException as error:
                statuses[f"flood {type(error).__name__}"] += 1

    def signin_loop():
        """Guess passwords for one account and sign up fresh names, with a valid CSRF token."""
        session = requests.Session()
        i = 0
        while time.monotonic() < stop:
            i += 1
            sign_up = i % 2 == 0
            url = f"{base}/accounts/{'signup' if sign_up else 'login'}/"
            try:
                session.get(url, timeout=10)
                form = {"csrfmiddlewaretoken": session.cookies.get("csrftoken", "")}
                if sign_up:
                    password = f"flood-passphrase-{i}"
                    form |= {"username": f"flood{os.getpid()}x{i}", "role": "listener"}
                    form |= {"password1": password, "password2": password}
                else:
                    form |= {"username": "canary-owner", "password": f"guess-{i}"}
                response = session.post(url, data=form, headers={"Referer": url}, timeout=10, allow_redirects=False)
                statuses[f"{'signup' if sign_up else 'login'} {response.status_code}"] += 1
            except requests.RequestException as error:
                statuses[f"signin {type(error).__name__}"] += 1

    def anonymous_flood_loop():
        paths = ["/api/v1/recognitions", "/api/v1/tracks", "/uploads/new/", "/admin/catalog/track/add/"]
        clients = [threading.Thread(target=anonymous_large_bodies, args=(paths[i % 4], i % 2 == 0))
                   for i in range(8)]  # fmt: skip
        for client in clients:
            client.start()
        for client in clients:
            client.join()

    def anonymous_large_bodies(path: str, declared: bool) -> None:
        while time.monotonic() < stop:
            try:
                status, seconds, sent_mb = anonymous_large_post(port, path, declared=declared)
            except OSError as error:
                statuses[f"anonymous {type(error).__name__}"] += 1
                continue
            statuses[f"anonymous {status}"] += 1
            anonymous_seconds.append(seconds)
            anonymous_sent_mb.append(sent_mb)

    async def socket_abuse():
        import websockets

        url, origin = f"ws://127.0.0.1:{port}/ws/listen/", f"http://127.0.0.1:{port}"
        attacks = [b"\0" * (65 * 1024), "text frame", b"\0" * 333]
        i = 0
        while time.monotonic() < stop:
            try:
                async with websockets.connect(url, origin=origin, max_size=2**20) as socket_:
                    await socket_.recv()
                    attack = attacks[i % (len(attacks) + 1)] if i % (len(attacks) + 1) < len(attacks) else None
                    if attack is None:  # a flood of small frames
                        for _ in range(50):
                            await socket_.send(b"\0\0" * 100)
                    else:
                        await socket_.send(attack)
                    while True:
                        await asyncio.wait_for(socket_.recv(), timeout=5)
            except websockets.ConnectionClosed as closed:
                statuses[f"socket close {closed.rcvd.code if closed.rcvd else 'none'}"] += 1
            except Exception as error:
                statuses[f"socket {type(error).__name__}"] += 1
            i += 1

    def canary_loop():
        session = requests.Session()
        while time.monotonic() < stop:
            started = time.monotonic()
            try:
                response = session.post(
                    f"{base}/api/v1/recognitions",
                    files={"file": ("canary.wav", clip)},
                    headers={"Authorization": f"Api-Key {canary_key}"},
                    timeout=15,
                )
                canary.append(
                    response.status_code == 200 and names.get((response.json()["match"] or {}).get("track_id")) == path
                )
            except requests.RequestException:
                canary.append(False)
            time.sleep(max(0.0, 5 - (time.monotonic() - started)))

    def health_loop():
        while time.monotonic() < stop:
            try:
                health.append(requests.get(f"{base}/healthz", timeout=5).ok)
            except requests.RequestException:
                health.append(False)
            time.sleep(0.5)

    tarpit: dict = {}

    def tarpit_loop():
        tarpit.update(tarpit_run(stop, statuses))

    chosen = {
        "hostile": hostile_loop,
        "flood": flood_loop,
        "anonymous": anonymous_flood_loop,
        "signin": signin_loop,
        "tarpit": tarpit_loop,
    }
    loops = [chosen[name] for name in args.abusers if name in chosen] + [canary_loop, health_loop]
    threads = [threading.Thread(target=f) for f in loops]
    for thread in threads:
        thread.start()
    if "sockets" in args.abusers:
        asyncio.run(socket_abuse())
    for thread in threads:
        thread.join()
    memory_after = rss_mb(server.pid)
    live.stop_daphne(server)
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "seconds": args.seconds,
        "abusers": args.abusers,
        "canary_success_pct": round(100 * np.mean(canary), 1) if canary else None,
        "canary_runs": len(canary),
        "healthz_2xx_pct": round(100 * np.mean(health), 1) if health else None,
        "abuse_outcomes": dict(sorted(statuses.items())),
        "anonymous_large_posts": {
            "count": len(anonymous_seconds),
            "p95_s": round(float(np.percentile(anonymous_seconds, 95)), 3) if anonymous_seconds else None,
            "max_sent_mb": round(max(anonymous_sent_mb), 1) if anonymous_sent_mb else None,
        },
        "server_5xx": sum(n for k, n in statuses.items() if k.split()[-1].startswith("5") and k.split()[-1] != "503"),
        "server_rss_mb_before_after": [round(memory_before), round(memory_after)],
        **tarpit,
    }
    print(json.dumps(report, indent=1))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "abuse.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
