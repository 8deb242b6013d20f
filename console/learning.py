"""What the help-center bot learns from agents: the article an agent answered with, and the
customer's question that article answered, proposed as an example phrasing of it.

An agent's reply names an article when it contains the article's link (its `url`, or its page on
the help center: `/help/<lang>/<key>`), or when it started from a canned response tied to the
article; the agent may also mark "this article answers it" on the conversation page. The question
is the customer's latest message with text. Proposals wait for a supervisor (`/examples`);
`helpline.bots.examples` stores them. Learning never fails a reply: a problem is logged.
"""

from __future__ import annotations

import logging
import re

import redis.asyncio as redis

from helpline.bots.examples import Example, ExampleStore, Source
from helpline.bots.kb import Article, KnowledgeBase
from helpline.routing.models import Conversation

from .errors import Invalid
from .roles import Principal
from .services import Services

log = logging.getLogger(__name__)

_PORTAL_PATH = re.compile(r"/help/([A-Za-z-]{2,16})/([A-Za-z0-9_.-]{1,200})(?![A-Za-z0-9_.-])")


def article_linked(kb: KnowledgeBase, text: str) -> Article | None:
    """The article whose link the text contains (the longest link wins: one may prefix another)."""
    found = [a for a in kb.articles if a.url and a.url in text]
    if found:
        return max(found, key=lambda a: len(a.url or ""))
    for language, key in _PORTAL_PATH.findall(text):
        article = kb.get(key, language)
        if article is not None:
            return article
    return None


async def article_of_reply(svc: Services, text: str, canned_id: str | None) -> tuple[Article, Source] | None:
    """The article an agent's reply answers with, and how it was recognised; None if none."""
    kb = svc.articles
    if kb is None:
        return None
    if canned_id:
        canned = await svc.canned.get(canned_id)
        if canned is not None and canned.article:
            article = next((a for a in kb.articles if a.key == canned.article), None)
            if article is not None:
                return article, Source.CANNED
    linked = article_linked(kb, text)
    return None if linked is None else (linked, Source.LINK)


async def customer_question(svc: Services, conv: Conversation) -> str:
    """The customer's latest message with text in this conversation ("" if none)."""
    for message in reversed(await svc.store.messages(conv.id)):
        if message.text.strip():
            return message.text
    return ""


async def propose(
    svc: Services, who: Principal, conv: Conversation, article: Article, source: Source
) -> Example | None:
    """The conversation's question as a pending example of `article`. Idempotent."""
    question = await customer_question(svc, conv)
    if not question:
        return None
    return await ExampleStore(svc.client).propose(
        article.key, conv.language or article.language, question, source, conversation_id=conv.id, who=who.actor
    )


async def learn_from_reply(
    svc: Services, who: Principal, conv: Conversation, found: tuple[Article, Source] | None
) -> None:
    """After an agent's reply: propose the example its article makes. Never raises."""
    if found is None:
        return
    try:
        await propose(svc, who, conv, *found)
    except (redis.RedisError, ValueError) as exc:
        log.warning("example not proposed for conversation %s (%s)", conv.id, type(exc).__name__)


async def mark_answered(svc: Services, who: Principal, conv: Conversation, key: str) -> Example:
    """The agent says article `key` answers this conversation's question."""
    kb = svc.articles
    if kb is None:
        raise Invalid("article: there is no help-center knowledge base")
    article = kb.get(key, conv.language or "") or next((a for a in kb.articles if a.key == key), None)
    if article is None:
        raise Invalid(f"article: no article {key!r}")
    example = await propose(svc, who, conv, article, Source.MARKED)
    if example is None:
        raise Invalid("the customer has not asked anything in words yet")
    return example


def article_choices(kb: KnowledgeBase | None, language: str | None) -> list[tuple[str, str]]:
    """(key, title) of every article, titled in the conversation's language where it has one."""
    if kb is None:
        return []
    titles: dict[str, str] = {}
    for a in kb.articles:
        if a.key not in titles or a.language == language:
            titles[a.key] = a.title
    return sorted(titles.items(), key=lambda kv: kv[1].casefold())
