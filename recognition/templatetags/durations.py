"""Template filters for lengths of time."""

from django import template

register = template.Library()


@register.filter
def played(seconds: float | None) -> str:
    """Seconds as a play length: "45 s", "3:05", "2 h 04 min"."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60}:{whole % 60:02d}"
    return f"{whole // 3600:,} h {whole % 3600 // 60:02d} min"
