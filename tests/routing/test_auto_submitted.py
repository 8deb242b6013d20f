"""A message a machine sent (auto-responder, list, bounce) never gets an automatic answer."""

from datetime import datetime

import redis.asyncio as redis

from helpline.routing.models import EventType, Status
from tests.factories import build_router, message, parts, route_all
from tests.routing.test_bot_flows import ALL_TO_BOT, HELPCENTER, conversation_of, replies_of


async def test_an_auto_reply_to_the_bots_answer_gets_no_answer(r: redis.Redis) -> None:
    p = parts(r, rules=ALL_TO_BOT, bots=HELPCENTER)
    router = build_router(p)
    await p.bus.ingest([message("How do I reset 2FA? I lost my authenticator app", thread="mail")])
    await route_all(p, router)
    conv = await conversation_of(p, "mail")
    assert len(await replies_of(r, conv.id)) == 1
    await p.bus.ingest(
        [
            message("I am out of the office until Monday.", thread="mail", auto_submitted=True),
            message("Automatic reply: I am away.", thread="mail", auto_submitted=True),
        ]
    )
    await route_all(p, router)
    assert len(await replies_of(r, conv.id)) == 1  # the bot said nothing to the robot
    conv = await conversation_of(p, "mail")
    assert conv.handler == "bot:helpcenter" and conv.message_count == 3


async def test_a_conversation_started_by_a_machine_goes_to_humans_without_notices(r: redis.Redis) -> None:
    from zoneinfo import ZoneInfo

    from helpline.routing.hours import DAYS

    today = DAYS[datetime.now(ZoneInfo("UTC")).weekday()]
    week = {day: ["09:00-18:00"] for day in DAYS if day != today}  # closed all day: a notice would go out
    p = parts(
        r,
        teams=[{"id": "support", "default": True, "hours": {"timezone": "UTC", "weekly": week}}],
        rules=ALL_TO_BOT,
        bots=HELPCENTER,
    )
    router = build_router(p)
    await p.bus.ingest([message("Your weekly newsletter", thread="list", auto_submitted=True)])
    await route_all(p, router)
    conv = await conversation_of(p, "list")
    assert await replies_of(r, conv.id) == []
    types = [e.type for e in await p.store.events(conv.id)]
    assert conv.handler is None and EventType.HANDOFF in types and EventType.QUEUED in types
    assert EventType.OFFHOURS not in types


async def test_a_machine_saying_5_after_the_survey_is_not_a_rating(r: redis.Redis) -> None:
    p = parts(r, rules=ALL_TO_BOT, bots=HELPCENTER)
    router = build_router(p)
    await p.bus.ingest([message("How do I reset 2FA? I lost my authenticator app", thread="s")])
    await route_all(p, router)
    await p.bus.ingest([message("yes", thread="s")])
    await route_all(p, router)
    conv = await conversation_of(p, "s")
    assert conv.status is Status.RESOLVED
    await p.bus.ingest([message("5", thread="s", auto_submitted=True)])
    await route_all(p, router)
    assert EventType.RATING not in [e.type for e in await p.store.events(conv.id)]
