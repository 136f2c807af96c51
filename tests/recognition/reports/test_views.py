"""The /reports/ page, its CSV and the plays behind a row: scoped, linked, never saying who."""

from __future__ import annotations

import re

import pytest

from recognition.models import Play

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}
SECRETS = ("guard-7731", "listener-5521", "secret-7731", "Other Label Song")


@pytest.mark.django_db
def test_the_page_shows_the_chart_tables_and_links(client, world):
    client.force_login(world.holder_a)
    response = client.get("/reports/", NOVEMBER)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Where my music was heard" in page and 'href="/reports/"' in page  # the nav link
    assert page.count('data-testid="chart-bar"') == 6  # a bar segment per day and source
    assert page.count('data-testid="top-track"') == 2 and page.count('data-testid="report-row"') == 4
    detections = f"/detections/?track={world.t1.pk}&amp;monitor={world.radio.pk}&amp;from=2026-11-01&amp;to=2026-11-30"
    assert detections in page
    assert f"/reports/plays/?track={world.t1.pk}&amp;source=listen&amp;from=2026-11-01&amp;to=2026-11-30" in page
    assert "<strong>6</strong> plays" in page and "Ada, The Examples" in page
    assert not any(secret in page for secret in SECRETS)


@pytest.mark.django_db
def test_filters_errors_and_foreign_tracks(client, world):
    client.force_login(world.holder_a)
    page = client.get("/reports/", {**NOVEMBER, "source": "upload"}).content.decode()
    assert page.count('data-testid="report-row"') == 1 and "Copper Sky" in page
    bad = client.get("/reports/", {"from": "soon"})
    assert bad.status_code == 400 and "ISO 8601" in bad.content.decode()
    assert client.get("/reports/", {"track": world.t3.pk}).status_code == 404
    empty = client.get("/reports/", {"from": "2025-01-01", "to": "2025-01-31"}).content.decode()
    assert 'data-testid="report-empty"' in empty


@pytest.mark.django_db
def test_the_csv_export_follows_the_filters(client, world):
    client.force_login(world.holder_a)
    response = client.get("/reports/plays.csv", {**NOVEMBER, "track": world.t1.pk})
    assert (
        response.status_code == 200 and 'filename="plays-2026-11-01-2026-11-30.csv"' in response["Content-Disposition"]
    )
    lines = response.getvalue().decode().splitlines()
    assert lines[0].startswith("track_id,title,artist,source") and len(lines) == 4
    assert all("Harbour Lights" in line for line in lines[1:])


@pytest.mark.django_db
def test_the_plays_of_a_row_give_times_never_people(client, world):
    client.force_login(world.holder_a)
    response = client.get("/reports/plays/", {**NOVEMBER, "track": world.t2.pk, "source": "upload"})
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('data-testid="play"') == 2 and "2026-11-10 13:00:00" in page
    # The sped-up edit says how it was changed; the play as heard says nothing.
    changes = re.findall(r'data-testid="play-change">([^<]*)<', page)
    assert changes == ["", "played 10 % fast, pitch up 1.7 semitones"]
    assert not any(secret in page for secret in SECRETS)
    assert client.get("/reports/plays/", {"track": world.t3.pk, "source": "upload"}).status_code == 404
    assert client.get("/reports/plays/", {"track": world.t2.pk, "source": "monitor"}).status_code == 400
    assert Play.objects.filter(track=world.t2).count() == 2


@pytest.mark.django_db
def test_only_rights_holders_and_staff_see_reports(client, world):
    client.force_login(world.listener)
    assert client.get("/reports/").status_code == 403
    assert 'href="/reports/"' not in client.get("/recognitions/").content.decode()
    client.force_login(world.monitor_owner)
    assert client.get("/reports/plays.csv").status_code == 403
    client.logout()
    assert client.get("/reports/").status_code == 302


@pytest.mark.django_db
def test_a_track_heard_by_many_sources_lists_the_first_and_links_to_the_rest(client, world, monkeypatch):
    from recognition.reports import views

    monkeypatch.setattr(views, "SHOWN_SOURCES", 2)
    client.force_login(world.holder_a)
    page = client.get("/reports/", NOVEMBER).content.decode()
    assert page.count('data-testid="report-row"') == 3  # Harbour Lights: 2 of 3 sources; Copper Sky: 1
    assert f"?from=2026-11-01&amp;to=2026-11-30&amp;track={world.t1.pk}" in page and "1 more source<" in page
    one = client.get("/reports/", {**NOVEMBER, "track": world.t1.pk}).content.decode()
    assert one.count('data-testid="report-row"') == 3 and 'data-testid="report-more"' not in one
