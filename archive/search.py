"""Search over the record: every message, reply, note, contact name and handle, and label of the
conversations the asker may see, with filters, newest first, highlighted, paged by cursor.

The query is tokenized like the documents (`tokens.py`) and every token must match; permission
and filters are part of the SQL query, so a page is never short of rows someone may not see.
"""

from __future__ import annotations

import base64
import html
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Select, and_, column, false, func, literal_column, or_, select, table, text
from sqlalchemy.ext.asyncio import AsyncConnection

from .database import Database
from .errors import RecordError
from .schema import conversations, messages, replies
from .tokens import tokens

MAX_TOKENS = 16  # a longer query is cut: every token is a condition
SNIPPET = 160


class BadQuery(RecordError):
    """A search input is wrong (the message names the field)."""


@dataclass(frozen=True)
class Access:
    """What the asker may see, as data: everything, public conversations only (marketing), or
    the conversations of their teams and those assigned to them."""

    everything: bool = False
    public_only: bool = False
    username: str | None = None
    teams: tuple[str, ...] = ()


@dataclass(frozen=True)
class Query:
    text: str = ""
    platform: str | None = None
    status: str | None = None
    team: str | None = None
    assignee: str | None = None
    label: str | None = None
    language: str | None = None
    contact_id: str | None = None
    priority: str | None = None
    in_teams: tuple[str, ...] | None = None  # the team is one of these
    unassigned: bool = False  # no agent, no bot, not resolved
    exclude: tuple[str, ...] = ()  # conversation ids left out (the caller has fresher copies)
    since_ms: int | None = None  # updated at or after
    until_ms: int | None = None  # updated before


@dataclass
class Hit:
    conversation: dict[str, Any]
    highlights: list[str] = field(default_factory=list)  # HTML: escaped text with <mark> around matches


@dataclass
class Results:
    hits: list[Hit]
    next_cursor: str | None


def encode_cursor(row: dict[str, Any]) -> str:
    """Where the next page starts: after this row (its time, id and, on SQLite, search row id)."""
    at = json.dumps([row["updated_at"], row["id"], row["num"]]).encode()
    return base64.urlsafe_b64encode(at).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str, int | None]:
    try:
        at = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return int(at[0]), str(at[1]), int(at[2]) if len(at) > 2 else None
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise BadQuery("cursor: not a cursor this server issued") from exc


def visible(access: Access) -> Any:
    """The SQL condition for the conversations `access` may see."""
    c = conversations.c
    if access.everything:
        return literal_column("1") == literal_column("1")
    if access.public_only:
        return c.kind != "direct"
    mine = [c.assignee == access.username] if access.username else []
    teams = [c.team.in_(access.teams)] if access.teams else []
    return or_(*mine, *teams) if mine or teams else false()


def _label_condition(label: str) -> Any:
    escaped = json.dumps(label).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return conversations.c.labels.like(f"%{escaped}%", escape="\\")


#: The SQLite search index, whose row id is `conversations.num` (newest first there).
_INDEX = table("conversation_search", column("rowid", BigInteger))
#: PostgreSQL: a search matching at most this many conversations is answered from the text index
#: and sorted; one matching more by walking the conversations newest first, checking each.
FEW_MATCHES = 500


def _match(db: Database, words: Sequence[str]) -> Any:
    if db.is_sqlite:
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        return text("conversation_search MATCH :match").bindparams(match=match)
    tsquery = " & ".join("'" + w.replace("'", "''").replace("\\", "\\\\") + "'" for w in words)
    return text("conversations.search @@ CAST(:tsquery AS tsquery)").bindparams(tsquery=tsquery)


def query_words(q: str) -> list[str]:
    return list(dict.fromkeys(tokens(q)))[:MAX_TOKENS]


async def search(db: Database, access: Access, query: Query, limit: int = 25, cursor: str | None = None) -> Results:
    """Conversations matching `query` that `access` may see, newest first."""
    if not 1 <= limit <= 200:
        raise BadQuery("limit: between 1 and 200")
    c = conversations.c
    words = query_words(query.text)
    if query.text.strip() and not words:
        return Results([], None)  # only punctuation: nothing can match
    conditions = [visible(access)]
    for field_, value in (
        (c.platform, query.platform),
        (c.status, query.status),
        (c.team, query.team),
        (c.assignee, query.assignee),
        (c.language, query.language),
        (c.contact_id, query.contact_id),
        (c.priority, query.priority),
    ):
        if value is not None:
            conditions.append(field_ == value)
    if query.label is not None:
        conditions.append(_label_condition(query.label))
    if query.in_teams is not None:
        conditions.append(c.team.in_(query.in_teams) if query.in_teams else false())
    if query.unassigned:
        conditions += [c.assignee.is_(None), c.handler.is_(None), c.status != "resolved"]
    if query.exclude:
        conditions.append(c.id.not_in(query.exclude))
    if query.since_ms is not None:
        conditions.append(c.updated_at >= query.since_ms)
    if query.until_ms is not None:
        conditions.append(c.updated_at < query.until_ms)
    after = decode_cursor(cursor) if cursor else None
    if after and not (db.is_sqlite and words and after[2] is not None):
        at, cid, _ = after
        conditions.append(or_(c.updated_at < at, and_(c.updated_at == at, c.id < cid)))
    columns = [col for col in conversations.c if col.name not in ("document", "search", "last_event")]
    async with db.engine.connect() as conn:
        if words and db.is_sqlite:
            # The index hands out matches newest first (its row ids are `num`): read them in that
            # order and stop at the page's end, never sorting every match.
            if after and after[2] is not None:
                conditions.append(_INDEX.c.rowid < after[2])
            stmt = (
                select(*columns)
                .select_from(_INDEX.join(conversations, c.num == _INDEX.c.rowid))
                .where(_match(db, words), *conditions)
                .order_by(_INDEX.c.rowid.desc())
                .limit(limit + 1)
            )
        elif words and await _few_matches(conn, [*conditions, _match(db, words)]):
            # Few matches: take them all from the text index, then sort (a planner that thinks a
            # rare word common would walk every conversation looking for it).
            found = select(*columns).where(*conditions, _match(db, words)).cte("found").prefix_with("MATERIALIZED")
            stmt = select(found).order_by(found.c.updated_at.desc(), found.c.id.desc()).limit(limit + 1)
        else:
            if words:
                conditions.append(_match(db, words))
            stmt = select(*columns).where(and_(*conditions)).order_by(c.updated_at.desc(), c.id.desc()).limit(limit + 1)
        rows = [dict(r._mapping) for r in (await conn.execute(stmt)).all()]
        more = len(rows) > limit
        rows = rows[:limit]
        marks = await _highlights(conn, [r["id"] for r in rows], words) if words else {}
    hits = [Hit(r, marks.get(r["id"], [])) for r in rows]
    last = rows[-1] if rows else None
    return Results(hits, encode_cursor(last) if more and last else None)


async def _few_matches(conn: AsyncConnection, conditions: Sequence[Any]) -> bool:
    """PostgreSQL: whether at most `FEW_MATCHES` conversations meet the conditions (it stops counting there)."""
    some: Select[Any] = select(literal_column("1")).select_from(conversations).where(*conditions).limit(FEW_MATCHES + 1)
    return int((await conn.execute(select(func.count()).select_from(some.subquery()))).scalar_one()) <= FEW_MATCHES


async def _highlights(conn: Any, ids: Sequence[str], words: Sequence[str]) -> dict[str, list[str]]:
    """Up to three snippets per conversation from the messages and replies that contain a word."""
    if not ids:
        return {}
    texts = (
        await conn.execute(
            select(messages.c.conversation_id, messages.c.text)
            .where(messages.c.conversation_id.in_(ids))
            .union_all(select(replies.c.conversation_id, replies.c.text).where(replies.c.conversation_id.in_(ids)))
        )
    ).all()
    out: dict[str, list[str]] = {}
    for cid, body in texts:
        found = out.setdefault(cid, [])
        if len(found) < 3:
            snippet = highlight(body, words)
            if snippet:
                found.append(snippet)
    return out


def highlight(body: str, words: Sequence[str]) -> str | None:
    """`body` around its first match, HTML-escaped, each match in <mark>; None without a match."""
    folded = unicodedata.normalize("NFKC", body).casefold()
    if len(folded) != len(body):  # folding changed the length: positions would not line up
        body = folded
    spans: list[tuple[int, int]] = []
    for word in words:
        start = folded.find(word)
        while start != -1:
            spans.append((start, start + len(word)))
            start = folded.find(word, start + len(word))
    if not spans:
        return None
    spans.sort()
    begin = max(0, spans[0][0] - SNIPPET // 3)
    end = min(len(body), begin + SNIPPET)
    parts, at = [], begin
    for s, e in spans:
        if s < at or e > end:
            continue
        parts += [html.escape(body[at:s]), "<mark>", html.escape(body[s:e]), "</mark>"]
        at = e
    parts.append(html.escape(body[at:end]))
    return ("…" if begin else "") + "".join(parts) + ("…" if end < len(body) else "")
