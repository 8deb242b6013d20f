"""The router with real bots: help center in four languages, surveys, off-hours, private moves."""

from datetime import datetime

import redis.asyncio as redis

from helpline.bot_setup import build_bots
from helpline.bots.base import BotContext, BotDecision, BotReply
from helpline.routing import keys
from helpline.routing.models import EventType, MessageKind, OutboundReply, Priority, Status, Visibility
from tests.factories import build_router, message, parts, route_all

HELPCENTER = {"helpcenter": {"type": "helpcenter", "kb": "kb"}}
ALL_TO_BOT = [{"name": "everything to the help center", "set": {"bot": "helpcenter"}}]


async def replies_of(r: redis.Redis, cid: str) -> list[OutboundReply]:
    out = []
    p = keys.conversation_partition(cid)
    for _, fields in await r.xrange(keys.outbound_stream(p, "null", "main")):
        reply = OutboundReply.model_validate_json(fields[b"m"])
        if reply.conversation_id == cid:
            out.append(reply)
    return out


async def conversation_of(p, thread: str):  # type: ignore[no-untyped-def]
    cid = await p.store.find_thread("null", "main", thread)
    assert cid is not None
    conv = await p.store.get(cid)
    assert conv is not None
    return conv


async def test_help_center_answers_in_the_customers_language_and_survey_follows_yes(r: redis.Redis) -> None:
    p = parts(r, rules=ALL_TO_BOT, bots=HELPCENTER)
    router = build_router(p)
    question = "2단계 인증 OTP 앱을 잃어버렸어요. 2FA 재설정은 어떻게 하나요?"
    await p.bus.ingest([message(question, thread="ko", language=None)])
    await route_all(p, router)
    conv = await conversation_of(p, "ko")
    assert conv.language == "ko" and conv.status is Status.PENDING
    [answer] = await replies_of(r, conv.id)
    assert "https://help.example.com" in answer.text and [b.data for b in answer.buttons] == ["yes", "no"]
    assert any("\uac00" <= ch <= "\ud7a3" for ch in answer.text)  # written in Hangul
    await p.bus.ingest([message("yes", thread="ko", language=None)])
    await route_all(p, router)
    conv = await conversation_of(p, "ko")
    assert conv.status is Status.RESOLVED
    texts = [x.text for x in await replies_of(r, conv.id)]
    assert len(texts) == 3 and "5" in texts[-1]  # thanks, then the survey asking for 1-5
    await p.bus.ingest([message("5 빠르고 좋아요", thread="ko", language=None)])
    await route_all(p, router)
    conv = await conversation_of(p, "ko")
    assert conv.status is Status.RESOLVED
    rating = [e for e in await p.store.events(conv.id) if e.type is EventType.RATING]
    assert len(rating) == 1 and rating[0].data["score"] == 5 and rating[0].data["comment"] == "빠르고 좋아요"
    assert EventType.REOPENED not in [e.type for e in await p.store.events(conv.id)]


async def test_asking_for_a_human_hands_off_and_urgent_raises_priority(r: redis.Redis) -> None:
    p = parts(r, rules=ALL_TO_BOT, bots=HELPCENTER)
    router = build_router(p)
    await p.bus.ingest(
        [
            message("我要人工客服", thread="zh", language="zh"),
            message("My account was hacked and my BTC was withdrawn!", thread="en"),
        ]
    )
    await route_all(p, router)
    zh = await conversation_of(p, "zh")
    assert zh.handler is None and EventType.HANDOFF in [e.type for e in await p.store.events(zh.id)]
    en = await conversation_of(p, "en")
    assert en.priority is Priority.URGENT and "urgent" in en.labels


async def test_public_account_question_moves_to_private_and_links(r: redis.Redis) -> None:
    p = parts(r, rules=ALL_TO_BOT, bots=HELPCENTER)
    router = build_router(p)
    seed = " ".join(["abandon"] * 11 + ["about"])
    await p.bus.ingest(
        [
            message(
                f"@exchange my withdrawal is stuck, my seed is {seed}",
                kind=MessageKind.MENTION,
                thread="tweet-1",
                user="carol",
            )
        ]
    )
    await route_all(p, router)
    public = await conversation_of(p, "tweet-1")
    replies = await replies_of(r, public.id)
    in_public = [x for x in replies if x.visibility is Visibility.PUBLIC]
    assert len(in_public) == 1 and "abandon" not in in_public[0].text
    private = [x for x in replies if x.visibility is Visibility.PRIVATE]
    assert len(private) == 1 and private[0].kind is MessageKind.DIRECT and private[0].recipient_id == "carol"
    await p.bus.ingest([message("hi, here is my UID 12345", kind=MessageKind.DIRECT, thread="dm-carol", user="carol")])
    await route_all(p, router)
    dm = await conversation_of(p, "dm-carol")
    public = await conversation_of(p, "tweet-1")
    assert (await r.hget(keys.conversation(dm.id), "linked")) == public.id.encode()
    assert (await r.hget(keys.conversation(public.id), "linked")) == dm.id.encode()


class Handoff:
    name = "h"

    async def handle(self, ctx: BotContext) -> BotDecision:
        from helpline.bots.base import Handoff as H

        return BotDecision((BotReply("passing you on"),), handoff=H("always"))


async def test_offhours_notice_once_per_day_when_nobody_can_take_it(r: redis.Redis) -> None:
    from zoneinfo import ZoneInfo

    from helpline.routing.hours import DAYS

    today = DAYS[datetime.now(ZoneInfo("Asia/Seoul")).weekday()]
    week = {day: ["09:00-18:00"] for day in DAYS if day != today}  # closed all of today
    p = parts(
        r,
        teams=[{"id": "support", "default": True, "hours": {"timezone": "Asia/Seoul", "weekly": week}}],
        rules=[{"name": "bot", "set": {"bot": "h"}}],
        bots={"h": {"type": "autoreply", "texts": {"en": "x"}}},
    )
    router = build_router(p, {"h": Handoff()})
    await p.bus.ingest([message("help", thread="night")])
    await route_all(p, router)
    conv = await conversation_of(p, "night")
    texts = [x.text for x in await replies_of(r, conv.id)]
    assert texts[0] == "passing you on" and "offline" in texts[1] and len(texts) == 2
    await p.bus.ingest([message("hello?", thread="night")])
    await route_all(p, router)
    assert len(await replies_of(r, conv.id)) == 2  # no second notice the same day
    assert [e.type for e in await p.store.events(conv.id)].count(EventType.OFFHOURS) == 1


def test_bots_build_from_config_and_a_bad_kb_path_names_the_field() -> None:
    import pytest

    from helpline.bots.helpcenter import HelpCenterBot
    from helpline.connectors.errors import ConfigError
    from tests.factories import settings

    bots = build_bots(settings(bots=HELPCENTER))
    assert set(bots) == {"helpcenter"} and isinstance(bots["helpcenter"], HelpCenterBot)
    assert set(bots["helpcenter"].searcher.indexes) == {"en", "ko", "zh", "ja"}  # every language indexed
    with pytest.raises(ConfigError, match=r"bots\.helpcenter\.kb"):
        build_bots(settings(bots={"helpcenter": {"type": "helpcenter", "kb": "no/such/folder"}}))
