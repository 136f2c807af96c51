"""G20: pg_dump backup and restore give back a whole catalog that recognises the same clip."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from catalog.demo import synth_song
from recognition.services import track_ingest
from tests import media
from tests.conftest import admin_sql

ROOT = Path(__file__).resolve().parents[1]


def _url(name: str) -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"


@pytest.mark.django_db(transaction=True)
def test_backup_then_restore_is_complete_and_recognises_the_same(rights_holder, tmp_path):
    for seed in (91, 92):
        track_ingest(
            path=media.write_wav(tmp_path / f"{seed}.wav", synth_song(seed, 40)), owner=rights_holder, store_audio=False
        )
    source = settings.DATABASES["default"]["NAME"]
    restored = f"{source}_restored_{os.getpid()}"
    env = {**os.environ, "DATABASE_URL": _url(source)}
    dump = subprocess.run(
        ["scripts/backup.sh", str(tmp_path / "backups")], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert dump.returncode == 0, dump.stderr
    dump_path = Path(dump.stdout.strip().splitlines()[-1])
    counts = json.loads(dump_path.with_suffix(".json").read_text())["source"]["counts"]
    assert counts["catalog_track"] == 2 and counts["recognition_fingerprint"] > 100 and counts["packed_pairs"] > 200
    assert counts["recognition_fingerprint"] + counts["packed_pairs"] == counts["hash_count_sum"]
    assert counts["partial_tracks"] == 0
    assert counts["sketched_frames"] > 2 * 39 * 31  # two 40 s songs, a sketch a frame
    try:
        restore = subprocess.run(
            ["scripts/restore.sh", "--create-db", restored, str(dump_path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert restore.returncode == 0, restore.stderr + restore.stdout
        clip = media.encode(synth_song(92, 40)[media.FILE_RATE * 10 : media.FILE_RATE * 16], tmp_path / "q.mp3")
        answers = []
        for name in (source, restored):
            result = subprocess.run(
                [sys.executable, "manage.py", "recognize", "--json", str(clip)],
                cwd=ROOT,
                env={**os.environ, "DATABASE_URL": _url(name)},
                capture_output=True,
                text=True,
                check=True,
            )
            answers.append(json.loads(result.stdout)["match"])
        assert answers[0] is not None and answers[0] == answers[1]
    finally:
        admin_sql(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_a_database_dump_holds_no_usable_credential(make_user, settings):
    """G19: API keys are stored hashed and webhook secrets encrypted, so a dump leaks neither."""
    from accounts.models import Role
    from accounts.services import api_key_create
    from recognition.services.webhooks import webhook_create

    settings.EARSHOT_WEBHOOKS_ALLOW_PRIVATE = True  # no DNS on the test machine
    partner = make_user(Role.PARTNER, username="dumped_partner")
    _, key = api_key_create(user=partner, name="dump check")
    _, secret = webhook_create(user=partner, url="https://hooks.example.com/earshot")
    source = settings.DATABASES["default"]["NAME"]
    dump = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--data-only", source],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "hooks.example.com" in dump  # the dump does hold the rows
    secret_part = key.split(".")[-1]  # the key's secret half (its prefix is a public lookup id)
    assert key not in dump and secret_part not in dump
    assert secret not in dump


def test_migrations_go_backward_and_forward_on_a_scratch_database():
    """G21: every migration of our apps reverses cleanly and applies again."""
    scratch = f"earshot_migrations_{os.getpid()}"
    admin_sql(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)', f'CREATE DATABASE "{scratch}"')
    env = {**os.environ, "DATABASE_URL": _url(scratch)}

    def manage(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    try:
        manage("migrate", "-v0")
        # Back: recognition to nothing, catalog to nothing, accounts to its first migration (the
        # user table stays, as auth and admin need it), then forward to the latest again.
        manage("migrate", "recognition", "zero", "-v0")
        manage("migrate", "catalog", "zero", "-v0")
        manage("migrate", "accounts", "0001", "-v0")
        listing = manage("showmigrations", "accounts", "catalog", "recognition")
        assert "[X] 0002" not in listing and "[X] 0001_initial" in listing  # accounts 0001 only
        manage("migrate", "-v0")
        listing = manage("showmigrations", "accounts", "catalog", "recognition")
        assert "[ ]" not in listing
    finally:
        admin_sql(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_a_signed_in_session_is_not_in_a_database_dump(client, make_user):
    """G19: with Redis configured, sessions live there; a `pg_dump` holds no session key."""
    from accounts.models import Role

    client.force_login(make_user(Role.CREATOR, username="dumped_creator"))
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get("/uploads/").status_code == 200  # the session works
    source = settings.DATABASES["default"]["NAME"]
    dump = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--data-only", source],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "dumped_creator" in dump  # the dump does hold the user
    assert session_key not in dump


@pytest.mark.django_db(transaction=True)
def test_backup_leaves_out_database_sessions(tmp_path):
    """A deployment without Redis keeps sessions in the table: scripts/backup.sh dumps none of them."""
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store["canary"] = "x"
    store.create()
    source = settings.DATABASES["default"]["NAME"]
    env = {**os.environ, "DATABASE_URL": _url(source)}
    done = subprocess.run(
        ["scripts/backup.sh", str(tmp_path / "backups")], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    dump_path = done.stdout.strip().splitlines()[-1]
    restored_sql = subprocess.run(
        ["pg_restore", "--data-only", "-f", "-", dump_path], capture_output=True, text=True, check=True
    ).stdout
    assert "COPY public.accounts_user" in restored_sql  # the data is there
    assert store.session_key not in restored_sql
