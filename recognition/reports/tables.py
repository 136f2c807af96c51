"""The report page's "By track and source" rows as HTML, built with `format_html_join`.

A page lists 50 tracks with up to 8 sources each: 400 rows of six cells, on which Django's
template engine spent more than half as long as the two statements behind the page took (a
lookup and a filter a cell); `format_html` escapes the same values in a fraction of it (docs/decisions.md,
`track_rows`). The rest of the page stays in templates/reports/report.html.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from portal.formatting import total_duration
from recognition.reports.selectors import ReportRow, TrackTotal

__all__ = ["track_rows"]

_ROW = (
    '<tr data-testid="report-row" data-source="{}"><td>{}</td>'
    '<td data-label="Source"><a href="{}" data-testid="report-row-link">{}</a></td>'
    '<td class="num" data-label="Plays">{}</td><td class="num" data-label="Played">{}</td>'
    '<td class="when" data-label="First heard">{}</td><td class="when" data-label="Last heard">{}</td></tr>\n'
)
_MORE = (
    '<tr><td></td><td colspan="5"><a href="{}" data-testid="report-more">{} more source{}</a></td></tr>\n'
)  # fmt: skip


def _when(moment: dt.datetime | None) -> str:
    """As the template's `date:"Y-m-d H:i"`: in the site's time zone."""
    return "" if moment is None else timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _name(total: TrackTotal) -> SafeString:
    if total.artist:
        return format_html('<strong>{}</strong><br><span class="hint">{}</span>', total.title, total.artist)
    return format_html("<strong>{}</strong>", total.title)


def track_rows(listed: list[dict]) -> SafeString:
    """A <tbody> a track of `listed` (the view's dicts: `total`, `links` as (row, link), `more`,
    `more_link`): a row a source, the track named on its first, then the link to the rest."""

    def cells(total: TrackTotal, links: list[tuple[ReportRow, str]]):
        for at, (row, link) in enumerate(links):
            yield (
                row.source, _name(total) if at == 0 else "", link, row.source_name, row.plays,
                total_duration(row.played_s), _when(row.first_heard_at), _when(row.last_heard_at),
            )  # fmt: skip

    def tracks():
        for track in listed:
            more = track["more"]
            link = format_html(_MORE, track["more_link"], more, "s" if more > 1 else "") if more else ""
            yield format_html_join("", _ROW, cells(track["total"], track["links"])), link

    return format_html_join("", '<tbody class="report-track">\n{}{}</tbody>\n', tracks())
