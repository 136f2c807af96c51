"""GET /api/v1/reports/plays: rows per track and source, CSV, scoping, errors."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.http import StreamingHttpResponse

from accounts.models import Role
from accounts.services import api_key_create
from catalog.models import Track

URL = "/api/v1/reports/plays"
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}
SECRETS = ("guard-7731", "listener-5521", "secret-7731", "Other Label Song")


def _text(response) -> str:
    """The JSON of a report as text: it streams (a staff month's rows would fill the web process)."""
    assert isinstance(response, StreamingHttpResponse) and response["Content-Type"] == "application/json"
    return b"".join(response.streaming_content).decode()


def _body(response) -> dict:
    return json.loads(_text(response))


@pytest.fixture(autouse=True)
def _generous_throttle(settings):
    settings.EARSHOT_API_THROTTLE = {"rate_per_minute": 6000.0, "burst": 1000}


@pytest.mark.django_db
def test_a_rights_holder_gets_their_rows_and_nothing_about_who(api, world):
    key = api_key_create(user=world.holder_a, name="reports")[1]
    response = api.as_key(key).get(URL, NOVEMBER)
    assert response.status_code == 200, response.content
    text = _text(response)
    body = json.loads(text)
    assert body["count"] == 4 and len(body["results"]) == 4
    assert [r["plays"] for r in body["results"]] == [2, 2, 1, 1]  # most plays first, then by title
    first = next(r for r in body["results"] if r["source"].startswith("monitor:"))
    assert set(first) == {"track_id", "title", "artist", "source", "source_name", "plays", "played_s",
                          "first_heard_at", "last_heard_at"}  # fmt: skip
    assert (first["title"], first["source"], first["plays"], first["played_s"]) == (
        "Harbour Lights", f"monitor:{world.radio.pk}", 2, 300.0
    )  # fmt: skip
    assert first["first_heard_at"] == "2026-11-10T09:00:00+00:00"
    assert not any(secret in text for secret in SECRETS)
    uploads = _body(api.get(URL, {**NOVEMBER, "source": "upload", "track": world.t2.pk}))["results"]
    assert [(r["title"], r["plays"], r["played_s"]) for r in uploads] == [("Copper Sky", 2, 75.0)]


@pytest.mark.django_db
def test_csv_has_the_same_rows_and_defuses_formulas(api, world):
    Track.objects.filter(pk=world.t2.pk).update(title="=HYPERLINK(1)")
    api.force_authenticate(world.holder_a)
    response = api.get(URL, {**NOVEMBER, "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert isinstance(response, StreamingHttpResponse)
    text = response.getvalue().decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4 and {r["source"] for r in rows} == {f"monitor:{world.radio.pk}", "listen", "api", "upload"}
    upload = next(r for r in rows if r["source"] == "upload")
    assert (upload["title"], upload["plays"], upload["played_s"]) == ("'=HYPERLINK(1)", "2", "75.0")
    assert not any(secret in text for secret in SECRETS)


@pytest.mark.django_db
def test_staff_see_every_owner_and_a_foreign_track_is_404(api, world, make_user):
    api.force_authenticate(make_user(Role.STAFF))
    assert {r["title"] for r in _body(api.get(URL, NOVEMBER))["results"]} >= {"Other Label Song", "Harbour Lights"}
    api.force_authenticate(world.holder_b)
    assert api.get(URL, {**NOVEMBER, "track": world.t1.pk}).status_code == 404
    assert api.get(URL, {**NOVEMBER, "track": 987654}).status_code == 404
    assert {r["title"] for r in _body(api.get(URL, NOVEMBER))["results"]} == {"Other Label Song"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [{"from": "last week"}, {"source": "radio"}, {"format": "xml"}, {"from": "2026-11-30", "to": "2026-11-01"}],
)
def test_bad_parameters_are_a_400_in_the_error_shape(api, world, params):
    api.force_authenticate(world.holder_a)
    response = api.get(URL, params)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"


@pytest.mark.django_db
def test_who_may_read_reports(api, world):
    assert api.get(URL).status_code == 401
    for user in (world.listener, world.monitor_owner):
        api.force_authenticate(user)
        assert api.get(URL).status_code == 403


@pytest.mark.django_db
def test_the_plays_of_a_row_say_how_each_was_changed_and_nothing_about_who(api, world):
    api.force_authenticate(world.holder_a)
    response = api.get(f"{URL}/times", {**NOVEMBER, "track": world.t2.pk, "source": "upload"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2
    as_heard, sped_up = body["results"]  # oldest first
    assert set(as_heard) == {"heard_at", "played_s", "offset_s", "start_s", "speed", "pitch_semitones"}
    assert (as_heard["heard_at"], as_heard["played_s"]) == ("2026-11-10T13:00:00Z", 30.0)
    assert (as_heard["speed"], as_heard["pitch_semitones"]) == (None, None)
    assert (sped_up["played_s"], sped_up["speed"], sped_up["pitch_semitones"]) == (45.0, 1.1, 1.65)
    assert not any(secret in response.content.decode() for secret in SECRETS)
    assert api.get(f"{URL}/times", {"track": world.t3.pk, "source": "upload"}).status_code == 404
    for query in ({"track": world.t2.pk}, {"track": world.t2.pk, "source": "monitor"}, {"source": "upload"}):
        refused = api.get(f"{URL}/times", query)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid", query
