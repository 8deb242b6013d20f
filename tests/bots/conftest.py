from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from helpline.bots.base import BotContext
from helpline.bots.dense import default_cache_dir
from helpline.bots.embeddings import default_embedder
from helpline.bots.kb import KnowledgeBase, load_kb
from helpline.bots.search import Searcher
from helpline.routing.models import Author, Contact, Conversation, InboundMessage, MessageKind

KB_DIR = Path(__file__).resolve().parents[2] / "kb"
NOW = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_kb(KB_DIR)


@pytest.fixture(scope="session")
def searcher(kb: KnowledgeBase) -> Searcher:
    return Searcher(kb, embedder=default_embedder(), cache_dir=default_cache_dir())


def make_ctx(
    text: str,
    language: str = "en",
    kind: MessageKind = MessageKind.DIRECT,
    state: dict[str, str] | None = None,
) -> BotContext:
    conversation = Conversation(
        id="c1",
        platform="telegram",
        account="helpline",
        kind=kind,
        thread_key="t1",
        contact_id="k1",
        created_at=NOW,
        updated_at=NOW,
    )
    message = InboundMessage(
        platform="telegram",
        account="helpline",
        kind=kind,
        message_id="m1",
        thread_key="t1",
        author=Author(user_id="u1"),
        text=text,
        platform_time=NOW,
    )
    contact = Contact(id="k1", platform="telegram", account="helpline", user_id="u1")
    return BotContext(conversation, message, contact, state or {}, NOW, language)
