"""Pages whose count stops at a cap: a search that matches most of a large catalog counts to 1,000."""

from __future__ import annotations

from functools import cached_property
from math import ceil

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db.models import QuerySet
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

__all__ = ["COUNT_CAP", "CappedCountPaginator", "CappedPageNumberPagination"]

# Past a thousand matches, "more than 1,000" is all a reader of a search needs, and counting a
# common word's hundreds of thousands of matches cost seconds (docs/decisions.md).
COUNT_CAP = 1000


class CappedPage(Page):
    """A page of a paginator whose count is capped: whether a next page exists comes from the one
    row read past this page, not from the count."""

    def __init__(self, object_list, number, paginator, *, more: bool) -> None:
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more

    def next_page_number(self) -> int:
        if not self.more:
            raise EmptyPage("That page contains no results")
        return self.number + 1


class CappedCountPaginator(Paginator):
    """A Paginator that counts at most `count_cap` + 1 rows (a LIMITed count).

    Up to the cap it is Django's Paginator and `count_is_exact` is True. Past it, `count` is the
    cap, `count_is_exact` False, and every page past the cap can still be read: each is read with
    one row more, which says whether another follows.

    The object list is a queryset (counted through a LIMITed subquery) or anything with slices and
    `count_up_to(limit)`, which counts as it knows best (catalog.selectors.TrackSearch).
    """

    count_cap = COUNT_CAP
    latest_page: CappedPage | None = None

    @cached_property
    def _found(self) -> int:
        """The number of rows, or `count_cap` + 1 when there are more."""
        limit = self.count_cap + 1
        count_up_to = getattr(self.object_list, "count_up_to", None)
        if count_up_to is not None:
            return count_up_to(limit)
        if isinstance(self.object_list, QuerySet):
            return self.object_list.order_by()[:limit].count()
        return min(len(self.object_list), limit)

    @property
    def count_is_exact(self) -> bool:
        return self._found <= self.count_cap

    @cached_property
    def count(self) -> int:
        return min(self._found, self.count_cap)

    def validate_number(self, number):
        if self.count_is_exact:
            return super().validate_number(number)
        try:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer") from None
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        return number

    @cached_property
    def num_pages(self) -> int:
        """The pages known to exist: up to the cap's, when the count is capped."""
        return super().num_pages if self.count_is_exact else ceil(self.count_cap / self.per_page)

    def page(self, number):
        if self.count_is_exact:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        rows = list(self.object_list[bottom : bottom + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage("That page contains no results")
        # Kept for a template that links the next page (admin/catalog/track/pagination.html).
        self.latest_page = CappedPage(rows[: self.per_page], number, self, more=len(rows) > self.per_page)
        return self.latest_page


class CappedPageNumberPagination(PageNumberPagination):
    """DRF's page-number pages, `{"count", "count_is_exact", "next", "previous", "results"}`.

    `count` is exact up to COUNT_CAP; past it, it is COUNT_CAP and `count_is_exact` is false,
    while `next` still leads page by page to the last match.
    """

    django_paginator_class = CappedCountPaginator

    def get_paginated_response(self, data):
        paginator = self.page.paginator
        return Response(
            {
                "count": paginator.count,
                "count_is_exact": paginator.count_is_exact,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        response["required"] = ["count", "count_is_exact", "results"]
        response["properties"]["count"]["description"] = f"The number of matches, at most {COUNT_CAP}."
        response["properties"] = {
            "count": response["properties"]["count"],
            "count_is_exact": {
                "type": "boolean",
                "description": f"False when there are more than {COUNT_CAP} matches; `next` still leads to them.",
            },
            **{k: v for k, v in response["properties"].items() if k != "count"},
        }
        return response
