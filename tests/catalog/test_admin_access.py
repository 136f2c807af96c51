"""Who may use the catalog admin, and a rights holder's rows are theirs alone."""

import pytest
from django.urls import reverse

from accounts.models import Role
from catalog.models import Track
from tests.factories import ArtistFactory, TrackFactory, UserFactory

pytestmark = pytest.mark.django_db

TRACKS = reverse("admin:catalog_track_changelist")


@pytest.mark.parametrize(
    ("role", "superuser", "index_status", "tracks_status"),
    [
        (Role.LISTENER, False, 302, 302),  # not admin users: sent to the admin log-in
        (Role.CREATOR, False, 302, 302),
        (Role.PARTNER, False, 302, 302),
        (Role.RIGHTS_HOLDER, False, 200, 200),
        (Role.STAFF, False, 200, 200),
        (Role.LISTENER, True, 200, 200),
    ],
)
def test_admin_access_by_role(client, role, superuser, index_status, tracks_status):
    client.force_login(UserFactory(role=role, is_superuser=superuser))
    assert client.get(reverse("admin:index")).status_code == index_status
    assert client.get(TRACKS).status_code == tracks_status


def test_anonymous_is_sent_to_admin_login(client):
    response = client.get(TRACKS)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_rights_holder_cannot_manage_users(client, rights_holder):
    client.force_login(rights_holder)
    assert client.get(reverse("admin:accounts_user_changelist")).status_code == 403


def test_staff_manages_users(client, staff):
    client.force_login(staff)
    assert client.get(reverse("admin:accounts_user_changelist")).status_code == 200


def test_list_shows_only_own_tracks(client, rights_holder, other_rights_holder):
    mine = TrackFactory(title="Mine", owner=rights_holder)
    theirs = TrackFactory(title="Theirs", owner=other_rights_holder)
    client.force_login(rights_holder)
    page = client.get(TRACKS).content.decode()
    assert reverse("admin:catalog_track_change", args=[mine.pk]) in page
    assert reverse("admin:catalog_track_change", args=[theirs.pk]) not in page
    search = client.get(TRACKS, {"q": "Theirs"})
    assert search.context["cl"].result_count == 0


def test_staff_sees_every_track(client, staff, rights_holder, other_rights_holder):
    TrackFactory(title="Mine", owner=rights_holder)
    TrackFactory(title="Theirs", owner=other_rights_holder)
    client.force_login(staff)
    page = client.get(TRACKS).content.decode()
    assert "Mine" in page and "Theirs" in page


@pytest.mark.parametrize("view", ["change", "delete", "history"])
def test_another_owners_track_is_404_by_url(client, rights_holder, other_rights_holder, view):
    theirs = TrackFactory(owner=other_rights_holder)
    client.force_login(rights_holder)
    assert client.get(reverse(f"admin:catalog_track_{view}", args=[theirs.pk])).status_code == 404


def test_crafted_change_post_on_another_owners_track_is_404(client, rights_holder, other_rights_holder):
    theirs = TrackFactory(title="Theirs", owner=other_rights_holder)
    client.force_login(rights_holder)
    response = client.post(reverse("admin:catalog_track_change", args=[theirs.pk]), {"title": "Hijacked"})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.title == "Theirs" and theirs.owner == other_rights_holder


def test_crafted_delete_post_on_another_owners_track_is_404(client, rights_holder, other_rights_holder):
    theirs = TrackFactory(owner=other_rights_holder)
    client.force_login(rights_holder)
    response = client.post(reverse("admin:catalog_track_delete", args=[theirs.pk]), {"post": "yes"})
    assert response.status_code == 404
    assert Track.objects.filter(pk=theirs.pk).exists()


def test_bulk_delete_action_ignores_another_owners_ids(client, rights_holder, other_rights_holder):
    mine = TrackFactory(owner=rights_holder)
    theirs = TrackFactory(owner=other_rights_holder)
    client.force_login(rights_holder)
    client.post(TRACKS, {"action": "delete_selected", "_selected_action": [mine.pk, theirs.pk], "post": "yes"})
    assert not Track.objects.filter(pk=mine.pk).exists()
    assert Track.objects.filter(pk=theirs.pk).exists()


def test_crafted_owner_in_change_post_is_ignored(client, rights_holder, other_rights_holder):
    mine = TrackFactory(title="Mine", owner=rights_holder)
    client.force_login(rights_holder)
    response = client.post(
        reverse("admin:catalog_track_change", args=[mine.pk]), {"title": "Renamed", "owner": other_rights_holder.pk}
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.title == "Renamed" and mine.owner == rights_holder


def test_artist_created_by_rights_holder_is_theirs_even_with_crafted_owner(client, rights_holder, other_rights_holder):
    client.force_login(rights_holder)
    response = client.post(reverse("admin:catalog_artist_add"), {"name": "New band", "owner": other_rights_holder.pk})
    assert response.status_code == 302
    from catalog.models import Artist

    assert Artist.objects.get(name="New band").owner == rights_holder


def test_cannot_attach_another_owners_artist(client, rights_holder, other_rights_holder):
    mine = TrackFactory(owner=rights_holder)
    their_artist = ArtistFactory(owner=other_rights_holder)
    client.force_login(rights_holder)
    response = client.post(
        reverse("admin:catalog_track_change", args=[mine.pk]), {"title": mine.title, "artists": [their_artist.pk]}
    )
    assert response.status_code == 200  # the form comes back with an error
    assert "errorlist" in response.content.decode()
    assert not mine.artists.exists()
