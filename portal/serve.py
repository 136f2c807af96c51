"""Serve the portal: Daphne processes, one per CPU this machine or container may use, on one socket.

    python -m portal.serve [--bind 127.0.0.1] [--port 8000] [--processes N] [DAPHNE OPTION...]

A Daphne process runs its Python (Django, the engine's numpy glue) on one core at a time, however
many the container has: on 2 cores, 8 partner clients left one core mostly idle. This launcher
binds the listening socket once and starts N Daphne processes on it (`daphne --fd`), and the kernel
hands each new connection to one of them. N is `--processes`, else EARSHOT_WEB_PROCESSES, else the
CPUs this process may run on, bounded by its cgroup's CPU quota (a Kubernetes CPU limit). Other
options go to every Daphne (e.g. `--websocket-max-message-size 131072`).

SIGTERM or SIGINT is passed on to every Daphne, which finish what they are answering; when one
Daphne exits by itself, the others are stopped and the launcher exits with its status, so that the
supervisor (Kubernetes, Docker, a terminal) sees one failed server, never a half-served port; when
the launcher itself is killed, every Daphne gets SIGTERM (a parent-death signal).
Per-process limits (EARSHOT_MAX_QUEUED_HEAVY, EARSHOT_MAX_LARGE_BODIES, EARSHOT_SYNC_THREADS) hold
for each process. No Django import: this process only watches the others.
"""

from __future__ import annotations

import argparse
import ctypes
import math
import os
import signal
import socket
import subprocess
import sys
import time

__all__ = ["daphne_arguments", "main", "parse", "processes_for_this_machine"]

APPLICATION = "portal.asgi:application"
_PR_SET_PDEATHSIG = 1
STOP_GRACE_S = 40.0  # Kubernetes: terminationGracePeriodSeconds 60, less the preStop pause of 10 s


def processes_for_this_machine() -> int:
    """The CPUs this process may run on, bounded by its cgroup's CPU quota (cgroup v2 `cpu.max`)."""
    count = len(os.sched_getaffinity(0))
    try:
        with open("/sys/fs/cgroup/cpu.max") as handle:
            quota, period = handle.read().split()[:2]
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 CPU controller here: the affinity says it
    return max(1, count)


def _die_with_parent() -> None:
    """In a Daphne about to start: be stopped when the launcher dies, even killed (this launcher has
    no other thread, so running this between fork and exec is safe)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGTERM), 0, 0, 0)


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The launcher's own options, and the options it passes on to every Daphne."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--processes", type=int, default=0, help="Daphne processes (default: one per CPU)")
    return parser.parse_known_args(argv)


def daphne_arguments(fd: int, daphne_options: list[str]) -> list[str]:
    """Daphne's arguments for a process serving the listening socket `fd`."""
    return ["--fd", str(fd), *daphne_options, APPLICATION]


def main(argv: list[str] | None = None) -> int:
    args, daphne_options = parse(argv)
    count = args.processes or int(os.environ.get("EARSHOT_WEB_PROCESSES") or 0) or processes_for_this_machine()

    family = socket.AF_INET6 if ":" in args.bind else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.bind, args.port))
    listener.listen(1024)
    command = [sys.executable, "-m", "daphne", *daphne_arguments(listener.fileno(), daphne_options)]
    children = [
        subprocess.Popen(command, pass_fds=(listener.fileno(),), preexec_fn=_die_with_parent)  # noqa: S603, PLW1509
        for _ in range(count)
    ]
    listener.close()  # the children hold it
    print(f"serve: {count} Daphne process{'es' if count > 1 else ''} on {args.bind}:{args.port}", file=sys.stderr)

    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while not stopping:
        exited = next((child for child in children if child.poll() is not None), None)
        if exited is not None:
            status = exited.returncode or 1  # a server that stops by itself has failed
            print(f"serve: Daphne {exited.pid} exited ({exited.returncode}); stopping the others", file=sys.stderr)
            stop(signal.SIGTERM, None)
            break
        time.sleep(0.2)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return status


if __name__ == "__main__":
    sys.exit(main())
