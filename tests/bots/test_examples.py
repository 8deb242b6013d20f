"""Example phrasings: the store on a real Redis, and approved examples changing the bot's answers."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as redis

from helpline.bots.dense import default_cache_dir
from helpline.bots.embeddings import default_embedder
from helpline.bots.examples import (
    ExampleFileError,
    ExampleStore,
    Source,
    Status,
    example_id,
    export_line,
    parse_lines,
)
from helpline.bots.helpcenter import HelpCenterBot
from helpline.bots.kb import KnowledgeBase
from helpline.bots.search import Searcher
from helpline.routing import keys

from .conftest import make_ctx

MISSED = "my codes app is gone after a factory reset, locked out"
TAUGHT = "factory reset wiped my code app, now im locked out"


async def test_a_phrasing_is_one_example_however_often_it_is_proposed(r: redis.Redis) -> None:
    store = ExampleStore(r)
    first = await store.propose(
        "2fa-reset", "en", "  Lost my   phone ", Source.LINK, conversation_id="0-1", who="agent:ann"
    )
    again = await store.propose("2fa-reset", "en", "lost my PHONE", Source.MARKED, who="agent:bob")
    assert first is not None and again == first
    assert first.text == "Lost my phone" and first.status is Status.PENDING
    assert await r.hlen(keys.kb_examples()) == 1  # type: ignore[misc]
    assert await store.propose("2fa-reset", "en", " ? ", Source.LINK) is None  # teaches nothing
    # the same words for another article, or another language, are another example
    other = await store.propose("password-reset", "en", "lost my phone", Source.LINK)
    assert other is not None and other.id != first.id


async def test_decisions_raise_the_version_bots_watch_only_when_the_approved_set_changes(r: redis.Redis) -> None:
    store = ExampleStore(r)
    e = await store.propose("2fa-reset", "en", TAUGHT, Source.LINK)
    assert e is not None and await store.version() == 0
    rejected = await store.decide(e.id, approve=False, who="agent:sue")
    assert rejected is not None and rejected.status is Status.REJECTED and await store.version() == 0
    approved = await store.decide(e.id, approve=True, who="agent:sue")
    assert approved is not None and approved.decided_by == "agent:sue" and await store.version() == 1
    assert await store.decide(e.id, approve=True, who="agent:sue") == approved  # idempotent
    assert await store.version() == 1
    await store.decide(e.id, approve=False, who="agent:sue")  # taken back out of retrieval
    assert await store.version() == 2
    assert await store.decide("0" * 20, approve=True, who="agent:sue") is None
    # a rejected phrasing proposed again stays rejected
    again = await store.propose("2fa-reset", "en", TAUGHT, Source.CANNED)
    assert again is not None and again.status is Status.REJECTED


async def test_export_then_import_is_idempotent_and_approves(r: redis.Redis) -> None:
    store = ExampleStore(r)
    e = await store.propose("2fa-reset", "en", TAUGHT, Source.LINK, who="agent:ann")
    assert e is not None
    await store.decide(e.id, approve=True, who="agent:sue")
    lines = [export_line(x) for x in await store.with_status(Status.APPROVED)]
    await r.flushall()
    assert await store.import_lines(parse_lines(lines), who="ops") == (1, 0)
    assert await store.import_lines(parse_lines(lines), who="ops") == (0, 1)
    (imported,) = await store.all()
    assert imported.id == e.id and imported.status is Status.APPROVED and imported.decided_by == "agent:sue"
    assert await store.version() == 1  # the second import changed nothing the bots see
    # a pending example becomes approved by an import of the same phrasing
    p = await store.propose("password-reset", "en", "forgot my password again", Source.LINK)
    assert p is not None
    line = json.dumps({"key": "password-reset", "language": "en", "text": "Forgot my password  again"})
    assert await store.import_lines(parse_lines([line]), who="ops") == (1, 0)
    got = await store.get(p.id)
    assert got is not None and got.status is Status.APPROVED and got.source is Source.LINK


def test_an_import_file_with_bad_lines_names_each_and_imports_nothing() -> None:
    lines = [
        json.dumps({"key": "2fa-reset", "language": "en", "text": TAUGHT}),
        "{not json",
        json.dumps({"key": "2fa-reset", "language": "en"}),
        "",
        json.dumps({"key": "nope", "language": "en", "text": "where is my money"}),
    ]
    with pytest.raises(ExampleFileError) as caught:
        parse_lines(lines, known={("2fa-reset", "en")})
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3", "line 5"]
    assert "text" in problems[1] and "no article 'nope'" in problems[2]
    assert len(parse_lines(lines[:1], known={("2fa-reset", "en")})) == 1


def test_example_ids_fold_case_width_and_spacing() -> None:
    assert example_id("k", "ja", "ＡＢＣ  def") == example_id("k", "ja", "abc def")
    assert example_id("k", "ja", "abc") != example_id("k", "en", "abc")


async def test_an_approved_example_answers_a_question_that_missed_before(kb: KnowledgeBase, r: redis.Redis) -> None:
    searcher = Searcher(kb, embedder=default_embedder(), cache_dir=default_cache_dir())
    assert searcher.hybrid
    bot = HelpCenterBot(searcher)
    bot.examples.check_seconds = 0.0

    async def answer() -> str | None:
        await bot.refresh(r)
        decision = bot.decide(make_ctx(MISSED))
        return decision.state.get("key") if decision.state.get("stage") == "feedback" else None

    assert await answer() is None  # before: not sure enough to answer
    store = ExampleStore(r)
    example = await store.propose("2fa-reset", "en", TAUGHT, Source.LINK, conversation_id="0-7", who="agent:ann")
    assert example is not None
    assert await answer() is None  # pending examples are not used
    await store.decide(example.id, approve=True, who="agent:sue")
    assert await answer() == "2fa-reset"  # approved: the customer's rewording is answered
    assert bot.examples.version == 1 and searcher.phrasings.count == 1
    await store.decide(example.id, approve=False, who="agent:sue")
    assert await answer() is None  # withdrawn again
    assert searcher.phrasings.count == 0


async def test_examples_of_unknown_articles_are_left_out(kb: KnowledgeBase, r: redis.Redis) -> None:
    searcher = Searcher(kb, embedder=default_embedder(), cache_dir=default_cache_dir())
    bot = HelpCenterBot(searcher)
    store = ExampleStore(r)
    e = await store.propose("removed-article", "en", TAUGHT, Source.LINK)
    assert e is not None
    await store.decide(e.id, approve=True, who="agent:sue")
    await bot.refresh(r)
    assert bot.examples.version == 1 and searcher.phrasings.count == 0
    assert searcher.choose(MISSED, "en").answer is None


async def test_a_bm25_only_bot_ignores_examples(kb: KnowledgeBase, r: redis.Redis) -> None:
    bot = HelpCenterBot(Searcher(kb))
    await ExampleStore(r).import_lines(
        parse_lines([json.dumps({"key": "2fa-reset", "language": "en", "text": TAUGHT})]), who="ops"
    )
    await bot.refresh(r)
    assert bot.examples.version is None
