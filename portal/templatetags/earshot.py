"""`{% load earshot %}`: the filters every page uses to show times, confidences and durations.

`{{ s|clock }}` → "4:46", `{{ c|percent }}` → "87 %", `{{ c|confidence_label }}` → "high",
`{{ s|duration }}` → "4.2 s", `{{ ms|ms_duration }}` → "120 ms", `{{ s|total_duration }}` → "2 h 04 min",
`{{ n|count }}` → "1,234", `{{ match|change }}` → "played 2 % fast" (a match, segment or
detection: anything with `speed` and `pitch_semitones`, as attributes or keys; "" when
unchanged). Rules in portal/formatting.py.
"""

from django import template

from portal import formatting

register = template.Library()


@register.filter
def clock(seconds: float | None) -> str:
    return formatting.clock(None if seconds is None else float(seconds))


@register.filter
def percent(fraction: float | None) -> str:
    return formatting.percent(None if fraction is None else float(fraction))


@register.filter
def confidence_label(fraction: float | None) -> str:
    return formatting.confidence_label(None if fraction is None else float(fraction))


@register.filter
def count(number: int | None) -> str:
    return formatting.count(None if number is None else int(number))


@register.filter
def duration(seconds: float | None) -> str:
    return formatting.duration(None if seconds is None else float(seconds))


@register.filter
def ms_duration(milliseconds: float | None) -> str:
    return formatting.duration(None if milliseconds is None else float(milliseconds) / 1000)


@register.filter
def total_duration(seconds: float | None) -> str:
    return formatting.total_duration(None if seconds is None else float(seconds))


@register.filter
def change(match) -> str:
    def field(name: str):
        value = match.get(name) if isinstance(match, dict) else getattr(match, name, None)
        return None if value is None or value == "" else float(value)

    if match is None or match == "":
        return ""
    return formatting.change(field("speed"), field("pitch_semitones"))
