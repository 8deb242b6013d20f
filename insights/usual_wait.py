"""The usual wait for a person: what a customer queued for a team is told ("usual wait N min").

It is the median of the team's first responses by an agent (the reports' `frt`: from the first
unanswered message or the bot's handoff to the first human reply) over the last `days` report
days, today included, read from the same histograms the reports read, so it follows the desk as
the recorder folds new replies in. A team with too few replies in the window borrows the whole
desk's; with too few there as well the wait is unknown (None) and nobody is promised a number.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import redis.asyncio as redis

from .buckets import percentile
from .cube import filter_scope
from .reader import CubeReader

WINDOW_DAYS = 7
MIN_REPLIES = 3  # fewer first responses than this say nothing about the usual wait


async def usual_wait(
    client: redis.Redis, team: str | None, zone: ZoneInfo, now: datetime, days: int = WINDOW_DAYS
) -> float | None:
    """Seconds: the median first response by an agent of `team` (else of every team) lately."""
    today = now.astimezone(zone).date()
    window = [today - timedelta(days=i) for i in range(days)]
    reader = CubeReader(client)
    for scope in dict.fromkeys([filter_scope(None, team, None), filter_scope(None, None, None)]):
        counts: Counter[int] = Counter()
        for day in await reader.histograms(window, scope):
            counts.update(day.get("frt", {}))
        if sum(counts.values()) >= MIN_REPLIES:
            return percentile(counts, 50)
    return None
