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


def test_check_deploy_fails_with_development_defaults():
    """Without a secret key and TLS settings, the same check must fail (it is not vacuous)."""
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={"DJANGO_DEBUG": "false"},
        unset=("DJANGO_SECRET_KEY", "DJANGO_HTTPS"),
    )
    assert result.returncode != 0
    assert "security.W009" in result.stderr + result.stdout  # the development secret key


@pytest.mark.django_db
def test_migrations_are_complete():
    result = _manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


def test_daphne_has_the_websocket_message_size_limit():
    """Daphne 4.2.2 and later bound websocket message sizes (RELIABILITY.md G17)."""
    from importlib.metadata import version

    major, minor, patch = (int(part) for part in version("daphne").split(".")[:3])
    assert (major, minor, patch) >= (4, 2, 2)
