"""The catalog search's two plans (selectors.TrackSearch) and its capped count (portal.pagination)."""

import pytest
from django.core.paginator import EmptyPage
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog import selectors
from catalog.models import Track
from catalog.selectors import TrackSearch, track_search
from portal.pagination import CappedCountPaginator
from tests.factories import ArtistFactory

pytestmark = pytest.mark.django_db

WORDS = ("night", "drive", "river", "blue")


@pytest.fixture
def catalog(rights_holder, other_rights_holder):
    """60 tracks: titles of two words (some the same title), artists named after a word, a track
    whose title and two artists all match, and another owner's unfinished upload."""
    artists = [ArtistFactory(name=f"{word.title()} Band", owner=rights_holder) for word in WORDS]
    tracks = Track.objects.bulk_create(
        Track(
            title=f"{WORDS[i % 4].title()} {WORDS[i // 4 % 4].title()}" + (f" {i}" if i % 5 else ""),
            owner=rights_holder,
            fingerprint_status="ready",
        )
        for i in range(58)
    )
    for i, track in enumerate(tracks):
        track.artists.add(artists[(i + 1) % 4])
    both = Track.objects.create(title="Zephyr River", owner=rights_holder, fingerprint_status="ready")
    both.artists.add(artists[2], ArtistFactory(name="River Folk", owner=rights_holder))
    Track.objects.create(title="River Unfinished", owner=other_rights_holder, fingerprint_status="pending")
    return tracks


def _ids(rows) -> list[int]:
    return [track.pk for track in rows]


@pytest.mark.parametrize("words", ["zephyr", "river", "IVE", "band", "nothing", "r 1"])
@pytest.mark.parametrize("plan", ["walk", "union"])
def test_both_plans_give_the_old_searchs_rows_in_title_order(catalog, rights_holder, settings, words, plan):
    settings.EARSHOT_SEARCH_PLAN = plan
    expected = _ids(track_search(words=words, viewer=rights_holder))
    search = TrackSearch(words=words, viewer=rights_holder)
    assert search.plan(0, 10) == plan
    assert _ids(search[0:100]) == expected
    for start, stop in ((0, 7), (7, 14), (30, 45), (55, 70)):
        assert _ids(search[start:stop]) == expected[start:stop], (start, stop)
    assert search.count_up_to(1000) == len(expected) == search.count()
    assert search.count_up_to(3) == min(3, len(expected))
    titles = [track.title for track in search[0:100]]
    assert titles == sorted(titles)


def test_a_viewer_sees_no_other_owners_unfinished_upload_by_either_plan(
    catalog, rights_holder, other_rights_holder, settings
):
    for plan in ("walk", "union"):
        settings.EARSHOT_SEARCH_PLAN = plan
        assert "River Unfinished" not in [
            track.title for track in TrackSearch(words="river", viewer=rights_holder)[0:100]
        ]
        listed = [track.title for track in TrackSearch(words="unfinished", viewer=other_rights_holder)[0:10]]
        assert listed == ["River Unfinished"], plan
        assert TrackSearch(words="unfinished", viewer=ArtistFactory().owner)[0:10] == [], plan


def test_an_isrc_or_an_owner_always_takes_the_union(catalog, rights_holder, settings):
    settings.EARSHOT_SEARCH_PLAN = "walk"
    assert TrackSearch(words="river", owner=rights_holder).plan(0, 51) == "union"
    assert TrackSearch(words="river", isrc="GBAYE0601498").plan(0, 51) == "union"
    assert TrackSearch().plan(0, 51) == "union"


def test_the_plan_follows_postgresqls_estimate(catalog, monkeypatch):
    """The walk for a word common enough to fill the window soon; the union for a rare word, for a
    window deep enough that the walk would read more than the union collects, and once a count
    has found few matches."""
    # PostgreSQL's estimate of a tiny, unanalysed table is rough (ANALYZE here would change the
    # plans of other tests: it is not rolled back); its accuracy at 10^6 is the study's.
    river, zephyr = TrackSearch(words="river"), TrackSearch(words="zephyr")
    assert 0 < river.share() <= 1 and 0 < zephyr.share() <= 1
    monkeypatch.setattr(selectors, "WALK_COST_RATIO", 1.0)
    river._estimate = (0.5, 1000.0)  # the walk reads ~ stop / 0.5 rows, the union collects 500 ids
    assert river.plan(0, 51) == "walk"
    assert river.plan(300, 351) == "union"
    zephyr._estimate = (0.01, 1000.0)  # ~ 5,100 rows walked against 10 ids collected
    assert zephyr.plan(0, 51) == "union"
    counted = TrackSearch(words="river")
    counted._estimate = (0.5, 1000.0)
    assert counted.count_up_to(1000) < 1000
    assert counted.plan(0, 11) == "union"


def test_without_words_there_is_no_share_and_no_walk(catalog):
    assert TrackSearch().share() == 0.0
    assert TrackSearch().plan(0, 51) == "union"


def test_a_walk_reads_its_budget_then_leaves_the_window_to_the_union(catalog, monkeypatch):
    """Matches that lie past the budget's rows in title order are read by the union instead."""
    monkeypatch.setattr(TrackSearch, "plan", lambda self, start, stop: "walk")
    monkeypatch.setattr(TrackSearch, "_budget", lambda self: 20)
    expected = _ids(track_search(words="river"))
    search = TrackSearch(words="river")
    for hashed in (False, True):
        first = search._walked(0, 3, rows=20, hashed=hashed)
        assert first is not None and _ids(first) == expected[:3]
        assert search._walked(20, 25, rows=20, hashed=hashed) is None  # the 25th match lies past 20 tracks
        assert _ids(search._walked(0, 100, rows=None, hashed=hashed)) == expected
    search._estimate = (0.5, 60.0)
    assert search._walks_to_try(3) == [(20, False)]  # 20 × 3 / 0.5 = 120 tracks expected room, budget 20
    monkeypatch.setattr(TrackSearch, "_budget", lambda self: 1000)
    assert search._walks_to_try(3) == [(120, False), (1000, True)]
    for start, stop in ((0, 3), (20, 25), (30, 40)):
        assert _ids(search[start:stop]) == expected[start:stop]


class Capped(CappedCountPaginator):
    count_cap = 5


def test_a_capped_count_stops_at_the_cap_and_every_page_stays_readable(catalog, settings):
    settings.EARSHOT_SEARCH_PLAN = "walk"
    expected = _ids(track_search(words="river"))
    assert len(expected) > 20
    paginator = Capped(TrackSearch(words="river"), 4)
    with CaptureQueriesContext(connection) as queries:
        assert paginator.count == 5 and not paginator.count_is_exact
    assert "LIMIT 6" in queries[-1]["sql"], queries[-1]["sql"]
    read, number = [], 1
    while True:
        page = paginator.page(number)
        read += _ids(page.object_list)
        if not page.has_next():
            break
        number = page.next_page_number()
    assert read == expected
    assert page.number == -(-len(expected) // 4)  # the last page, far past the cap's
    with pytest.raises(EmptyPage):
        paginator.page(number + 1)
    with pytest.raises(EmptyPage):
        page.next_page_number()


def test_up_to_the_cap_the_count_is_exact_and_pages_are_djangos(catalog):
    paginator = Capped(TrackSearch(words="zephyr"), 4)
    assert paginator.count == 1 and paginator.count_is_exact and paginator.num_pages == 1
    assert [track.title for track in paginator.page(1).object_list] == ["Zephyr River"]
    assert not paginator.page(1).has_next()
    with pytest.raises(EmptyPage):
        paginator.page(2)


def test_a_capped_count_of_a_queryset_is_limited_too(catalog):
    paginator = Capped(Track.objects.order_by("title", "id"), 10)
    assert (paginator.count, paginator.count_is_exact) == (5, False)
    assert len(paginator.page(6).object_list) == 10  # page 6 of 60 tracks, past the cap's one page


@pytest.mark.parametrize("plan", ["walk", "union"])
@pytest.mark.parametrize("who", ["rights holder", "staff"])
def test_the_admin_searches_titles_and_artists_and_caps_its_count(
    client, catalog, rights_holder, staff, monkeypatch, settings, who, plan
):
    from django.urls import reverse

    settings.EARSHOT_SEARCH_PLAN = plan
    monkeypatch.setattr(CappedCountPaginator, "count_cap", 5)
    monkeypatch.setattr("catalog.admin.TrackAdmin.list_per_page", 4)
    client.force_login(staff if who == "staff" else rights_holder)
    tracks = reverse("admin:catalog_track_changelist")
    expected = [track.title for track in track_search(words="river", owner=None if who == "staff" else rights_holder)]
    page = client.get(tracks, {"q": "river"})
    cl = page.context["cl"]
    assert (cl.result_count, cl.paginator.count_is_exact) == (5, False)
    assert [track.title for track in cl.result_list] == expected[:4]
    html = page.content.decode()
    nav = html[html.index('<nav class="paginator"') : html.index("</nav>", html.index('<nav class="paginator"'))]
    assert "more than 5 tracks" in nav and "more than 5 results" in html and "Show all" not in nav
    assert nav.count('href="?p=2&amp;q=river"') == 1 and "p=3" not in nav  # pages 1 and 2 hold the cap's 5
    deep = client.get(tracks, {"q": "river", "p": 6})
    assert [track.title for track in deep.context["cl"].result_list] == expected[20:24]
    assert 'href="?p=7&amp;q=river"' in deep.content.decode()
    last = -(-len(expected) // 4)
    assert f"p={last + 1}" not in client.get(tracks, {"q": "river", "p": last}).content.decode()
    folk = client.get(tracks, {"q": "river folk"}).context["cl"]  # the words as typed, in an artist's name
    assert [track.title for track in folk.result_list] == ["Zephyr River"] and folk.paginator.count_is_exact
    Track.objects.filter(title="Zephyr River").update(isrc="GBAYE0601498")
    by_isrc = client.get(tracks, {"q": "gbaye0601498"}).context["cl"]
    assert [track.title for track in by_isrc.result_list] == ["Zephyr River"]
