"""A FastAPI app with the insights routers and a trivial role check (the console's stand-in)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as redis
from fastapi import FastAPI, Header, HTTPException

from helpline.insights.metrics import metrics_router
from helpline.insights.ratings import RatingStore
from helpline.insights.recorder import InsightsRecorder
from helpline.insights.web import insights_router
from helpline.routing.models import EventType
from tests.factories import Parts
from tests.factories import parts as make_parts
from tests.insights.helpers import ev, opened, seed

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def require_role(role: str) -> Callable[..., Any]:
    def check(x_role: str = Header(default="")) -> None:
        if x_role != role:
            raise HTTPException(403, f"needs role {role}")

    return check


def open_role(role: str) -> Callable[..., Any]:
    def allow() -> None:
        return None

    return allow


def app_for(p: Parts, roles: Callable[[str], Callable[..., Any]] = require_role) -> FastAPI:
    app = FastAPI()
    app.include_router(insights_router(p.client, p.settings.insights, roles))
    app.include_router(metrics_router(p.client, p.settings.redis.partitions, p.settings.accounts, p.health.beat))
    return app


async def seeded(r: redis.Redis) -> Parts:
    """Three conversations over two days on two platforms, one with a <script> label."""
    p = make_parts(r)
    await seed(
        r,
        "0-1",
        messages=[T0],
        events=[
            *opened("0-1", T0, labels=["withdrawal"]),
            ev("0-1", EventType.REPLY_QUEUED, T0 + timedelta(minutes=3), actor="agent:kim"),
            ev("0-1", EventType.STATUS, T0 + timedelta(minutes=9), actor="agent:kim", status="resolved"),
        ],
    )
    await seed(
        r,
        "1-2",
        platform="telegram",
        language="ko",
        messages=[T0 + timedelta(hours=5)],
        events=opened("1-2", T0 + timedelta(hours=5), labels=["<script>alert(1)</script>", "=cmd"]),
    )
    day2 = T0 + timedelta(days=1)
    await seed(
        r,
        "2-3",
        messages=[day2],
        events=[
            *opened("2-3", day2, labels=["withdrawal"]),
            ev(
                "2-3", EventType.REPLY_QUEUED, day2 + timedelta(minutes=40), actor="bot:faq", article="withdrawal-guide"
            ),
        ],
    )
    await InsightsRecorder(r).process(["0-1", "1-2", "2-3"])
    await RatingStore(r).record_rating("0-1", 4, "quick", agent="kim", at=T0 + timedelta(minutes=20))
    return p
