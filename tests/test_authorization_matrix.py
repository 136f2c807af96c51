"""G13: every role x endpoint x method has an explicit expected status; others' objects are 404."""

import asyncio
import io

import pytest
from channels.testing import WebsocketCommunicator
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.services import api_key_create
from catalog.models import Track
from catalog.services import album_artwork_set, track_artwork_set
from portal.asgi import application
from recognition.models import Recognition, Webhook
from recognition.monitors.models import Detection, Monitor
from recognition.monitors.services import monitor_create
from tests.factories import AlbumFactory, ArtistFactory, TrackFactory, UserFactory


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(out, "PNG")
    return out.getvalue()


_PNG = _png()

ROLES = ("anonymous", "listener", "creator", "holder_a", "holder_b", "partner_key", "staff", "superuser", "monitor")

# (method, url template, expected status per role in ROLES order). {track} belongs to holder_a,
# {job} to the creator, {hook} to the partner, {monitor} (a device) to the monitor, whose
# {detection} heard holder_a's track. An API key authenticates the API only: to pages and
# the admin its holder is a visitor who has not logged in. A confirmed admin delete redirects (302).
# Listeners (self sign-up) hold no keys and may not call the API: 403 before any object is looked at.
MATRIX = [
    ("GET", "/", (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/tracks/{track}/", (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/tracks/{pending}/", (404, 404, 404, 200, 404, 404, 200, 200, 404)),
    # A match's artwork and preview (both set on {track} and {pending}): public like the track page.
    ("GET", "/tracks/{track}/artwork", (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/tracks/{pending}/artwork", (404, 404, 404, 200, 404, 404, 200, 200, 404)),
    ("GET", "/tracks/{track}/preview", (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/tracks/{pending}/preview", (404, 404, 404, 200, 404, 404, 200, 200, 404)),
    ("POST", "/tracks/{track}/preview", (405, 405, 405, 405, 405, 405, 405, 405, 405)),
    ("GET", "/api/v1/tracks/{pending}", (401, 403, 404, 200, 404, 404, 200, 200, 404)),
    ("GET", "/accounts/profile/", (302, 200, 200, 200, 200, 302, 200, 200, 200)),
    ("GET", "/recognitions/", (302, 200, 200, 200, 200, 302, 200, 200, 200)),
    ("GET", "/uploads/", (302, 200, 200, 200, 200, 302, 200, 200, 200)),
    ("GET", "/uploads/new/", (302, 403, 200, 200, 200, 302, 200, 200, 403)),
    ("GET", "/uploads/{job}/", (302, 404, 200, 404, 404, 302, 200, 200, 404)),
    ("GET", "/uploads/{job}/status/", (302, 404, 200, 404, 404, 302, 200, 200, 404)),
    ("GET", "/admin/", (302, 302, 302, 200, 200, 302, 200, 200, 302)),
    ("GET", "/admin/catalog/track/", (302, 302, 302, 200, 200, 302, 200, 200, 302)),
    ("GET", "/admin/catalog/track/{track}/change/", (302, 302, 302, 200, 404, 302, 200, 200, 302)),
    ("POST", "/admin/catalog/track/{track}/delete/", (302, 302, 302, 302, 404, 302, 302, 302, 302)),
    ("GET", "/admin/accounts/user/", (302, 302, 302, 403, 403, 302, 200, 200, 302)),
    ("GET", "/admin/accounts/apikey/", (302, 302, 302, 403, 403, 302, 200, 200, 302)),
    ("GET", "/api/v1/schema", (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/recognitions", (401, 403, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/recognitions/{job}", (401, 403, 200, 404, 404, 404, 404, 404, 404)),
    ("GET", "/api/v1/tracks", (401, 403, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/tracks/{track}", (401, 403, 200, 200, 200, 200, 200, 200, 200)),
    ("PATCH", "/api/v1/tracks/{track}", (401, 403, 403, 200, 404, 403, 200, 200, 403)),
    ("PUT", "/api/v1/tracks/{track}/audio", (401, 403, 403, 400, 404, 403, 400, 400, 403)),
    ("PUT", "/api/v1/tracks/{track}/artwork", (401, 403, 403, 400, 404, 403, 400, 400, 403)),
    ("DELETE", "/api/v1/tracks/{track}/artwork", (401, 403, 403, 200, 404, 403, 200, 200, 403)),
    ("POST", "/api/v1/tracks", (401, 403, 403, 400, 400, 403, 400, 400, 403)),
    # {album} belongs to holder_a and has artwork: its owner and staff read and change it, another
    # holder (and anyone without albums) finds nothing, roles that write no catalog get 403.
    ("GET", "/api/v1/albums", (401, 403, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/albums/{album}/artwork", (401, 403, 404, 200, 404, 404, 200, 200, 404)),
    ("PUT", "/api/v1/albums/{album}/artwork", (401, 403, 403, 400, 404, 403, 400, 400, 403)),
    ("POST", "/api/v1/albums/{album}/artwork", (401, 403, 403, 400, 404, 403, 400, 400, 403)),
    ("DELETE", "/api/v1/albums/{album}/artwork", (401, 403, 403, 200, 404, 403, 200, 200, 403)),
    ("GET", "/api/v1/webhooks", (401, 403, 403, 403, 403, 200, 200, 200, 200)),
    ("GET", "/api/v1/webhooks/{hook}", (401, 403, 403, 403, 403, 200, 404, 404, 404)),
    ("DELETE", "/api/v1/webhooks/{hook}", (401, 403, 403, 403, 403, 204, 404, 404, 404)),
    ("GET", "/monitors/", (302, 403, 403, 200, 200, 302, 200, 200, 200)),
    ("GET", "/monitors/{monitor}/", (302, 403, 403, 404, 404, 302, 200, 200, 200)),
    ("GET", "/monitors/{monitor}/status", (302, 404, 404, 404, 404, 302, 200, 200, 200)),
    ("GET", "/monitors/{monitor}/detections.csv", (302, 403, 403, 404, 404, 302, 200, 200, 200)),
    ("POST", "/monitors/{monitor}/pause", (302, 403, 403, 404, 404, 302, 302, 302, 302)),
    ("POST", "/monitors/{monitor}/device-token", (302, 403, 403, 404, 404, 302, 200, 200, 200)),
    ("POST", "/monitors/{monitor}/delete", (302, 403, 403, 404, 404, 302, 302, 302, 302)),
    ("GET", "/monitors/{monitor}/device", (200, 200, 200, 200, 200, 200, 200, 200, 200)),
    ("GET", "/api/v1/monitors", (401, 403, 403, 200, 200, 403, 200, 200, 200)),
    ("POST", "/api/v1/monitors", (401, 403, 403, 400, 400, 403, 400, 400, 400)),
    ("GET", "/api/v1/monitors/{monitor}", (401, 403, 403, 404, 404, 403, 200, 200, 200)),
    ("PATCH", "/api/v1/monitors/{monitor}", (401, 403, 403, 404, 404, 403, 200, 200, 200)),
    ("DELETE", "/api/v1/monitors/{monitor}", (401, 403, 403, 404, 404, 403, 204, 204, 204)),
    ("POST", "/api/v1/monitors/{monitor}/device-token", (401, 403, 403, 404, 404, 403, 200, 200, 200)),
    ("GET", "/api/v1/monitors/{monitor}/detections", (401, 403, 403, 404, 404, 403, 200, 200, 200)),
    ("GET", "/api/v1/detections/{detection}/evidence", (401, 403, 404, 200, 404, 404, 200, 200, 200)),
    ("GET", "/api/v1/nothing-here", (404, 404, 404, 404, 404, 404, 404, 404, 404)),
    # Detections: the monitor's owner, the track's rights holder (holder_a) and staff; others' are
    # 404. A dispute without a reason is a 400 and restoring an undisputed one a 409: both past the
    # permission checks.
    ("GET", "/detections/", (302, 403, 403, 200, 200, 302, 200, 200, 200)),
    (
        "GET",
        "/detections/?track={track}&monitor={monitor}&from=2026-01-01&to=2099-12-31",
        (302, 403, 403, 200, 200, 302, 200, 200, 200),
    ),
    ("GET", "/detections/{detection}/", (302, 403, 403, 200, 404, 302, 200, 200, 200)),
    ("POST", "/detections/{detection}/dispute", (302, 403, 403, 400, 404, 302, 400, 400, 400)),
    ("POST", "/detections/{detection}/restore", (302, 403, 403, 409, 404, 302, 409, 409, 409)),
    ("GET", "/monitors/{monitor}/log", (302, 403, 403, 404, 404, 302, 200, 200, 200)),
    ("GET", "/monitors/{monitor}/log.csv?from=2026-01-01&to=2099-12-31", (302, 403, 403, 404, 404, 302, 200, 200, 200)),
    ("GET", "/api/v1/detections/{detection}", (401, 403, 403, 200, 404, 403, 200, 200, 200)),
    ("POST", "/api/v1/detections/{detection}/dispute", (401, 403, 403, 400, 404, 403, 400, 400, 400)),
    ("POST", "/api/v1/detections/{detection}/restore", (401, 403, 403, 409, 404, 403, 409, 409, 409)),
    ("GET", "/api/v1/monitors/{monitor}/log", (401, 403, 403, 404, 404, 403, 200, 200, 200)),
    ("GET", "/api/v1/monitors/{monitor}/log?format=csv", (401, 403, 403, 404, 404, 403, 200, 200, 200)),
    ("GET", "/reports/", (302, 403, 403, 200, 200, 302, 200, 200, 403)),
    ("GET", "/reports/?track={track}", (302, 403, 403, 200, 404, 302, 200, 200, 403)),
    ("GET", "/reports/plays.csv", (302, 403, 403, 200, 200, 302, 200, 200, 403)),
    ("GET", "/reports/plays.csv?track={track}", (302, 403, 403, 200, 404, 302, 200, 200, 403)),
    ("GET", "/reports/plays/?track={track}&source=listen", (302, 403, 403, 200, 404, 302, 200, 200, 403)),
    ("GET", "/api/v1/reports/plays", (401, 403, 403, 200, 200, 403, 200, 200, 403)),
    ("GET", "/api/v1/reports/plays?track={track}", (401, 403, 403, 200, 404, 403, 200, 200, 403)),
    ("GET", "/api/v1/reports/plays?format=csv", (401, 403, 403, 200, 200, 403, 200, 200, 403)),
    ("POST", "/api/v1/reports/plays", (401, 403, 403, 405, 405, 403, 405, 405, 403)),
    ("GET", "/api/v1/reports/plays/times?track={track}&source=upload", (401, 403, 403, 200, 404, 403, 200, 200, 403)),
    # The partner console: for every role that uses the API. {hook} is the partner's: to others
    # who may have webhooks it is a 404; creators and rights holders have none (403).
    ("GET", "/console/", (302, 403, 200, 200, 200, 302, 200, 200, 200)),
    ("POST", "/console/keys/new", (302, 403, 400, 400, 400, 302, 400, 400, 400)),
    ("GET", "/console/try", (302, 403, 200, 200, 200, 302, 200, 200, 200)),
    ("POST", "/console/try", (302, 403, 200, 200, 200, 302, 200, 200, 200)),
    ("GET", "/console/webhooks/{hook}/", (302, 403, 403, 403, 403, 302, 404, 404, 404)),
    ("POST", "/console/webhooks/{hook}/test", (302, 403, 403, 403, 403, 302, 404, 404, 404)),
    ("POST", "/console/webhooks/{hook}/delete", (302, 403, 403, 403, 403, 302, 404, 404, 404)),
    ("POST", "/console/webhooks/new", (302, 403, 403, 403, 403, 302, 302, 302, 302)),
    ("POST", "/console/keys/{key}/revoke", (302, 403, 404, 404, 404, 302, 404, 404, 404)),
]


@pytest.fixture
def world(db):
    users = {
        "listener": UserFactory(role=Role.LISTENER),
        "creator": UserFactory(role=Role.CREATOR),
        "holder_a": UserFactory(role=Role.RIGHTS_HOLDER),
        "holder_b": UserFactory(role=Role.RIGHTS_HOLDER),
        "partner_key": UserFactory(role=Role.PARTNER),
        "staff": UserFactory(role=Role.STAFF),
        "superuser": UserFactory(role=Role.LISTENER, is_superuser=True),
        "monitor": UserFactory(role=Role.MONITOR),
    }
    album_a = album_artwork_set(album=AlbumFactory(owner=users["holder_a"], title="Album of A"), image=_PNG)
    track = TrackFactory(owner=users["holder_a"], album=album_a, fingerprint_status="ready")
    pending = TrackFactory(owner=users["holder_a"], title="Unfinished upload of A")  # pending: not listed publicly
    artist_b = ArtistFactory(owner=users["holder_b"], name="Artist of B")
    AlbumFactory(owner=users["holder_b"], title="Album of B", artist=artist_b)
    monitor, _token = monitor_create(owner=users["monitor"], name="Bar", kind=Monitor.Kind.DEVICE)
    detection = Detection.objects.create(
        monitor=monitor, track=track, title=track.title, started_at=timezone.now(), ended_at=timezone.now(),
        offset_start_s=0, offset_end_s=10, confidence=0.99, open=False,
    )  # fmt: skip
    detection.evidence.save("evidence.ogg", ContentFile(b"OggS evidence"))
    for row in (track, pending):
        track_artwork_set(track=row, image=_PNG)
        row.preview.save("preview.mp3", ContentFile(b"\xff\xfb preview"), save=False)
        Track.objects.filter(pk=row.pk).update(preview=row.preview.name, preview_allowed=True)
    objects = {
        "track": track.pk,
        "pending": pending.pk,
        "album": album_a.pk,
        "job": Recognition.objects.create(user=users["creator"], source="upload", status="done").pk,
        "hook": Webhook.objects.create(user=users["partner_key"], url="https://example.com/h", secret_encrypted="x").pk,
        "monitor": monitor.pk,
        "detection": detection.pk,
        "key": api_key_create(user=users["partner_key"], name="the partner's own")[0].prefix,
    }
    return users, objects


def _client(role, users):
    client = APIClient()
    if role == "partner_key":
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_create(user=users[role], name='m')[1]}")
    elif role != "anonymous":
        client.force_login(users[role])
    return client


CELLS = [(method, url, role, expected[i]) for method, url, expected in MATRIX for i, role in enumerate(ROLES)]


@pytest.mark.parametrize(("method", "url", "role", "expected"), CELLS, ids=[f"{m} {u} {r}" for m, u, r, _ in CELLS])
def test_authorization_matrix(world, settings, method, url, role, expected):
    settings.EARSHOT_API_THROTTLE = {"rate_per_minute": 6000.0, "burst": 1000}
    users, objects = world
    client = _client(role, users)
    data = {"post": "yes"} if method == "POST" and url.startswith("/admin/") else {}
    response = getattr(client, method.lower())(url.format(**objects), data)
    assert response.status_code == expected


# Content, not just status: what a page shows to whom. (url, role, texts it shows, texts it must not.)
# The admin's sidebar filters list related rows: a rights holder sees only their own albums and artists.
CONTENT = [
    ("/admin/catalog/track/", "holder_a", ["Album of A"], ["Album of B"]),
    ("/admin/catalog/track/", "holder_b", ["Album of B"], ["Album of A"]),
    ("/admin/catalog/track/", "staff", ["Album of A", "Album of B"], []),
    ("/admin/catalog/album/", "holder_a", ["Album of A"], ["Album of B", "Artist of B"]),
    ("/admin/catalog/album/", "holder_b", ["Album of B", "Artist of B"], ["Album of A"]),
    ("/admin/catalog/track/add/", "holder_a", ["Album of A"], ["Album of B", "Artist of B"]),
    # A track that is not ready is not in the public catalog; its owner and staff still find it.
    ("/api/v1/tracks", "creator", ["Track "], ["Unfinished upload of A"]),
    ("/api/v1/tracks?q=unfinished", "partner_key", [], ["Unfinished upload of A"]),
    ("/api/v1/tracks?q=unfinished", "holder_b", [], ["Unfinished upload of A"]),
    ("/api/v1/tracks?q=unfinished", "holder_a", ["Unfinished upload of A"], []),
    ("/api/v1/tracks?q=unfinished", "staff", ["Unfinished upload of A"], []),
    # Who is sent to the console and the API docs, and who is told the API is not theirs.
    ("/", "listener", [], ['href="/console/"']),
    ("/", "creator", ['href="/console/"', 'href="/api/v1/docs"'], []),
    ("/accounts/profile/", "listener", ["API keys and the partner API are for partner accounts"], ['href="/console/"']),
    ("/accounts/profile/", "monitor", ['href="/console/"'], ["holds no API keys"]),
    ("/console/", "creator", ["Create a key", 'href="/api/v1/docs"'], ['id="webhooks"', "Add a webhook"]),
    ("/console/", "holder_a", ["Create a key"], ['id="webhooks"']),
    ("/console/", "monitor", ["Create a key", 'id="webhooks"', "Add a webhook"], []),
    ("/console/", "staff", ['id="webhooks"'], ["https://example.com/h"]),  # staff see their own, not others'
]


@pytest.mark.parametrize(("url", "role", "shown", "hidden"), CONTENT, ids=[f"{u} {r}" for u, r, _, _ in CONTENT])
def test_pages_show_only_what_the_role_may_see(world, url, role, shown, hidden):
    users, _objects = world
    response = _client(role, users).get(url)
    assert response.status_code == 200
    text = response.content.decode()
    assert all(title in text for title in shown), [title for title in shown if title not in text]
    assert not any(title in text for title in hidden), [title for title in hidden if title in text]


# Refusals that say why: (method, url, role, status, texts the answer holds).
REFUSALS = [
    (
        "GET",
        "/console/",
        "listener",
        403,
        ["The API is for partner accounts", "listener account", "partner</strong> role"],
    ),
    (
        "GET",
        "/api/v1/recognitions",
        "listener",
        403,
        ['"api_not_allowed"', "yours is a listener account", "partner role"],
    ),
    ("GET", "/console/webhooks/{hook}/", "creator", 403, ["Webhooks are for partner and monitor accounts"]),
    ("GET", "/console/webhooks/{hook}/", "staff", 404, []),
]


@pytest.mark.parametrize(
    ("method", "url", "role", "status", "shown"), REFUSALS, ids=[f"{m} {u} {r}" for m, u, r, *_ in REFUSALS]
)
def test_refusals_say_why(world, method, url, role, status, shown):
    users, objects = world
    response = getattr(_client(role, users), method.lower())(url.format(**objects))
    assert response.status_code == status
    text = response.content.decode()
    assert all(part in text for part in shown), text[:3000]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", [r for r in ROLES if r != "partner_key"])  # keys are for HTTP, not the page's socket
def test_every_role_may_open_the_listening_socket(client, role):
    users = {
        r: UserFactory(
            role=Role.LISTENER
            if r in {"anonymous", "listener", "superuser"}
            else {
                "creator": Role.CREATOR,
                "holder_a": Role.RIGHTS_HOLDER,
                "holder_b": Role.RIGHTS_HOLDER,
                "staff": Role.STAFF,
                "monitor": Role.MONITOR,
            }[r],
            is_superuser=r == "superuser",
        )
        for r in ROLES
        if r != "partner_key"
    }
    headers = [(b"origin", b"http://127.0.0.1")]
    if role != "anonymous":
        client.force_login(users[role])
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))

    async def connect():
        communicator = WebsocketCommunicator(application, "/ws/listen/", headers=headers)
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    assert asyncio.run(connect()) is True


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ["anonymous", "monitor", "staff", "superuser"])
def test_no_session_opens_the_device_socket_without_its_token(client, role):
    """The device socket ignores sessions: even the monitor's owner and staff need the token."""
    owner = UserFactory(role=Role.MONITOR)
    monitor, _token = monitor_create(owner=owner, name="Bar", kind=Monitor.Kind.DEVICE)
    headers = [(b"origin", b"http://127.0.0.1")]
    if role != "anonymous":
        user = (
            owner
            if role == "monitor"
            else UserFactory(role=Role.STAFF if role == "staff" else Role.LISTENER, is_superuser=role == "superuser")
        )
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))

    async def hello():
        communicator = WebsocketCommunicator(application, f"/ws/monitors/{monitor.pk}/device", headers=headers)
        connected, _ = await communicator.connect()
        await communicator.send_to(bytes_data=bytes(4000))
        answer = await communicator.receive_json_from(timeout=5)
        closed = await communicator.receive_output(timeout=5)
        await communicator.disconnect()
        return connected, answer, closed

    connected, answer, closed = asyncio.run(hello())
    assert connected and answer["code"] == "bad_token" and closed["code"] == 4401
