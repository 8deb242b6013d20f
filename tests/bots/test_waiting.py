"""The waiting notice on a real Redis: the usual wait read from the reports' live figures, told
to a web chat visitor queued for an open team, never on social media, never off hours."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import redis.asyncio as redis

from helpline.insights.recorder import InsightsRecorder
from helpline.insights.usual_wait import usual_wait
from helpline.routing import keys
from helpline.routing.hours import DAYS
from helpline.routing.models import EventType, OutboundReply
from tests.factories import build_router, message, parts, route_all
from tests.insights.helpers import ev, opened, seed

UTC_ZONE = ZoneInfo("UTC")
WEBCHAT = {
    "platform": "webchat",
    "name": "site",
    "mode": "webhook",
    "options": {"allowed_origins": ["https://www.example.com"], "identity": "off"},
}
NULL = {"platform": "null", "name": "main"}
_ids = itertools.count()


async def answered_after(r: redis.Redis, cid: str, start: datetime, seconds: float, team: str = "support") -> None:
    """A conversation whose first human reply came `seconds` after the customer wrote."""
    await seed(
        r,
        cid,
        messages=[start],
        events=[*opened(cid, start, team=team), ev(cid, EventType.QUEUED, start, team=team)],
        team=team,
    )
    await seed(
        r,
        cid,
        messages=[],
        events=[ev(cid, EventType.REPLY_QUEUED, start + timedelta(seconds=seconds), actor="agent:kim")],
        team=team,
    )


async def record(r: redis.Redis, waits: list[float], start: datetime, team: str = "support") -> None:
    cids = [f"{i % 4}-{team}{i}" for i in itertools.islice(_ids, len(waits))]
    for cid, seconds in zip(cids, waits, strict=True):
        await answered_after(r, cid, start, seconds, team)
    await InsightsRecorder(r).process(cids)


async def test_the_usual_wait_is_the_median_first_response_of_the_last_week(r: redis.Redis) -> None:
    now = datetime.now(UTC)
    assert await usual_wait(r, "support", UTC_ZONE, now) is None  # no figures: no promise
    await record(r, [240, 250], now - timedelta(hours=1))
    assert await usual_wait(r, "support", UTC_ZONE, now) is None  # two replies say too little
    await record(r, [20_000, 20_000, 20_000], now - timedelta(days=8), team="old")  # outside the week
    await record(r, [260, 900], now - timedelta(days=2))
    wait = await usual_wait(r, "support", UTC_ZONE, now)
    assert wait is not None and 180 <= wait <= 300  # the median falls in the 3-5 min bucket
    # A team without replies of its own is told the whole desk's usual wait.
    assert await usual_wait(r, "vip", UTC_ZONE, now) == wait


async def replies(r: redis.Redis, platform: str, account: str) -> list[OutboundReply]:
    out = []
    for p in range(4):
        for _, fields in await r.xrange(keys.outbound_stream(p, platform, account)):
            out.append(OutboundReply.model_validate_json(fields[b"m"]))
    return out


async def test_a_web_chat_visitor_queued_for_a_person_is_told_the_usual_wait(r: redis.Redis) -> None:
    p = parts(r, accounts=[WEBCHAT, NULL])
    router = build_router(p)
    await record(r, [240, 250, 260], datetime.now(UTC) - timedelta(hours=2))
    await p.bus.ingest(
        [
            message("my withdrawal is stuck", platform="webchat", account="site", thread="chat-1"),
            message("my withdrawal is stuck", thread="x-1"),
        ]
    )
    await route_all(p, router)
    [notice] = await replies(r, "webchat", "site")
    assert notice.notice == "waiting" and notice.sender == "system"
    # the histograms' 3-5 min bucket, rounded up
    assert notice.text == "A member of our support team will reply here — usual wait: about 4 min."
    assert await replies(r, "null", "main") == []  # queued silently where the channel shows no such notice
    # One notice per queueing: the visitor writing again while queued is not told again.
    await p.bus.ingest([message("hello?", platform="webchat", account="site", thread="chat-1")])
    await route_all(p, router)
    assert len(await replies(r, "webchat", "site")) == 1


async def test_without_figures_the_notice_promises_no_number(r: redis.Redis) -> None:
    p = parts(r, accounts=[WEBCHAT])
    await p.bus.ingest([message("제 출금이 멈췄어요", platform="webchat", account="site", thread="c", language="ko")])
    await route_all(p, build_router(p))
    [notice] = await replies(r, "webchat", "site")
    assert notice.text == "고객지원 상담원이 이곳에서 최대한 빨리 답변드리겠습니다."


async def test_off_hours_the_visitor_gets_the_off_hours_notice_instead(r: redis.Redis) -> None:
    today = DAYS[datetime.now(ZoneInfo("Asia/Seoul")).weekday()]
    week = {day: ["09:00-18:00"] for day in DAYS if day != today}  # closed all of today
    p = parts(
        r,
        accounts=[WEBCHAT],
        teams=[{"id": "support", "default": True, "hours": {"timezone": "Asia/Seoul", "weekly": week}}],
    )
    await p.bus.ingest([message("my withdrawal is stuck", platform="webchat", account="site", thread="c")])
    await route_all(p, build_router(p))
    [notice] = await replies(r, "webchat", "site")
    assert notice.notice == "offhours" and "offline" in notice.text
