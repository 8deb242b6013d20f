"""Example phrasings: customers' own words for an article, learnt from what agents do.

When an agent answers a customer with an article (its link, a canned response tied to it, or the
console's "this article answers it"), the customer's question is proposed as an example phrasing
of that article. A supervisor approves or rejects it in the console; approved examples join
retrieval as extra phrasings of their article (`helpline.bots.phrasings`), and move between
deployments as JSON Lines (`helpline kb examples export|import`).

Storage: one Redis hash (`keys.kb_examples`), example id -> JSON, and a version counter raised
whenever the approved set changes, which bots watch to reload. An example's id is a hash of its
article, language and normalized text, so proposing or importing the same phrasing twice is one
example (idempotent), and a rejected phrasing is not proposed again. The hash is bounded by
`MAX_EXAMPLES`: past it, new proposals are dropped (logged) until a supervisor clears some.
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum

import redis.asyncio as redis
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from helpline.routing import keys
from helpline.routing.models import utcnow

log = logging.getLogger(__name__)

MAX_EXAMPLES = 20_000  # proposals past this are dropped: a supervisor cannot review more anyway
MAX_CHARS = 500  # an example is a question, not a conversation
MIN_CHARS = 3  # "hi", "?" teach nothing


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Source(StrEnum):
    LINK = "link"  # the agent's reply contained the article's link
    CANNED = "canned"  # the agent used a canned response tied to the article
    MARKED = "marked"  # the agent marked "this article answers it"
    IMPORT = "import"  # `helpline kb examples import`
    CLARIFIED = "clarified"  # the customer picked the article among the bot's choices


def normalized(text: str) -> str:
    """What makes two phrasings the same example: NFKC, case and spacing folded."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def example_id(key: str, language: str, text: str) -> str:
    return hashlib.sha256(f"{key}\0{language}\0{normalized(text)}".encode()).hexdigest()[:20]


def clean(text: str) -> str:
    """The question as it is kept: spacing collapsed, at most MAX_CHARS characters."""
    return " ".join(text.split())[:MAX_CHARS]


class Example(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[0-9a-f]{20}$")
    key: str = Field(min_length=1, max_length=200)  # the article's key
    language: str = Field(min_length=2, max_length=16)
    text: str = Field(min_length=MIN_CHARS, max_length=MAX_CHARS)
    status: Status = Status.PENDING
    source: Source
    conversation_id: str = ""
    proposed_by: str = ""  # "agent:<username>", or who imported it
    proposed_at: datetime = Field(default_factory=utcnow)
    decided_by: str = ""
    decided_at: datetime | None = None


class ExampleLine(BaseModel):
    """One line of an export file: the phrasing is what matters; the rest is kept if present."""

    model_config = ConfigDict(extra="ignore")

    key: str = Field(min_length=1, max_length=200)
    language: str = Field(min_length=2, max_length=16)
    text: str = Field(min_length=MIN_CHARS, max_length=MAX_CHARS)
    proposed_by: str = ""
    proposed_at: datetime | None = None
    decided_by: str = ""
    decided_at: datetime | None = None


class ExampleFileError(ValueError):
    """An import file with bad lines; each problem names its line. Nothing was imported."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def parse_lines(lines: Iterable[str], known: set[tuple[str, str]] | None = None) -> list[ExampleLine]:
    """Every line of a JSON Lines file, or ExampleFileError naming each bad one. With `known`
    ((key, language) pairs of the KB), an example of an article the KB lacks is a problem too."""
    out: list[ExampleLine] = []
    problems: list[str] = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            line = ExampleLine.model_validate(json.loads(raw))
        except (ValueError, ValidationError) as exc:
            detail = exc.errors()[0] if isinstance(exc, ValidationError) else None
            where = ".".join(str(p) for p in detail["loc"]) + ": " if detail and detail["loc"] else ""
            problems.append(f"line {number}: {where}{detail['msg'] if detail else exc}")
            continue
        if len(clean(line.text)) < MIN_CHARS:
            problems.append(f"line {number}: text: too short")
        elif known is not None and (line.key, line.language) not in known:
            problems.append(f"line {number}: key: no article {line.key!r} in language {line.language!r}")
        else:
            out.append(line)
    if problems:
        raise ExampleFileError(problems)
    return out


class ExampleStore:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    async def propose(
        self,
        key: str,
        language: str,
        text: str,
        source: Source,
        *,
        conversation_id: str = "",
        who: str = "",
        now: datetime | None = None,
    ) -> Example | None:
        """A pending example, or the one already there for this phrasing (whatever its status).
        None when the text is too short or the store is full. Idempotent."""
        text = clean(text)
        if len(text) < MIN_CHARS:
            return None
        example = Example(
            id=example_id(key, language, text),
            key=key,
            language=language,
            text=text,
            source=source,
            conversation_id=conversation_id,
            proposed_by=who,
            proposed_at=now or utcnow(),
        )
        existing = await self.get(example.id)
        if existing is not None:
            return existing
        if await self.client.hlen(keys.kb_examples()) >= MAX_EXAMPLES:  # type: ignore[misc]
            log.warning("example store full (%d): a proposed example was dropped", MAX_EXAMPLES)
            return None
        if await self.client.hsetnx(keys.kb_examples(), example.id, example.model_dump_json()):  # type: ignore[misc]
            return example
        return await self.get(example.id)  # proposed at the same moment by another request

    async def get(self, example_id_: str) -> Example | None:
        raw = await self.client.hget(keys.kb_examples(), example_id_)  # type: ignore[misc]
        return None if raw is None else Example.model_validate_json(raw)

    async def all(self) -> list[Example]:
        raw = await self.client.hvals(keys.kb_examples())  # type: ignore[misc]
        return sorted((Example.model_validate_json(r) for r in raw), key=lambda e: (e.proposed_at, e.id))

    async def with_status(self, status: Status) -> list[Example]:
        return [e for e in await self.all() if e.status is status]

    async def decide(self, example_id_: str, approve: bool, who: str, now: datetime | None = None) -> Example | None:
        """Approve or reject (a decision may be changed later). None if there is no such example.
        Idempotent: the same decision again changes nothing the bots see."""
        example = await self.get(example_id_)
        if example is None:
            return None
        status = Status.APPROVED if approve else Status.REJECTED
        if example.status is status:
            return example
        decided = example.model_copy(update={"status": status, "decided_by": who, "decided_at": now or utcnow()})
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(keys.kb_examples(), decided.id, decided.model_dump_json())
            if Status.APPROVED in (status, example.status):
                pipe.incr(keys.kb_examples_version())
            await pipe.execute()
        return decided

    async def delete(self, example_id_: str) -> bool:
        """Forget one example (False if there was none). The version is raised whatever its
        status, so bots never keep a deleted example that was approved a moment before."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.kb_examples(), example_id_)
            pipe.incr(keys.kb_examples_version())
            removed, _ = await pipe.execute()
        return bool(removed)

    async def forget_conversations(self, conversation_ids: Iterable[str]) -> int:
        """Remove the examples taken from these conversations (an erasure: they are the person's
        words), approved ones included. How many went. Idempotent."""
        wanted = set(conversation_ids)
        doomed = [e for e in await self.all() if e.conversation_id and e.conversation_id in wanted]
        if not doomed:
            return 0
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.kb_examples(), *(e.id for e in doomed))
            if any(e.status is Status.APPROVED for e in doomed):
                pipe.incr(keys.kb_examples_version())
            await pipe.execute()
        return len(doomed)

    async def version(self) -> int:
        raw = await self.client.get(keys.kb_examples_version())
        return int(raw or 0)

    async def import_lines(
        self, lines: Sequence[ExampleLine], who: str, now: datetime | None = None
    ) -> tuple[int, int]:
        """Store each line as an approved example: (added or newly approved, already approved).
        Idempotent: importing the same file again adds nothing."""
        now = now or utcnow()
        added: dict[str, str] = {}
        unchanged = 0
        for line in lines:
            text = clean(line.text)
            ident = example_id(line.key, line.language, text)
            existing = await self.get(ident)
            if existing is not None and existing.status is Status.APPROVED:
                unchanged += 1
                continue
            if ident in added:
                unchanged += 1
                continue
            example = Example(
                id=ident,
                key=line.key,
                language=line.language,
                text=text,
                status=Status.APPROVED,
                source=existing.source if existing else Source.IMPORT,
                conversation_id=existing.conversation_id if existing else "",
                proposed_by=line.proposed_by or who,
                proposed_at=line.proposed_at or now,
                decided_by=line.decided_by or who,
                decided_at=line.decided_at or now,
            )
            added[ident] = example.model_dump_json()
        if added:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(keys.kb_examples(), mapping=added)
                pipe.incr(keys.kb_examples_version())
                await pipe.execute()
        return len(added), unchanged


def export_line(example: Example) -> str:
    """One JSON line of `helpline kb examples export` (what `import` reads back)."""
    return json.dumps(
        {
            "key": example.key,
            "language": example.language,
            "text": example.text,
            "proposed_by": example.proposed_by,
            "proposed_at": example.proposed_at.isoformat(),
            "decided_by": example.decided_by,
            "decided_at": example.decided_at.isoformat() if example.decided_at else None,
        },
        ensure_ascii=False,
    )
