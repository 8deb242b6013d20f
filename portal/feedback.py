""" "Was this helpful?" votes per article, per day, in Redis (the reports read them).

One hash per UTC day (`keys.portal_feedback`), fields "yes|<key>:<lang>" and "no|<key>:<lang>", kept
as long as the reports' detail. A vote is an increment: counting is idempotent only per request,
so the votes endpoint is rate-limited per client (no cookie remembers who voted).
"""

from __future__ import annotations

from datetime import date

import redis.asyncio as redis

from helpline.routing import keys

KEEP_DAYS = 400


def vote_field(helpful: bool, key: str, language: str) -> str:
    return f"{'yes' if helpful else 'no'}|{key}:{language}"


async def record_vote(client: redis.Redis, day: date, key: str, language: str, helpful: bool) -> None:
    name = keys.portal_feedback(day.strftime("%Y%m%d"))  # the reports' day format (insights.buckets)
    async with client.pipeline(transaction=True) as pipe:
        pipe.hincrby(name, vote_field(helpful, key, language), 1)
        pipe.expire(name, KEEP_DAYS * 86400)
        await pipe.execute()
