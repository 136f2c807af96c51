"""X-Forwarded-For is believed only from the configured proxy, under Daphne as deployed (G26)."""

import asyncio
import json
import re
import socket
import subprocess
import sys

import pytest
import websockets

from portal.client_address import forwarded_client
from tests.conftest import ROOT, subprocess_environment, wait_until_answering


def _deployed_daphne_flags() -> list[str]:
    """The Dockerfile's server command (portal.serve, Daphne processes on one socket), less the
    address and port to bind: the options it passes on to Daphne."""
    command = json.loads(re.search(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.M).group(1))
    assert command[:3] == ["python", "-m", "portal.serve"]
    flags, args = [], iter(command[3:])
    for arg in args:
        if arg in {"--bind", "--port"}:
            next(args)
        else:
            flags.append(arg)
    return flags


def test_compose_and_kubernetes_run_daphne_like_the_dockerfile():
    flags = " ".join(_deployed_daphne_flags())
    assert flags in (ROOT / "docker-compose.yml").read_text()
    k8s = (ROOT / "deployment/kubernetes/web-deployment.yaml").read_text()
    assert ", ".join(f'"{flag}"' for flag in _deployed_daphne_flags()) in k8s


@pytest.fixture
def deployed_daphne(transactional_db, tmp_path, settings):
    started = []

    def start(**extra_env) -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {
            **subprocess_environment(),
            "DJANGO_DEBUG": "false",
            "REDIS_URL": settings.REDIS_URL,
            "EARSHOT_LISTEN_ANONYMOUS_SOCKETS": "1",
            **extra_env,
        }
        command = [sys.executable, "-m", "portal.serve", "--bind", "127.0.0.1", "--port", str(port)]
        log = open(tmp_path / f"daphne-{port}.log", "wb")  # noqa: SIM115 - closed at teardown
        process = subprocess.Popen(
            [*command, *_deployed_daphne_flags()],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        started.append((process, log))
        wait_until_answering(f"http://127.0.0.1:{port}", process, tmp_path / f"daphne-{port}.log")
        return port

    yield start
    for process, log in started:
        process.terminate()
        process.wait(timeout=10)
        log.close()


async def _first_messages(port: int, forwarded: list[str]) -> list[dict]:
    """Open one anonymous socket per X-Forwarded-For value, all at once; return each one's first message."""
    url, origin = f"ws://127.0.0.1:{port}/ws/listen/", f"http://127.0.0.1:{port}"
    opened = [
        await websockets.connect(url, origin=origin, additional_headers={"X-Forwarded-For": value})
        for value in forwarded
    ]
    try:
        return [json.loads(await asyncio.wait_for(s.recv(), timeout=10)) for s in opened]
    finally:
        for s in opened:
            await s.close()


def test_a_forged_forwarded_for_does_not_buy_more_sockets(deployed_daphne):
    port = deployed_daphne()
    first, second = asyncio.run(_first_messages(port, ["198.51.100.1", "198.51.100.2"]))
    assert first["type"] == "listening"
    assert (second["type"], second.get("code")) == ("error", 4029)  # one socket per address


def test_the_configured_proxy_names_the_client(deployed_daphne):
    port = deployed_daphne(EARSHOT_TRUSTED_PROXIES="127.0.0.1/32")
    first, second = asyncio.run(_first_messages(port, ["198.51.100.1", "10.9.9.9, 198.51.100.2"]))
    assert first["type"] == second["type"] == "listening"  # two clients behind the proxy


def test_only_the_right_most_hop_that_is_not_a_proxy_counts():
    scope = {
        "type": "http",
        "client": ("10.0.0.5", 5000),
        "headers": [(b"x-forwarded-for", b"1.2.3.4, 203.0.113.9, 10.0.0.7")],
    }
    resolved = forwarded_client(scope, ("10.0.0.0/8",))
    assert resolved["client"] == ("203.0.113.9", 0) and resolved["headers"] == []
    untrusted = forwarded_client({**scope, "client": ("192.0.2.1", 5000)}, ("10.0.0.0/8",))
    assert untrusted["client"] == ("192.0.2.1", 5000) and untrusted["headers"] == []
