"""Conversation ids never repeat: each partition's id counter in Redis is kept at or above the
highest id the record has taken.

A conversation id is "<partition>-<seq>", the seq from the partition's Redis counter
(`keys.conversation_seq`). Redis emptied or restored from an older snapshot would count again
from an id the record already holds, and the new conversation would be archived over the old
one. So the record keeps, per partition, the highest seq it has written (`conversation_seqs`,
in each batch's transaction: retention deleting old rows never lowers it), and the counters are
raised to it: by the router before it routes, and by the archiver at its start and every second
while it runs (Redis can be lost under running processes). An id made in the moment before
that is caught by the archiver, which never writes one conversation over another
(`snapshot.Collision`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import redis.asyncio as redis
from sqlalchemy import Insert, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from helpline.routing import keys
from helpline.routing.pipelined import execute

from .database import Database, parse_url, reason
from .schema import conversation_seqs

log = logging.getLogger(__name__)

# KEYS[1] the partition's counter. ARGV[1] the record's highest seq. Raises the counter to it if
# it is lower; returns the value it had (-1: it was not lower).
_RAISE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  return current
end
return -1
"""


def highest(conversation_ids: Iterable[str]) -> dict[int, int]:
    """The highest seq per partition among these ids."""
    out: dict[int, int] = {}
    for cid in conversation_ids:
        head, _, seq = cid.partition("-")
        p, n = int(head), int(seq)
        if n > out.get(p, 0):
            out[p] = n
    return out


def merge(into: dict[int, int], marks: Mapping[int, int]) -> None:
    for p, n in marks.items():
        if n > into.get(p, 0):
            into[p] = n


async def read_marks(db: Database) -> dict[int, int]:
    """The record's highest seq per partition."""
    c = conversation_seqs.c
    async with db.engine.connect() as conn:
        return {int(p): int(n) for p, n in await conn.execute(select(c.partition_number, c.seq))}


async def write_marks(conn: AsyncConnection, marks: Mapping[int, int]) -> None:
    """Raise the record's marks (never lower them), inside the caller's transaction."""
    if not marks:
        return
    table = conversation_seqs
    statement: Insert
    if conn.dialect.name == "sqlite":
        sqlite_insert = sqlite.insert(table)
        statement = sqlite_insert.on_conflict_do_update(
            index_elements=[table.c.partition_number], set_={"seq": func.max(table.c.seq, sqlite_insert.excluded.seq)}
        )
    else:
        pg_insert = postgresql.insert(table)
        statement = pg_insert.on_conflict_do_update(
            index_elements=[table.c.partition_number], set_={"seq": func.greatest(table.c.seq, pg_insert.excluded.seq)}
        )
    # One order for every writer: two transactions never wait for each other's rows.
    await conn.execute(statement, [{"partition_number": p, "seq": n} for p, n in sorted(marks.items())])


async def raise_counters(client: redis.Redis, marks: Mapping[int, int]) -> dict[int, int]:
    """Raise each partition's Redis counter to the record's mark. Idempotent. Returns the
    partitions whose counter was behind, with the value it had (Redis lost what it counted)."""
    if not marks:
        return {}
    script = client.register_script(_RAISE)
    items = sorted(marks.items())
    async with client.pipeline(transaction=False) as pipe:
        for p, n in items:
            await script(keys=[keys.conversation_seq(p)], args=[n], client=pipe)
        found = await execute(client, pipe)
    behind = {p: int(before) for (p, _), before in zip(items, found, strict=True) if int(before) >= 0}
    for p, before in behind.items():
        log.warning(
            "partition %d's conversation counter was at %d, behind the record's %d (Redis emptied or "
            "restored from an older snapshot?): raised, so no archived id is given again",
            p,
            before,
            marks[p],
        )
    return behind


async def restore_counters(client: redis.Redis, db: Database) -> dict[int, int]:
    """Raise Redis's counters to the record's marks (at a router's or archiver's start)."""
    return await raise_counters(client, await read_marks(db))


async def before_routing(client: redis.Redis, db: Database, timeout_s: float = 10.0) -> None:
    """At a router's start: raise the counters before any id is made. A record that does not
    answer (or is not made yet) does not hold routing up: the archiver raises them once it can."""
    path = parse_url(db.url).database if db.is_sqlite else None
    if path and not await asyncio.to_thread(Path(path).exists):
        return  # no record yet (and opening it would create an empty file)
    try:
        async with asyncio.timeout(timeout_s):
            await restore_counters(client, db)
    except (TimeoutError, SQLAlchemyError, OSError) as exc:
        log.warning(
            "router: the record's conversation id marks were not read (%s): the archiver raises "
            "the id counters when it runs",
            reason(exc, db.url),
        )
