"""Webhook receivers for tests: real HTTP servers on loopback that record what they are sent.

Webhooks may call private hosts only where a test allows it (EARSHOT_WEBHOOKS_ALLOW_PRIVATE).
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import threading
import time


class Receiver:
    """A webhook receiver on loopback: records each request, answers the next programmed status."""

    def __init__(self, statuses=(), delay_s: float = 0.0):
        self.requests: list[tuple[dict, bytes]] = []
        statuses = list(statuses)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                time.sleep(delay_s)
                self.send_response(statuses.pop(0) if statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def signatures_valid_for(secret: str, headers: dict, body: bytes) -> bool:
    """What a receiver does: accept if any `v1` is the HMAC of `<t>.<body>` with its secret."""
    fields = [part.split("=", 1) for part in headers["Earshot-Signature"].split(",")]
    timestamp = dict(fields)["t"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(name == "v1" and hmac.compare_digest(value, expected) for name, value in fields)
