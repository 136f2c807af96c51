#!/usr/bin/env python3
"""Feed an Earshot device monitor from standard input (docs/api.md, "Device socket").

    arecord -f S16_LE -r 8000 -c 1 -t raw | python scripts/device_client.py WS_URL TOKEN

Input: raw 16-bit little-endian mono PCM at 8 kHz. Needs `pip install websockets==17.4`.
Reconnects with capped backoff after drops; stops on a refused token or another device taking over.
"""

import json
import sys
import time

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

FRAME_BYTES, FRAME_S, STOP = 4000, 0.25, {4401, 4409}  # 250 ms at 8 kHz; closes not worth retrying


def stream(url: str, token: str) -> None:
    with connect(url, open_timeout=10, max_size=2**16) as socket:
        socket.send(json.dumps({"type": "hello", "token": token}))
        hello = json.loads(socket.recv(timeout=10))
        if hello["type"] != "ok":
            raise SystemExit(f"refused: {hello.get('message')}")
        print(f"streaming to {hello['monitor']['name']}", file=sys.stderr)
        started, sent = time.monotonic(), 0
        while frame := sys.stdin.buffer.read(FRAME_BYTES):
            time.sleep(max(0.0, started + sent * FRAME_S - 1.0 - time.monotonic()))  # files: real time
            socket.send(frame[: len(frame) // 2 * 2])
            sent += 1
            while message := _poll(socket):
                print(message, file=sys.stderr)


def _poll(socket) -> str | None:
    try:
        return socket.recv(timeout=0)
    except TimeoutError:
        return None


def main(url: str, token: str) -> None:
    attempt = 0
    while True:
        try:
            return stream(url, token)  # the input ended
        except ConnectionClosed as closed:
            if closed.rcvd is not None and closed.rcvd.code in STOP:
                raise SystemExit(f"closed by the server: {closed.rcvd.code}") from None
        except OSError as error:
            print(f"connection failed: {error}", file=sys.stderr)
        attempt += 1
        time.sleep(min(30, 2**attempt))


if __name__ == "__main__":
    main(*sys.argv[1:3])
