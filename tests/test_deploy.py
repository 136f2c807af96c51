"""Deployment settings and migrations, checked the way CI and an operator would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "DJANGO_HTTPS": "true",
    "DJANGO_SECRET_KEY": "k3y-" + "x9Q!s7#Lm2@pV4^zR8&wB1*eT6(yU0)nC5" * 2,
    "DJANGO_ALLOWED_HOSTS": "earshot.example.com",
    "REDIS_URL": "redis://127.0.0.1:6379/14",
}


def _manage(*args: str, env: dict | None = None, unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in {**os.environ, **(env or {})}.items() if key not in unset}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_passes_with_production_variables():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_passes_without_tls_flags():
    """Secure by default: DEBUG off and a key are enough; TLS settings are on unless turned off (G16)."""
    without_tls = {key: value for key, value in PRODUCTION.items() if key != "DJANGO_HTTPS"}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=without_tls, unset=("DJANGO_HTTPS",))
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_fails_when_tls_is_turned_off():
    """The check is not vacuous: an explicit DJANGO_HTTPS=false is reported."""
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION, "DJANGO_HTTPS": "false"})
    assert result.returncode != 0
    assert "security.W008" in result.stderr + result.stdout  # no SSL redirect


def test_missing_secret_key_refuses_to_start_outside_debug():
    """No published fallback key in production: the process stops before serving anything."""
    result = _manage("check", env={"DJANGO_DEBUG": "false"}, unset=("DJANGO_SECRET_KEY",))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_missing_secret_key_is_fine_in_debug():
    """`DJANGO_DEBUG=true` alone (a developer's shell, `DJANGO_DEBUG=true make run`) needs no key."""
    result = _manage("check", env={"DJANGO_DEBUG": "true"}, unset=("DJANGO_SECRET_KEY", "DJANGO_HTTPS"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_and_kubernetes_start_with_their_variables():
    """Every process docker-compose and the k8s manifests start gets a key (settings import)."""
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in ("web", "worker", "monitors"):
        variables = {key: str(value) for key, value in compose["services"][name]["environment"].items()}
        variables |= {"DATABASE_URL": os.environ.get("DATABASE_URL", ""), "REDIS_URL": PRODUCTION["REDIS_URL"]}
        result = _manage("check", env=variables)
        assert result.returncode == 0, (name, result.stderr[-2000:])
    secret = next(yaml.safe_load_all((ROOT / "deployment/kubernetes/secret.example.yaml").read_text()))
    config = yaml.safe_load((ROOT / "deployment/kubernetes/configmap.yaml").read_text())
    assert secret["stringData"]["DJANGO_SECRET_KEY"]
    assert config["data"]["DJANGO_DEBUG"] == "false"


@pytest.mark.django_db
def test_migrations_are_complete():
    result = _manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


def test_daphne_has_the_websocket_message_size_limit():
    """Daphne 4.2.2 and later bound websocket message sizes (RELIABILITY.md G17)."""
    from importlib.metadata import version

    major, minor, patch = (int(part) for part in version("daphne").split(".")[:3])
    assert (major, minor, patch) >= (4, 2, 2)


def _daphne_arguments() -> dict[str, list[str]]:
    """The arguments each file that starts the web server gives Daphne, through portal.serve (which
    binds the port and starts a Daphne per CPU on it with these and `--fd`)."""
    import json
    import shlex

    import yaml

    from portal import serve

    run_line = next(line for line in (ROOT / "scripts/run.sh").read_text().splitlines() if "portal.serve" in line)
    docker_cmd = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"]
    kubernetes = next(
        container["command"]
        for document in yaml.safe_load_all((ROOT / "deployment/kubernetes/web-deployment.yaml").read_text())
        if document and document.get("kind") == "Deployment"
        for container in document["spec"]["template"]["spec"]["containers"]
        if container["name"] == "web"
    )
    commands = {
        "scripts/run.sh": shlex.split(run_line.replace('"${PORT:-8000}"', "8000")),
        "Dockerfile": json.loads(docker_cmd.removeprefix("CMD ")),
        "docker-compose.yml": shlex.split(shlex.split(compose)[2].split("&&")[1]),
        "web-deployment.yaml": kubernetes,
    }
    found = {}
    for where, words in commands.items():
        assert words[1:3] == ["-m", "portal.serve"], where
        options, passed_on = serve.parse(words[3:])
        assert options.port == 8000, where
        found[where] = serve.daphne_arguments(3, passed_on)
    return found


@pytest.mark.parametrize("where", ["scripts/run.sh", "Dockerfile", "docker-compose.yml", "web-deployment.yaml"])
def test_every_daphne_command_parses_and_caps_websocket_messages(where):
    """Each start of Daphne passes its own parser (a misspelt flag once stopped `make run`) and caps
    a websocket message at 128 KiB, twice the consumer's 64 KiB, before any of it is buffered."""
    from daphne.cli import CommandLineInterface

    arguments = CommandLineInterface().parser.parse_args(_daphne_arguments()[where])
    assert arguments.application == "portal.asgi:application"
    assert arguments.file_descriptor == 3  # the socket portal.serve bound
    assert arguments.websocket_max_message_size == 128 * 1024
