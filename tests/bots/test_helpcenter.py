from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from helpline.bots.base import LABEL_MOVED_TO_PRIVATE, BotDecision
from helpline.bots.dense import default_cache_dir
from helpline.bots.helpcenter import HelpCenterBot, trim
from helpline.bots.kb import KnowledgeBase
from helpline.bots.search import Searcher
from helpline.routing.models import MessageKind
from tests.bots.conftest import make_ctx

SEED = "abandon ability able about above absent absorb abstract absurd abuse access accident"


async def ask(bot: HelpCenterBot, text: str, **kw: object) -> BotDecision:
    return await bot.handle(make_ctx(text, **kw))  # type: ignore[arg-type]


async def test_answer_with_link_and_feedback_buttons(searcher: Searcher) -> None:
    bot = HelpCenterBot(searcher)
    d = await ask(bot, "I forgot my password, how can I reset it?")
    assert d.handoff is None and d.pending and not d.resolve
    (reply,) = d.replies
    assert "https://help.example.com/articles/password-reset" in reply.text
    assert "Did this solve it?" in reply.text
    assert [b.data for b in reply.buttons] == ["yes", "no"]
    assert d.state["key"] == "password-reset" and d.state["attempts"] == "1"


async def test_answer_in_customer_language(searcher: Searcher) -> None:
    d = await ask(HelpCenterBot(searcher), "비밀번호 재설정 방법", language="ko")
    assert d.state["key"] == "password-reset"
    assert "/ko/articles/password-reset" in d.replies[0].text and "문제가 해결되었나요?" in d.replies[0].text
    assert [b.label for b in d.replies[0].buttons] == ["네", "아니요"]


async def test_yes_resolves(searcher: Searcher) -> None:
    bot = HelpCenterBot(searcher)
    first = await ask(bot, "I forgot my password, how can I reset it?")
    d = await ask(bot, "yes", state=dict(first.state))
    assert d.resolve and d.handoff is None and d.replies


async def test_no_twice_hands_off_with_summary(searcher: Searcher) -> None:
    bot = HelpCenterBot(searcher)
    first = await ask(bot, "I forgot my password, how can I reset it?")
    second = await ask(bot, "no", state=dict(first.state))
    if second.handoff is None:  # a second article was offered: it must be a different one
        assert second.state["key"] != first.state["key"] and second.state["attempts"] == "2"
        third = await ask(bot, "no", state=dict(second.state))
        assert third.handoff is not None and "password-reset" in third.handoff.summary
        assert not third.pending
    else:
        assert "password-reset" in second.handoff.summary


async def test_human_request_hands_off(searcher: Searcher) -> None:
    d = await ask(HelpCenterBot(searcher), "转人工", language="zh")
    assert d.handoff is not None and "human" in d.handoff.reason
    assert d.replies and "人工客服" in d.replies[0].text


async def test_public_account_detail_gets_safe_template_only(searcher: Searcher) -> None:
    email = "jane.doe@example.com"
    d = await ask(HelpCenterBot(searcher), f"my withdrawal is stuck, my email is {email}", kind=MessageKind.MENTION)
    assert LABEL_MOVED_TO_PRIVATE in d.labels
    assert len(d.replies) == 1 and not d.replies[0].private
    assert "direct message" in d.replies[0].text and email not in d.replies[0].text
    assert d.handoff is None and d.state == {}


async def test_public_secret_adds_private_warning_without_echo(searcher: Searcher) -> None:
    d = await ask(
        HelpCenterBot(searcher), f"why can't I withdraw? my seed is {SEED}", kind=MessageKind.REPLY, language="en"
    )
    public = [r for r in d.replies if not r.private]
    private = [r for r in d.replies if r.private]
    assert len(public) == 1 and len(private) == 1
    assert "seed phrase" in private[0].text
    for reply in d.replies:
        assert "abandon" not in reply.text and "absurd" not in reply.text


async def test_private_chat_with_details_is_answered_normally(searcher: Searcher) -> None:
    d = await ask(HelpCenterBot(searcher), "my UID is 12345678, I forgot my password", kind=MessageKind.DIRECT)
    assert LABEL_MOVED_TO_PRIVATE not in d.labels and d.state.get("key") == "password-reset"


async def test_below_threshold_hands_off_with_summary(searcher: Searcher) -> None:
    d = await ask(HelpCenterBot(searcher), "what's the weather in Paris tomorrow?")
    assert d.handoff is not None and not d.pending
    assert "weather in Paris" in d.handoff.summary and "tried:" in d.handoff.summary
    assert d.replies and "support team" in d.replies[0].text


async def test_urgent_hands_off_with_label(searcher: Searcher) -> None:
    d = await ask(HelpCenterBot(searcher), "アカウントが乗っ取られました", language="ja")
    assert d.handoff is not None and "urgent" in d.labels
    assert "セキュリティ" in d.replies[0].text


def test_trim_cuts_at_sentence() -> None:
    text = "First sentence here. " * 30
    out = trim(text, 100)
    assert len(out) <= 100 and out.endswith(".")


async def test_the_question_is_embedded_while_the_event_loop_keeps_running(
    searcher: Searcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert searcher.queries is not None
    embedder = searcher.queries.embedder
    real, started, ticks_during = embedder.queries, threading.Event(), []
    ticks = 0

    def slow(texts: list[str]) -> np.ndarray:
        started.set()
        seen = ticks
        deadline = time.monotonic() + 5
        while ticks == seen and time.monotonic() < deadline:  # the model is "running" until the loop ticks
            time.sleep(0.005)
        ticks_during.append(ticks - seen)
        return real(texts)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            if started.is_set():
                ticks += 1

    monkeypatch.setattr(embedder, "queries", slow)
    task = asyncio.create_task(ticker())
    try:
        d = await ask(HelpCenterBot(searcher), "my withdrawl has been pending since this morning, where is it")
    finally:
        task.cancel()
    assert ticks_during and ticks_during[0] > 0  # other work went on while the question was embedded
    assert d.state["key"] == "withdrawal-pending"


async def test_each_turn_embeds_only_the_text_it_searches(
    searcher: Searcher, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A memory of recent questions of its own, so nothing is found there from another test.
    assert searcher.queries is not None
    embedder = searcher.queries.embedder
    bot = HelpCenterBot(Searcher(kb, embedder=embedder, cache_dir=default_cache_dir()))
    real, embedded = embedder.queries, []

    def recording(texts: list[str]) -> np.ndarray:
        assert threading.current_thread() is not threading.main_thread()  # never on the event loop
        embedded.extend(texts)
        return real(texts)

    monkeypatch.setattr(embedder, "queries", recording)

    async def turn(text: str, state: dict[str, str] | None = None) -> tuple[BotDecision, list[str]]:
        embedded.clear()
        decision = await ask(bot, text, state=state or {})
        assert decision == bot.decide(make_ctx(text, state=state or {}))  # the same decision, nothing embedded
        return decision, list(embedded)

    question = "my withdrawl has been pending since this morning, where is it?"
    first, texts = await turn(question)
    assert texts == [question] and first.state["stage"] == "feedback"
    # A "no" with details searches the question joined with them: that text alone is embedded.
    retried, texts = await turn("no, it is USDT on the TRON network", dict(first.state))
    assert texts == [f"{question} no, it is USDT on the TRON network"]
    assert retried.feedback is not None and not retried.feedback.helpful
    # Turns that search nothing embed nothing.
    for text, state in [
        ("yes", dict(first.state)),
        ("2", {"stage": "clarify", "choices": "password-reset,withdrawal-fees", "question": question}),
        ("/start", {}),
        ("I want to talk to a human", dict(first.state)),
    ]:
        _, texts = await turn(text, state)
        assert texts == [], text
    # A new question instead of a number after a choice was offered: the new question alone.
    clarify = {"stage": "clarify", "choices": "password-reset,withdrawal-fees", "question": question}
    _, texts = await turn("how much is the fee to send ETH out", clarify)
    assert texts == ["how much is the fee to send ETH out"]
    # Asked again (the router may ask twice after a crash): remembered, nothing embedded.
    _, texts = await turn("no, it is USDT on the TRON network", dict(first.state))
    assert texts == []
