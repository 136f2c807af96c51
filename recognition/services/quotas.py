"""What one account may spend on upload jobs: jobs in flight, jobs a day, media kept and for how long.

A sign-up is free, so every cost an account can cause is capped per account
(settings.EARSHOT_UPLOAD_QUOTAS). The checks are cheap counts on the recognition table's
(user, created_at) index; `upload_create` runs them once before probing the file and again under a
lock on the user's row, so concurrent uploads of one account cannot all pass on the same count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q, Sum
from django.utils import timezone

from recognition.models import Recognition

__all__ = ["QuotaExceeded", "job_priority", "quota_check", "quota_usage"]

# django.tasks priorities run from -100 to 100; the worker takes the highest first.
_LOWEST_PRIORITY = -100


@dataclass
class QuotaExceeded(Exception):
    """An upload refused because its account is over a quota; nothing was stored or queued."""

    code: str
    message: str
    http_status: int = 429
    retry_after_s: int | None = None

    def __str__(self) -> str:
        return self.message


def _jobs(user):
    """Every upload job of a user: page uploads (failed on arrival too: each cost a probe) and API jobs."""
    return Recognition.objects.filter(user=user).filter(
        Q(source=Recognition.Source.UPLOAD) | Q(queued_at__isnull=False)
    )


def quota_usage(user) -> dict:
    """Return what a user has used of each quota (shown on the uploads page)."""
    quotas = settings.EARSHOT_UPLOAD_QUOTAS
    since = timezone.now() - timedelta(days=1)
    kept = (
        Recognition.objects.filter(user=user, keep_media=True)
        .exclude(media="")
        .aggregate(total=Sum("size_bytes"))["total"]
        or 0
    )
    return {
        "in_flight": _jobs(user).filter(status__in=[Recognition.Status.PENDING, Recognition.Status.RUNNING]).count(),
        "in_flight_max": quotas["jobs_in_flight"],
        "today": _jobs(user).filter(created_at__gte=since).count(),
        "today_max": quotas["jobs_per_day"],
        "kept_bytes": kept,
        "kept_bytes_max": quotas["kept_bytes"],
        "kept_days": quotas["kept_days"],
    }


def quota_check(*, user, size_bytes: int | None, keep_media: bool) -> None:
    """Raise QuotaExceeded if one more job of `size_bytes` (kept or not) is over a quota of `user`."""
    if user is None or not user.is_authenticated:
        return
    usage = quota_usage(user)
    if usage["in_flight"] >= usage["in_flight_max"]:
        raise QuotaExceeded(
            "too_many_jobs",
            f"You have {usage['in_flight']} uploads waiting or processing (at most {usage['in_flight_max']}); "
            "send the next when one has finished.",
            retry_after_s=60,
        )
    if usage["today"] >= usage["today_max"]:
        raise QuotaExceeded(
            "daily_quota",
            f"You have sent {usage['today']} uploads in the last 24 hours (at most {usage['today_max']}).",
            retry_after_s=3600,
        )
    if keep_media and usage["kept_bytes"] + (size_bytes or 0) > usage["kept_bytes_max"]:
        raise QuotaExceeded(
            "storage_quota",
            f"Keeping this file would pass your storage quota of {usage['kept_bytes_max'] // 2**20} MiB; "
            "delete kept uploads, or upload without keeping the file.",
            http_status=409,
        )


def job_priority(user, *, job_id=None) -> int:
    """The django.tasks priority for a user's next job: 0 for their first waiting job, one lower per
    job of theirs already waiting, so the worker takes every user's first job before anyone's second."""
    if user is None:
        return 0
    waiting = (
        Recognition.objects.filter(user=user, status=Recognition.Status.PENDING, queued_at__isnull=False)
        .exclude(pk=job_id)
        .count()
    )
    return max(_LOWEST_PRIORITY, -waiting)
