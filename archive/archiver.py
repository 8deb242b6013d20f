"""The `archiver` role: consumes the partitions' change streams into the SQL record.

Delivery is at-least-once: an entry is acknowledged only after the batch it belongs to is
committed in SQL, and writing a batch again changes nothing (upserts keyed by stable ids), so a
crash or a replay never loses or doubles a row. Entries a dead archiver had read are claimed by
a living one after `claim_idle_ms`. While the database is unreachable the archiver logs one
warning, waits with a growing pause and tries the same batch again; the pipeline keeps flowing
(the change streams hold the work) and `archive_lag` says how far behind the record is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import redis.asyncio as redis
from prometheus_client import Counter, Gauge
from redis.exceptions import ResponseError
from sqlalchemy.exc import DBAPIError, OperationalError

from helpline.health.models import ComponentHealth
from helpline.routing import keys
from helpline.routing.bus import DEAD_LETTERS_MAX
from helpline.routing.decode import as_text
from helpline.routing.scripts import SEP
from helpline.routing.store import CHANGE_FORGET_AGENT

from . import counters
from .covered import Covered, position
from .database import reason
from .erasure import erase_from_redis, erased_contacts_in_redis, erased_in_redis
from .record import Batch, Collision, Dropped, Record, Rewound
from .rewind import Forward, bring_forward, sweep
from .snapshot import read_changes

log = logging.getLogger(__name__)

#: Behind by more than this, the record degrades the desk's health (a short lag is normal work).
LAG_DEGRADED_S = 300.0
DELAY = Gauge("helpline_archive_delay_seconds", "Age of the newest change archived, when it was archived")
BROUGHT_FORWARD = Counter(
    "helpline_archive_brought_forward",
    "Conversations Redis held at an older state than the record (restored from an older snapshot), "
    "brought forward from the record",
)
ERASED_AGAIN = Counter(
    "helpline_archive_erased_again",
    "Conversations of erased people Redis held again (restored from a snapshot older than the erasure), "
    "erased from Redis again",
)
_UNAVAILABLE = (OperationalError, DBAPIError, OSError)
CONVERSATIONS_PER_WRITE = 2000  # one SQL transaction: bounded memory and lock time
COUNTERS_EVERY_S = 1.0  # how often the id counters are checked (Redis may be lost under us)

_FORGET = CHANGE_FORGET_AGENT.encode()
Entries = list[tuple[str, str, dict[bytes, bytes]]]  # (stream, entry id, fields)


@dataclass(frozen=True, slots=True)
class Lag:
    entries: int  # changes not yet archived (pending or not yet read)
    seconds: float  # age of the oldest of them (0 when none)


def _partition(stream: str) -> int:
    return int(stream.split("{p", 1)[1].split("}", 1)[0])


def _age_s(entry_id: str, now_ms: int) -> float:
    return max(0.0, (now_ms - int(entry_id.partition("-")[0])) / 1000)


async def ensure_groups(client: redis.Redis, partitions: int) -> None:
    for p in range(partitions):
        try:
            await client.xgroup_create(keys.changes(p), keys.ARCHIVER_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


async def archive_lag(client: redis.Redis, partitions: int) -> Lag:
    """How far the record is behind Redis: the changes the archiver group has not acknowledged."""
    now_ms = int(time.time() * 1000)
    count, oldest = 0, 0.0
    for p in range(partitions):
        stream = keys.changes(p)
        try:
            groups = {as_text(g["name"]): g for g in await client.xinfo_groups(stream)}
        except ResponseError:
            continue  # no stream yet: nothing changed
        group = groups.get(keys.ARCHIVER_GROUP)
        if group is None:
            first = await client.xrange(stream, count=1)
            if first:
                count += int(await client.xlen(stream))
                oldest = max(oldest, _age_s(as_text(first[0][0]), now_ms))
            continue
        pending = int(group["pending"])
        if pending:
            summary = await client.xpending(stream, keys.ARCHIVER_GROUP)
            if summary.get("min"):
                oldest = max(oldest, _age_s(as_text(summary["min"]), now_ms))
        after = await client.xrange(stream, min=f"({as_text(group['last-delivered-id'])}", count=1)
        unread = int(group.get("lag") or 0) if after else 0
        if after:
            oldest = max(oldest, _age_s(as_text(after[0][0]), now_ms))
        count += pending + unread
    return Lag(count, oldest)


async def archive_health(client: redis.Redis, partitions: int) -> ComponentHealth:
    """The record's lag as a health component (`ProcessHealth.add_component("archive", ...)`):
    degraded once the oldest change not yet in SQL is older than `LAG_DEGRADED_S`."""
    lag = await archive_lag(client, partitions)
    return ComponentHealth(
        name="archive",
        status="degraded" if lag.seconds > LAG_DEGRADED_S else "ok",
        detail=f"{lag.entries} changes not in the record yet, oldest {lag.seconds:.0f} s",
    )


class Archiver:
    def __init__(
        self,
        client: redis.Redis,
        record: Record,
        partitions: int,
        consumer: str,
        batch_size: int = 1000,
        claim_idle_ms: int = 30_000,
        block_ms: int = 1000,
        shard: int = 0,
        shards: int = 1,
        dedupe_window_s: float = 168 * 3600,  # `pipeline.dedupe_window_hours`: how long ingest marks live
    ) -> None:
        """`shards` archivers share the partitions: this one (number `shard`) reads the change
        streams of the partitions p with p % shards == shard only, so no conversation is written
        by two of them (a contact can be: `Record.write` takes care of that)."""
        if not 0 <= shard < shards:
            raise ValueError(f"archiver shard {shard} of {shards}")
        self.client = client
        self.record = record
        self.shard = shard
        self.owned = frozenset(p for p in range(partitions) if p % shards == shard)
        self.streams = [keys.changes(p) for p in sorted(self.owned)]
        self.partitions = partitions
        self.consumer = consumer
        self.batch_size = batch_size
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.dedupe_window_s = dedupe_window_s
        self.archived = 0  # change entries archived by this process
        self._outage = False
        self.marks: dict[int, int] = {}  # the record's highest conversation id seq per owned partition
        self._marks_read = False
        self._swept = False  # Redis compared with the record (`sweep`)
        self._counters_at = -COUNTERS_EVERY_S
        self._reported: set[tuple[str, int]] = set()  # collisions dead-lettered (id, created_at)
        self.covered = Covered()  # conversations read ahead of the streams: not read again (`covered.py`)
        self._clock = 0  # the last value of `keys.archiver_clock` this archiver wrote (`_went_back`)

    async def run(self, stop: asyncio.Event) -> None:
        await ensure_groups(self.client, self.partitions)
        own_pending = True  # after a restart, what this consumer had read first
        last_claim = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - self._counters_at >= COUNTERS_EVERY_S:
                    self._counters_at = time.monotonic()
                    await self.keep_counters()
                if time.monotonic() - last_claim > self.claim_idle_ms / 2000:
                    last_claim = time.monotonic()
                    await self._handle(await self._claim_idle(), stop)
                entries = await self._read("0" if own_pending else ">")
                if own_pending and not entries:
                    own_pending = False
                    continue
                await self._handle(entries, stop)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("archiver: redis unavailable: %s", exc)
                await _sleep_or_stop(stop, 1.0)

    async def catch_up(self, stop: asyncio.Event | None = None) -> int:
        """Archive everything waiting now (this consumer's pending entries, then the unread ones),
        without blocking; returns the entries archived. For the command line and tests."""
        await ensure_groups(self.client, self.partitions)
        await self.keep_counters()
        stop = stop or asyncio.Event()
        before = self.archived
        for start in ("0", ">"):
            while entries := await self._read(start, block=False):
                await self._handle(entries, stop)
                if start == "0":
                    break  # pending entries come back until acknowledged: one round suffices
        return self.archived - before

    async def keep_counters(self) -> None:
        """Keep Redis's conversation id counters at or above the record's marks (`counters.py`).
        The marks of its own partitions are read from the record once (until it answers), then
        follow what this archiver writes (only it writes conversations of those partitions)."""
        if not self._marks_read:
            try:
                marks = await counters.read_marks(self.record.db)
                counters.merge(self.marks, {p: n for p, n in marks.items() if p in self.owned})
                self._marks_read = True
            except _UNAVAILABLE as exc:
                log.warning("archiver: cannot read the record's id marks yet: %s", reason(exc, self.record.db.url))
        behind = await counters.raise_counters(self.client, self.marks)  # Redis lost what it counted
        if await self._went_back() or behind:  # restored from an older snapshot?
            self._swept = False
            self.covered = Covered()
        if not self._swept and self._marks_read:
            await self.sweep()

    async def _went_back(self) -> bool:
        """Whether Redis holds an older value of this archiver's clock than it last wrote (or none):
        restored from an older snapshot, or emptied, since the last check. The clock is a time
        in milliseconds, never lower than the last value written, so a snapshot of an earlier run
        is found too. A restore in the second after the snapshot was taken can go unseen here."""
        key = keys.archiver_clock(self.shard)
        if not self._clock:
            self._clock = int(await self.client.get(key) or 0)  # at the start: the sweep runs anyway
        ticked = max(self._clock + 1, int(time.time() * 1000))
        before = await self.client.set(key, ticked, get=True)
        went_back = int(before or 0) < self._clock
        self._clock = ticked
        return went_back

    async def sweep(self) -> None:
        """Look for conversations Redis holds at an older state than the record (`rewind.sweep`):
        at the start, and after the id counters were found behind the record's. Those found are
        named on their change streams and brought forward when read. Erased people's conversations
        and contacts it finds are erased from Redis again (contacts alone by the archiver of
        partition 0: they are not partitioned)."""
        try:
            found = await sweep(self.client, self.record, self.marks)
            contacts = (
                await erased_contacts_in_redis(self.client, self.record.db, self.partitions) if 0 in self.owned else []
            )
        except _UNAVAILABLE as exc:
            if not self._outage:
                log.warning("archiver: cannot compare Redis with the record yet: %s", reason(exc, self.record.db.url))
            return
        self._swept = True
        if found.named:
            log.warning(
                "archiver: %d conversations in Redis are older than the record (Redis restored from an older "
                "snapshot?): they are brought forward from the record",
                len(found.named),
            )
        await self._erase_again(found.erased)
        for contact_id in contacts:
            await erase_from_redis(self.client, contact_id, [])
        if contacts:
            log.warning(
                "archiver: %d contacts of erased people were in Redis again without a conversation (Redis restored "
                "from a snapshot older than their erasure?): erased from Redis again",
                len(contacts),
            )

    async def _erase_again(self, dropped: Sequence[Dropped]) -> None:
        """Erase from Redis again the conversations of erased people it holds (restored from a
        snapshot older than the erasure), with the contact, as the erase command does
        (`erasure.erase_from_redis`). Logged without naming anyone, and counted."""
        again = await erased_in_redis(self.client, dropped)
        if not again:
            return
        for contact_id, conversation_ids in again.items():
            await erase_from_redis(self.client, contact_id, conversation_ids)
        count = sum(map(len, again.values()))
        ERASED_AGAIN.inc(count)
        log.warning(
            "archiver: %d conversations of %d erased people were in Redis again (Redis restored from a snapshot "
            "older than their erasure?): erased from Redis again, not archived",
            count,
            len(again),
        )

    async def _read(self, start: str, block: bool = True) -> Entries:
        reply = await self.client.xreadgroup(
            keys.ARCHIVER_GROUP,
            self.consumer,
            dict.fromkeys(self.streams, start),
            count=self.batch_size,
            block=self.block_ms if block and start != "0" else None,
        )
        return [
            (as_text(stream), as_text(entry_id), fields)
            for stream, items in reply or []
            for entry_id, fields in items
            if fields
        ]  # a pending entry trimmed meanwhile comes back without fields

    async def _claim_idle(self) -> Entries:
        out: Entries = []
        for stream in self.streams:
            reply = await self.client.xautoclaim(
                stream, keys.ARCHIVER_GROUP, self.consumer, self.claim_idle_ms, start_id="0-0", count=self.batch_size
            )
            out += [(stream, as_text(entry_id), fields) for entry_id, fields in reply[1] if fields]
        return out

    async def _handle(self, entries: Entries, stop: asyncio.Event) -> None:
        if not entries:
            return
        pause = 0.5
        while True:
            try:
                await self.archive(entries)
                break
            except _UNAVAILABLE as exc:
                if not self._outage:
                    self._outage = True
                    log.warning(
                        "archiver: the record is unavailable; the changes wait in Redis: %s",
                        reason(exc, self.record.db.url),
                    )
                if await _sleep_or_stop(stop, pause):
                    return
                pause = min(pause * 2, 30.0)
        if self._outage:
            self._outage = False
            log.warning("archiver: the record is reachable again; catching up")
        async with self.client.pipeline(transaction=False) as pipe:
            by_stream: dict[str, list[str]] = {}
            for stream, entry_id, _ in entries:
                by_stream.setdefault(stream, []).append(entry_id)
            for stream, ids in by_stream.items():
                pipe.xack(stream, keys.ARCHIVER_GROUP, *ids)
            await pipe.execute()
        for stream, ids in by_stream.items():
            self.covered.passed(_partition(stream), max(ids, key=position))
        self.archived += len(entries)
        if entries:
            DELAY.set(_age_s(entries[-1][1], int(time.time() * 1000)))

    async def archive(self, entries: Sequence[tuple[str, str, dict[bytes, bytes]]]) -> int:
        """Write what the entries name to SQL. Idempotent. Returns the conversations written."""
        conversations: list[str] = []
        replies: list[tuple[int, str]] = []
        forgotten = [fields[_FORGET].decode() for _, _, fields in entries if fields.get(_FORGET)]
        for stream, entry_id, fields in entries:
            if fields.get(b"c"):
                named = fields[b"c"].decode().split(SEP)
                conversations += [cid for cid in named if not self.covered.covers(cid, entry_id)]
            if fields.get(b"r"):
                p = _partition(stream)
                replies += [(p, rid) for rid in fields[b"r"].decode().split(SEP)]
        ids = list(dict.fromkeys(conversations))
        # A reply's delivery state goes with its conversation's chunk (a reply id begins with its
        # conversation's), where its content is: one row written, not an insert and an update.
        by_conversation: dict[str, list[tuple[int, str]]] = {}
        for p, rid in replies:
            by_conversation.setdefault(rid.partition(":")[0], []).append((p, rid))
        written = 0
        collisions: list[Collision] = []
        rewound: list[Rewound] = []
        batches: list[Batch] = []
        writing: asyncio.Task[None] | None = None
        try:
            # Bounded transactions; the next chunk is read from Redis while the last one is written
            # (chunks hold different conversations: neither depends on the other).
            for start in range(0, max(len(ids), 1), CONVERSATIONS_PER_WRITE):
                chunk = ids[start : start + CONVERSATIONS_PER_WRITE]
                chunk_replies = [r for cid in chunk for r in by_conversation.pop(cid, ())]
                if start + CONVERSATIONS_PER_WRITE >= len(ids):  # the last chunk: any others too
                    chunk_replies += [r for rest in by_conversation.values() for r in rest]
                batch = await read_changes(self.client, self.record, chunk, chunk_replies)
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self.record.write(batch))
                written += len(batch.conversations)
                collisions += batch.collisions
                rewound += batch.rewound
                batches.append(batch)
            if writing is not None:
                await writing
            dropped = [d for batch in batches for d in batch.dropped]
            gone = {d.conversation_id for d in dropped}
            self.covered.add({cid: at for batch in batches for cid, at in batch.read_at.items() if cid not in gone})
            await self._erase_again(dropped)
            counters.merge(self.marks, counters.highest(ids))
            if collisions:
                await self._dead_letter(collisions)
            for behind in rewound:
                now_ms = int(time.time() * 1000)
                forward = await bring_forward(self.client, self.record.db, behind, self.dedupe_window_s, now_ms)
                if forward is not None:
                    BROUGHT_FORWARD.inc()
                    log.warning("archiver: %s", _forward_reason(forward))
            if forgotten:  # after the batch's contacts: a removed agent is nobody's last agent
                await self.record.forget_agents(forgotten)
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                with contextlib.suppress(BaseException):
                    await writing
        return written

    async def _dead_letter(self, collisions: Sequence[Collision]) -> None:
        """Each conversation refused for its id goes to its partition's dead letters once (per
        process), with the reason; it stays in Redis (never evicted: the record does not hold it)."""
        new = [c for c in collisions if (c.conversation_id, c.found[0]) not in self._reported]
        if not new:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for c in new:
                pipe.xadd(
                    keys.dead_letters(keys.conversation_partition(c.conversation_id)),
                    {
                        "stream": "archiver",  # not a stream: a dead letter to read, not to replay
                        "id": "-",
                        "group": keys.ARCHIVER_GROUP,
                        "deliveries": 1,
                        "error": _collision_reason(c),
                        "m": orjson.dumps(
                            {
                                "conversation_id": c.conversation_id,
                                "archived": {"created_at": c.archived[0], "contact_id": c.archived[1]},
                                "redis": {"created_at": c.found[0], "contact_id": c.found[1]},
                            }
                        ),
                    },
                    maxlen=DEAD_LETTERS_MAX,
                    approximate=True,
                )
            await pipe.execute()
        self._reported.update((c.conversation_id, c.found[0]) for c in new)
        for c in new:
            log.warning("archiver: %s", _collision_reason(c))


def _collision_reason(c: Collision) -> str:
    return (
        f"conversation {c.conversation_id} created {_iso(c.found[0])} has the id of another conversation the "
        f"record holds (created {_iso(c.archived[0])}): not archived, the record's is kept. Redis counted "
        "conversation ids again (emptied or restored from an older snapshot) before the counter was raised"
    )


def _forward_reason(f: Forward) -> str:
    return (
        f"conversation {f.conversation_id} was at version {f.version} in Redis, behind the record's "
        f"{f.rev} (Redis restored from an older snapshot?): not archived over the record; Redis brought "
        f"forward from the record to version {f.brought_to}, keeping the {f.events} events and "
        f"{f.messages} messages made since the restore ({f.left_out} messages the record held already "
        "left out)"
    )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()
