"""The customers' answers to "Did this solve it?" per article, from the router with the real
help-center bot to the reports (next to the help center's "Was this helpful?" votes)."""

from __future__ import annotations

from datetime import UTC, datetime

import redis.asyncio as redis

from helpline.insights.reader import CubeReader
from helpline.insights.recorder import InsightsRecorder
from helpline.insights.reports import Query, articles
from helpline.portal.feedback import record_vote
from helpline.routing.models import EventType
from tests.factories import build_router, message, parts, route_all

from .test_bot_flows import ALL_TO_BOT, HELPCENTER, conversation_of

QUESTION = "I lost my phone with google authenticator, how do I reset 2FA?"


async def test_yes_and_no_are_counted_per_article_in_the_reports(r: redis.Redis) -> None:
    p = parts(r, rules=ALL_TO_BOT, bots=HELPCENTER)
    router = build_router(p)
    for thread, answer in (("a", "yes"), ("b", "no"), ("c", "yes")):
        await p.bus.ingest([message(QUESTION, thread=thread)])
        await route_all(p, router)
        await p.bus.ingest([message(answer, thread=thread)])
        await route_all(p, router)
    ids = []
    for thread, helpful in (("a", True), ("b", False), ("c", True)):
        conv = await conversation_of(p, thread)
        ids.append(conv.id)
        events = await p.store.events(conv.id)
        answered = [e for e in events if e.type is EventType.REPLY_QUEUED and e.data.get("article")]
        assert answered[0].data["article"] == "2fa-reset"
        (said,) = [e for e in events if e.type is EventType.ARTICLE_FEEDBACK]
        assert said.data == {"article": "2fa-reset", "language": "en", "helpful": helpful}
    today = datetime.now(UTC).date()
    await record_vote(r, today, "2fa-reset", "en", helpful=False)
    await record_vote(r, today, "2fa-reset", "ko", helpful=True)
    await record_vote(r, today, "password-reset", "en", helpful=True)
    await InsightsRecorder(r).process(ids)
    await InsightsRecorder(r).process(ids)  # counted once however often the recorder looks
    report = await articles(CubeReader(r), Query(start=today, end=today))
    rows = {row["article"]: row for row in report.tables()["articles"]}
    assert rows["2fa-reset"] == {
        "article": "2fa-reset",
        "answered": 3,
        "helpful": 2,
        "not_helpful": 1,
        "helpful_rate": 0.6667,
        "page_helpful": 1,
        "page_not_helpful": 1,
        "page_helpful_rate": 0.5,
    }
    assert rows["password-reset"]["answered"] == 0 and rows["password-reset"]["page_helpful"] == 1
    assert report.tables()["articles"][0]["article"] == "2fa-reset"  # the most "not helpful" first
    english = await articles(CubeReader(r), Query(start=today, end=today, language="en"))
    assert {row["article"]: row["page_helpful"] for row in english.articles}["2fa-reset"] == 0


async def test_a_choice_among_the_bots_articles_proposes_the_question_as_an_example(r: redis.Redis) -> None:
    from helpline.bots.examples import ExampleStore, Source, Status

    p = parts(r, rules=ALL_TO_BOT, bots=HELPCENTER)
    router = build_router(p)
    unsure = "what about my 2fa codes?"
    await p.bus.ingest([message(unsure, thread="c")])
    await route_all(p, router)
    conv = await conversation_of(p, "c")
    assert "bot-clarified" in conv.labels and await ExampleStore(r).all() == []
    await p.bus.ingest([message("1", thread="c")])
    await route_all(p, router)
    (example,) = await ExampleStore(r).all()
    assert (example.key, example.language, example.text) == ("2fa-reset", "en", unsure)
    assert example.source is Source.CLARIFIED and example.status is Status.PENDING
    assert example.conversation_id == conv.id and example.proposed_by == "bot:helpcenter"
