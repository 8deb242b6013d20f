"""Fixed time buckets: report days and hours in the reporting zone, latency histogram buckets.

Latencies are counted into fixed buckets (upper bounds below) so percentiles over any date range
are estimated from summed bucket counts, without keeping individual samples.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

# Upper bounds in seconds: fine for bot answers (seconds) and where support desks set targets
# (minutes), coarse beyond a day.
EDGES: tuple[float, ...] = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    180,
    300,
    600,
    900,
    1200,
    1800,
    2700,
    3600,
    5400,
    7200,
    10800,
    14400,
    21600,
    28800,
    43200,
    86400,
    172800,
    259200,
    604800,
    1209600,
    float("inf"),
)


def bucket_of(seconds: float) -> int:
    """Index of the bucket a latency falls in (bucket i holds EDGES[i-1] < x <= EDGES[i])."""
    return bisect_left(EDGES, max(0.0, seconds))


def percentile(counts: Mapping[int, int], q: float) -> float | None:
    """Estimated q-th percentile (0..100) from bucket counts: linear inside the bucket; the
    open last bucket reports its lower bound."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = q / 100.0 * total
    seen = 0
    for i in range(len(EDGES)):
        n = counts.get(i, 0)
        if n and seen + n >= rank:
            low = 0.0 if i == 0 else EDGES[i - 1]
            high = EDGES[i]
            if high == float("inf"):
                return low
            return low + (high - low) * max(0.0, rank - seen) / n
        seen += n
    return EDGES[-2]


def day_key(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y%m%d")


def hour_of(at: datetime, zone: ZoneInfo) -> int:
    return at.astimezone(zone).hour


def days_between(start: date, end: date) -> list[date]:
    """Every day from start to end inclusive."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def day_str(d: date) -> str:
    """ "YYYYMMDD", the year zero-padded (strftime gives "3980110" for the year 398 on glibc)."""
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def parse_day(day: str) -> date:
    """The date of a `day_str` name."""
    return date(int(day[:4]), int(day[4:6]), int(day[6:8]))
