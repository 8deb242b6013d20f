"""Business-hours arithmetic that `routing.hours.BusinessHours` does not offer: the moment a
number of open seconds has elapsed (an SLA due time counted in business hours)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from helpline.routing.hours import BusinessHours

_SEARCH_DAYS = 400  # a due time further than this (a desk closed for a year) is reported as None


def add_open_seconds(hours: BusinessHours, start: datetime, seconds: float) -> datetime | None:
    """The earliest t with `hours.open_seconds_between(start, t) == seconds`."""
    if seconds <= 0:
        return start
    if hours.always_open:
        return start + timedelta(seconds=seconds)
    zone = ZoneInfo(hours.timezone)
    local = start.astimezone(zone)
    left = seconds
    for offset in range(_SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        for s, e in sorted(hours.spans(day)):
            lo = max(local, datetime.combine(day, s, zone))
            hi = datetime.combine(day, e, zone)
            if hi <= lo:
                continue
            span = (hi - lo).total_seconds()
            if span >= left:
                return (lo + timedelta(seconds=left)).astimezone(start.tzinfo)
            left -= span
    return None


def elapsed_seconds(hours: BusinessHours | None, start: datetime, end: datetime) -> float:
    """Wall-clock seconds, or open seconds when `hours` is given."""
    if hours is None:
        return max(0.0, (end - start).total_seconds())
    return hours.open_seconds_between(start, end)
