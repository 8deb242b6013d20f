"""Satisfaction ratings: the survey bot calls `RatingStore.record_rating` with the customer's
answer; the rating is stored per conversation and counted into the CSAT cells of the day."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import redis.asyncio as redis
from pydantic import BaseModel, Field

from helpline.routing import keys

from . import scripts
from .buckets import day_key, hour_of
from .cube import NONE, Increment, field
from .errors import InvalidRating
from .recorder import flatten

SCALE = (1, 2, 3, 4, 5)
MAX_ATTEMPTS = 5


class Rating(BaseModel):
    conversation_id: str
    score: int = Field(ge=min(SCALE), le=max(SCALE))
    comment: str = Field(default="", max_length=4000)
    agent: str = ""  # "agent:<id>" (a bare id is prefixed), or "" when nobody is credited
    team: str = ""
    platform: str
    account: str
    language: str = ""
    labels: tuple[str, ...] = ()
    at: datetime


def rating_increments(rating: Rating, zone: ZoneInfo, sign: int = 1) -> list[Increment]:
    """The CSAT cells one rating adds to (sign=-1: takes away, when a rating is replaced)."""
    day, hour = day_key(rating.at, zone), str(hour_of(rating.at, zone))
    scope = (rating.platform, rating.team or NONE, rating.language or NONE)
    cells = [("all", ""), ("hour", hour), ("account", rating.account)]
    cells += [("label", label) for label in rating.labels]
    if rating.agent:
        cells.append(("agent", rating.agent))
    out = []
    for metric, delta in (("csat_n", 1), ("csat_sum", rating.score), (f"csat_{rating.score}", 1)):
        out += [Increment(day, *scope, dim, field(metric, value), sign * delta) for dim, value in cells]
    return out


class RatingStore:
    def __init__(self, client: redis.Redis, timezone: str = "UTC") -> None:
        self.client = client
        self.zone = ZoneInfo(timezone)
        self._rate = client.register_script(scripts.RATE)

    async def record_rating(
        self,
        conversation_id: str,
        score: int,
        comment: str = "",
        agent: str | None = None,
        team: str | None = None,
        at: datetime | None = None,
    ) -> Rating:
        """Store the customer's rating of a conversation and count it. Idempotent: the same
        rating recorded again changes nothing; a new rating of the same conversation replaces
        the old one (its counts are taken back in the same script)."""
        if score not in SCALE:
            raise InvalidRating(f"score: {score!r} is not on the 1-5 scale")
        raw = await self.client.hgetall(keys.conversation(conversation_id))  # type: ignore[misc]
        conv = {k.decode(): v.decode() for k, v in raw.items()}
        if not conv:
            raise InvalidRating(f"conversation_id: no conversation {conversation_id!r}")
        who = agent or conv.get("assignee") or ""
        rating = Rating(
            conversation_id=conversation_id,
            score=score,
            comment=comment,
            agent=who if not who or ":" in who else f"agent:{who}",
            team=team or conv.get("team") or "",
            platform=conv["platform"],
            account=conv.get("account", ""),
            language=conv.get("language", ""),
            labels=tuple(json.loads(conv.get("labels") or "[]")),
            at=at or datetime.now(UTC),
        )
        for _ in range(MAX_ATTEMPTS):
            old_json, old_at = await self.client.hmget(
                keys.insights_rating(conversation_id),  # type: ignore[misc]
                ["json", "at"],
            )
            old = Rating.model_validate_json(old_json) if old_json else None
            if old is not None and old.model_dump(exclude={"at"}) == rating.model_dump(exclude={"at"}):
                return old  # the same answer again (a redelivered survey reply)
            incs = (rating_increments(old, self.zone, -1) if old else []) + rating_increments(rating, self.zone)
            args = [
                conversation_id,
                (old_at or b"").decode(),
                rating.model_dump_json(),
                str(int(rating.at.timestamp() * 1000)),
                len(incs),
                *flatten(incs),
            ]
            if int(await self._rate(keys=[keys.insights_prefix()], args=args)):
                return rating
        raise InvalidRating(f"conversation_id: rating of {conversation_id!r} kept changing; try again")

    async def get(self, conversation_id: str) -> Rating | None:
        raw = await self.client.hget(keys.insights_rating(conversation_id), "json")  # type: ignore[misc]
        return Rating.model_validate_json(raw) if raw else None
