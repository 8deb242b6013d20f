"""Business hours: a weekly schedule in a time zone, with holidays. Pure functions of time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: "America" is a directory
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


#: An IANA time zone name, checked when the settings load.
TimeZoneName = Annotated[str, AfterValidator(known_zone)]


class BusinessHours(BaseModel):
    """`weekly = {mon = ["09:00-18:00"], ...}`; a day not listed is closed. "24/7" opens always."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: TimeZoneName = "UTC"
    weekly: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    holidays: tuple[date, ...] = ()
    always_open: bool = False

    @field_validator("weekly")
    @classmethod
    def _valid_week(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for day, spans in value.items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r} (use {', '.join(DAYS)})")
            for span in spans:
                _parse_span(span)
        return value

    def spans(self, day: date) -> list[tuple[time, time]]:
        if day in self.holidays:
            return []
        return [_parse_span(s) for s in self.weekly.get(DAYS[day.weekday()], ())]

    def is_open(self, at: datetime) -> bool:
        if self.always_open:
            return True
        local = at.astimezone(ZoneInfo(self.timezone))
        now = local.time()
        return any(start <= now < end for start, end in self.spans(local.date()))

    def next_opening(self, at: datetime) -> datetime | None:
        """The next moment the desk opens (`at` itself if open); None if never within 60 days."""
        if self.is_open(at):
            return at
        zone = ZoneInfo(self.timezone)
        local = at.astimezone(zone)
        for offset in range(60):
            day = local.date() + timedelta(days=offset)
            for start, _ in sorted(self.spans(day)):
                candidate = datetime.combine(day, start, zone)
                if candidate > local:
                    return candidate
        return None

    def open_seconds_between(self, start: datetime, end: datetime) -> float:
        """Business seconds in [start, end): what an SLA counting business hours measures."""
        if end <= start:
            return 0.0
        if self.always_open:
            return (end - start).total_seconds()
        zone = ZoneInfo(self.timezone)
        a, b = start.astimezone(zone), end.astimezone(zone)
        total = 0.0
        day = a.date()
        while day <= b.date():
            for s, e in self.spans(day):
                lo = max(a, datetime.combine(day, s, zone))
                hi = min(b, datetime.combine(day, e, zone))
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total


def _parse_span(span: str) -> tuple[time, time]:
    try:
        left, right = span.split("-")
        start = time.fromisoformat(left.strip())
        end = time.fromisoformat(right.strip()) if right.strip() != "24:00" else time(23, 59, 59, 999999)
    except ValueError as exc:
        raise ValueError(f"bad time span {span!r} (expected HH:MM-HH:MM)") from exc
    if end <= start:
        raise ValueError(f"bad time span {span!r}: ends before it starts")
    return start, end
