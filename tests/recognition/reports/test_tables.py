"""The "By track and source" rows built in Python: escaped, a track named once, the rest linked."""

import datetime as dt

from recognition.reports.selectors import ReportRow, TrackTotal
from recognition.reports.tables import track_rows

AT = dt.datetime(2026, 11, 10, 9, 5, tzinfo=dt.UTC)


def _row(source: str, name: str, plays: int) -> ReportRow:
    return ReportRow(7, "<b>Tom & Jerry</b>", "A&B", source, name, None, plays, 4000.0, AT, AT + dt.timedelta(days=1))


def test_rows_escape_user_text_and_name_the_track_once():
    total = TrackTotal(7, "<b>Tom & Jerry</b>", "A&B", plays=3)
    rows = [_row("listen", "Listens", 2), _row("monitor:3", "<i>Radio</i>", 1)]
    links = [(rows[0], "/reports/plays/?track=7&source=listen"), (rows[1], "/detections/?track=7&monitor=3")]
    html = str(track_rows([{"total": total, "links": links, "more": 2, "more_link": "?from=x&track=7"}]))
    assert html.startswith('<tbody class="report-track">\n<tr data-testid="report-row" data-source="listen">')
    assert html.count("<strong>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</strong>") == 1
    assert '<span class="hint">A&amp;B</span>' in html and "&lt;i&gt;Radio&lt;/i&gt;" in html
    assert 'href="/reports/plays/?track=7&amp;source=listen"' in html and "<b>" not in html
    assert html.count('data-testid="report-row"') == 2 and "1 h 07 min" in html
    assert "2026-11-10 09:05</td>" in html and "2026-11-11 09:05</td></tr>" in html
    assert '<a href="?from=x&amp;track=7" data-testid="report-more">2 more sources</a>' in html
    assert html.endswith("</tbody>\n")


def test_one_more_source_is_singular_and_none_has_no_link():
    total = TrackTotal(7, "T", "", plays=1)
    row = _row("api", "API", 1)
    one = str(track_rows([{"total": total, "links": [(row, "/x")], "more": 1, "more_link": "?t=7"}]))
    assert ">1 more source</a>" in one and '<span class="hint">' not in one
    none = str(track_rows([{"total": total, "links": [(row, "/x")], "more": 0, "more_link": "?t=7"}]))
    assert "report-more" not in none
