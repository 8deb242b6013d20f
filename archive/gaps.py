"""The questions the help-center bot handed off because no article answered them, read from the
record's events (the bot's handoff event carries `unanswered`, the question and its language).
The KB gaps report (`helpline.bots.gaps`) groups them by meaning."""

from __future__ import annotations

import json

from sqlalchemy import and_, select

from helpline.bots.gaps import GapQuestion

from .database import Database
from .schema import events

MAX_QUESTIONS = 5000  # the newest; enough to see what is missing, bounded to embed


async def unanswered_questions(
    db: Database, start_ms: int, end_ms: int, language: str | None = None, limit: int = MAX_QUESTIONS
) -> list[GapQuestion]:
    """Handed-off questions between the two times (epoch ms, end exclusive), newest first."""
    e = events.c
    stmt = (
        select(e.conversation_id, e.at, e.raw)
        .where(
            and_(
                e.type == "handoff",
                e.actor.like("bot:%"),
                e.at >= start_ms,
                e.at < end_ms,
                e.raw.contains('"unanswered":true'),
            )
        )
        .order_by(e.at.desc())
        .limit(limit)
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    out = []
    for conversation_id, at, raw in rows:
        data = json.loads(raw).get("data") or {}
        question, lang = str(data.get("question") or ""), str(data.get("language") or "")
        if question.strip() and (language is None or lang == language):
            out.append(GapQuestion(lang, question, conversation_id, int(at)))
    return out
