"""The Redis Streams bus: idempotent ingest, consumer groups, claims, retries, dead letters.

Delivery is at-least-once: a handler may see an entry more than once (after a crash, a claim or
a retry), so every handler is idempotent. An entry is acknowledged only after its handler
returned, that is after its effects are written to Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import redis.asyncio as redis
from redis.exceptions import ResponseError

from . import keys
from .decode import as_text
from .models import InboundMessage
from .outage import redis_failed, redis_ok
from .pipelined import execute

log = logging.getLogger(__name__)

PAYLOAD = b"m"

#: How long a stream's last-error hash outlives its last write (its fields are cleared when their
#: entry succeeds or is dead-lettered; this bounds what a crash between the two leaves behind).
ERRORS_TTL_SECONDS = 86_400

# KEYS[1] partition prefix, KEYS[2] its inbound stream. ARGV[1] dedupe ttl (s), then pairs
# (dedupe id, payload). Per message, the seen marker and the XADD happen together or not at all.
_INGEST = """
local out = {}
for i = 2, #ARGV, 2 do
  if redis.call('SET', KEYS[1] .. ':seen:' .. ARGV[i], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('XADD', KEYS[2], '*', 'm', ARGV[i + 1])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"""

# KEYS[1] stream, KEYS[2] dead-letter stream, KEYS[3] error hash. ARGV: group, id, deliveries,
# fallback error. Moves one entry to the dead letters and acknowledges it, atomically.
_DEAD_LETTER = """
local entry = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
local err = redis.call('HGET', KEYS[3], ARGV[2]) or ARGV[4]
local payload = ''
if entry[1] then
  local fields = entry[1][2]
  for i = 1, #fields, 2 do if fields[i] == 'm' then payload = fields[i + 1] end end
end
redis.call('XADD', KEYS[2], '*', 'stream', KEYS[1], 'id', ARGV[2], 'group', ARGV[1],
  'deliveries', ARGV[3], 'error', err, 'm', payload)
redis.call('HDEL', KEYS[3], ARGV[2])
return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
"""


#: Observes an ingest call: (platform, account, messages, seconds).
IngestObserver = Callable[[str, str, int, float], None]


REJECTED_PAYLOAD_MAX = 64 * 1024  # enough to see what was wrong; a huge body is cut
DEAD_LETTERS_MAX = 100_000  # rejected updates are not work: never let them grow without bound


class StreamBus:
    """Inbound streams, partitioned by thread."""

    def __init__(
        self, client: redis.Redis, partitions: int, dedupe_ttl: int = 7 * 86400, observe: IngestObserver | None = None
    ) -> None:
        self.client = client
        self.observe = observe  # metrics, filled in by the composition root
        self.partitions = partitions
        self.dedupe_ttl = dedupe_ttl
        self._ingest = client.register_script(_INGEST)

    def partition(self, platform: str, account: str, thread_key: str) -> int:
        return keys.partition_of(platform, account, thread_key, self.partitions)

    def inbound_streams(self) -> list[str]:
        return [keys.inbound_stream(p) for p in range(self.partitions)]

    async def ingest(self, messages: Sequence[InboundMessage]) -> list[bool]:
        """Durably add messages to their partitions, once per platform message id.

        Returns, per message, True if it was new. Idempotent: a redelivered message is a no-op.
        Raises a redis error if Redis is unreachable; then nothing may be acknowledged upstream.
        """
        if not messages:
            return []
        started = time.perf_counter()
        order: dict[int, list[int]] = {}
        args: dict[int, list[Any]] = {}
        for index, message in enumerate(messages):
            p = self.partition(message.platform, message.account, message.thread_key)
            order.setdefault(p, []).append(index)
            args.setdefault(p, [self.dedupe_ttl]).extend([message.dedupe_id, message.wire_json()])
        async with self.client.pipeline(transaction=False) as pipe:
            for p in order:
                await self._ingest(keys=[keys.partition_prefix(p), keys.inbound_stream(p)], args=args[p], client=pipe)
            replies = await execute(self.client, pipe)
        new = [False] * len(messages)
        for p, reply in zip(order, replies, strict=True):
            for index, flag in zip(order[p], reply, strict=True):
                new[index] = bool(flag)
        first = messages[0]
        if self.observe is not None:
            self.observe(first.platform, first.account, len(messages), time.perf_counter() - started)
        return new

    async def reject(self, platform: str, account: str, payload: bytes, reason: str) -> None:
        """Dead-letter an update a connector received but cannot use (malformed, out of range), with
        the reason, so an operator sees it (`helpline dead-letters`, `helpline_dead_letters`) and
        the platform can be acknowledged instead of redelivering it forever. Raises a redis error
        if Redis is unreachable: then the update must not be acknowledged either."""
        p = self.partition(platform, account, "unusable")
        await self.client.xadd(
            keys.dead_letters(p),
            {
                "stream": f"webhook:{platform}:{account}",
                "id": "-",
                "group": "-",
                "deliveries": 1,
                "error": reason[:500],
                "m": payload[:REJECTED_PAYLOAD_MAX],
            },
            maxlen=DEAD_LETTERS_MAX,
            approximate=True,
        )


#: (stream, entry id): one consumer reads many streams, where the same id (`…-0`) can exist in each.
EntryKey = tuple[str, str]


class Entry(NamedTuple):
    """One stream entry as a handler sees it. (A tuple: thousands are made per batch.)"""

    stream: str
    id: str
    payload: bytes
    deliveries: int = 1

    @property
    def key(self) -> EntryKey:
        """What names this entry among a consumer's streams: ids repeat across streams."""
        return self.stream, self.id


@dataclass(frozen=True)
class Failure:
    error: str
    permanent: bool = False  # dead-letter at once (e.g. the payload is invalid)


#: Handles a batch; returns the failures by `Entry.key`. Everything not failed is acknowledged.
BatchHandler = Callable[[list[Entry]], Awaitable[dict[EntryKey, Failure]]]


class StreamOwnership(Protocol):
    """Which of its streams a consumer may read now (see `ownership.PartitionLeases`)."""

    def streams(self) -> list[str]: ...

    def take_over(self) -> list[str]:
        """Streams newly owned: their pending entries are claimed at once, whatever their idle time."""
        ...


class StreamConsumer:
    """One consumer of a group over many streams.

    Failed entries stay pending and are retried after `retry_idle_ms`; after `max_deliveries`
    deliveries they go to the dead letters with their last error. Entries left pending by a dead
    consumer are claimed by this one once idle for `retry_idle_ms`.
    """

    def __init__(
        self,
        client: redis.Redis,
        group: str,
        consumer: str,
        streams: Sequence[str],
        handler: BatchHandler,
        dead_letter_key: Callable[[str], str],
        *,
        count: int = 500,
        block_ms: int = 1000,
        max_deliveries: int = 5,
        retry_idle_ms: int = 10_000,
        handler_acknowledges: bool = False,
        ownership: StreamOwnership | None = None,
        buried: Callable[[Entry, str], Awaitable[None]] | None = None,
        spent: Callable[[list[Entry]], Awaitable[list[Entry]]] | None = None,
    ) -> None:
        self.client = client
        self.group = group
        self.consumer = consumer
        self.streams = list(streams)
        self.handler = handler
        self.dead_letter_key = dead_letter_key
        self.count = count
        self.block_ms = block_ms
        self.max_deliveries = max_deliveries
        self.retry_idle_ms = retry_idle_ms
        # The handler acknowledges what it handled itself, in the same atomic call as the effects
        # (the router); then this consumer acknowledges only what it dead-letters.
        self.handler_acknowledges = handler_acknowledges
        # With an ownership, only the streams it grants are read and claimed (one reader each).
        self.ownership = ownership
        # Told of each entry sent to the dead letters (the sender lets the replies behind it go).
        self.buried = buried
        # Of the entries delivered more than `max_deliveries` times, those to dead-letter; the
        # others are handled once more (without it, all). A delivery counts every take-over from a
        # dead or paused consumer: the sender tells a reply that only waited in such a consumer's
        # batch from one that was being posted each time.
        self.spent = spent
        self._dead_letter = client.register_script(_DEAD_LETTER)
        self._last_claim = 0.0

    async def ensure_groups(self) -> None:
        for stream in self.streams:
            await ensure_group(self.client, stream, self.group)

    async def run(self, stop: asyncio.Event) -> None:
        await self.ensure_groups()
        while not stop.is_set():
            try:
                await self.step()
                if self.streams:  # a round with nothing to read did not ask Redis: it says nothing of it
                    redis_ok()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                redis_failed(exc)
                await _sleep_or_stop(stop, 1.0)
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    await self.ensure_groups()  # Redis restarted without our groups
                    continue
                log.exception("%s/%s: Redis refused a command; retrying", self.group, self.consumer)
                await _sleep_or_stop(stop, 1.0)
            except Exception:
                # A bug in a handler must not take the worker down: the batch stays pending, is
                # claimed again later and, if it keeps failing, goes to the dead letters.
                log.exception("%s/%s: a batch failed; its entries will be retried", self.group, self.consumer)
                await _sleep_or_stop(stop, 1.0)

    async def step(self) -> int:
        """One cycle: claim due retries and orphans, read new entries, handle, acknowledge."""
        handled = 0
        loop = asyncio.get_running_loop()
        if self.ownership is not None:
            self.streams = self.ownership.streams()
            taken = self.ownership.take_over()
            if taken:
                claimed = await self._claim(taken, min_idle_ms=0)
                if claimed:
                    handled += await self._handle(claimed)
        if loop.time() - self._last_claim >= self.retry_idle_ms / 1000 / 2:
            self._last_claim = loop.time()
            claimed = await self._claim()
            if claimed:
                handled += await self._handle(claimed)
        if not self.streams:  # nothing to read (e.g. no account publishes): wait as a blocking read would
            await asyncio.sleep(self.block_ms / 1000)
            return handled
        per_stream = self.per_stream()
        reply = await self.client.xreadgroup(
            self.group,
            self.consumer,
            dict.fromkeys(self.streams, ">"),
            count=per_stream,
            block=self.block_ms,
        )
        entries = _entries(reply)
        # Streams that gave all they were asked may hold more: a backlog in a few of many streams
        # fills the read up to `count` from them (one more round trip, not a batch a few wide).
        full = [as_text(stream) for stream, items in reply or [] if len(items) >= per_stream]
        room = self.count - len(entries)
        if full and room >= len(full):
            entries += _entries(
                await self.client.xreadgroup(
                    self.group, self.consumer, dict.fromkeys(full, ">"), count=room // len(full)
                )
            )
        if entries:
            handled += await self._handle(entries)
        return handled

    def per_stream(self) -> int:
        """XREADGROUP's COUNT applies to each stream: `count` spread over the streams bounds a
        read's total near `count`, so one consumer no longer takes a whole backlog at once (and
        its peers nothing). (`step` fills a read from the streams that had more.)"""
        return max(1, -(-self.count // max(1, len(self.streams))))

    async def _claim(self, streams: Sequence[str] | None = None, min_idle_ms: int | None = None) -> list[Entry]:
        claimed: list[Entry] = []
        for stream in self.streams if streams is None else streams:
            start = "0-0"
            while True:
                result = await self.client.xautoclaim(
                    stream,
                    self.group,
                    self.consumer,
                    self.retry_idle_ms if min_idle_ms is None else min_idle_ms,
                    start,
                    count=self.count,
                )
                start = as_text(result[0])
                items = result[1]
                deleted = [as_text(d) for d in (result[2] if len(result) > 2 else [])]
                if deleted:  # trimmed while pending: nothing to do, nothing to remember
                    await self.client.xack(stream, self.group, *deleted)
                    await self.client.hdel(_errors_key(stream), *deleted)  # type: ignore[misc]
                if items:
                    counts = await self._delivery_counts(stream, [as_text(i) for i, _ in items])
                    for entry_id, fields in items:
                        eid = as_text(entry_id)
                        claimed.append(Entry(stream, eid, (fields or {}).get(PAYLOAD, b""), counts.get(eid, 1)))
                if start == "0-0":
                    break
        return claimed

    async def _delivery_counts(self, stream: str, ids: list[str]) -> dict[str, int]:
        rows = await self.client.xpending_range(stream, self.group, min=ids[0], max=ids[-1], count=len(ids) * 2)
        return {as_text(r["message_id"]): int(r["times_delivered"]) for r in rows}

    async def _handle(self, entries: list[Entry]) -> int:
        exhausted = [e for e in entries if e.deliveries > self.max_deliveries]
        if exhausted and self.spent is not None:
            exhausted = await self.spent(exhausted)
        buried = {e.key for e in exhausted}
        due = [e for e in entries if e.key not in buried] if buried else entries
        failures = await self.handler(due) if due else {}
        for entry in exhausted:
            await self._bury(entry, f"gave up after {entry.deliveries - 1} deliveries")
        ok: dict[str, list[str]] = {}
        retried_ok: dict[str, list[str]] = {}  # may have an error recorded by an earlier delivery
        for entry in due:
            failure = failures.get(entry.key)
            if failure is None:
                ok.setdefault(entry.stream, []).append(entry.id)
                if entry.deliveries > 1:
                    retried_ok.setdefault(entry.stream, []).append(entry.id)
                continue
            await self._record_error(entry, failure.error)
            if failure.permanent or entry.deliveries >= self.max_deliveries:
                await self._bury(entry, failure.error)
            else:
                log.warning(
                    "entry %s of %s failed (delivery %d): %s", entry.id, entry.stream, entry.deliveries, failure.error
                )
        if (ok and not self.handler_acknowledges) or retried_ok:
            async with self.client.pipeline(transaction=False) as pipe:
                for stream, ids in ok.items() if not self.handler_acknowledges else ():
                    pipe.xack(stream, self.group, *ids)
                for stream, ids in retried_ok.items():
                    pipe.hdel(_errors_key(stream), *ids)  # the error is history: it succeeded
                await pipe.execute()
        return len(due)

    async def _record_error(self, entry: Entry, error: str) -> None:
        """The entry's last error (the dead letter takes it). The hash expires as a whole once no
        error has been written for a while, so a field nobody cleared cannot stay forever."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(_errors_key(entry.stream), entry.id, error)
            pipe.expire(_errors_key(entry.stream), ERRORS_TTL_SECONDS)
            await pipe.execute()

    async def _bury(self, entry: Entry, error: str) -> None:
        log.error("dead-lettering entry %s of %s: %s", entry.id, entry.stream, error)
        await self._dead_letter(
            keys=[entry.stream, self.dead_letter_key(entry.stream), _errors_key(entry.stream)],
            args=[self.group, entry.id, entry.deliveries, error],
        )
        if self.buried is not None:
            await self.buried(entry, error)


def _entries(reply: Any) -> list[Entry]:
    """The entries of an XREADGROUP answer (an entry deleted while pending has no fields)."""
    entries = []
    for stream, items in reply or []:
        name = as_text(stream)
        entries += [
            Entry(name, entry_id.decode(), fields.get(PAYLOAD, b"")) for entry_id, fields in items if fields is not None
        ]
    return entries


def _errors_key(stream: str) -> str:
    return f"{stream}:errors"


async def ensure_group(client: redis.Redis, stream: str, group: str) -> None:
    """Create the group (and the stream) if missing; only BUSYGROUP is ignored."""
    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def trim_acknowledged(client: redis.Redis, stream: str) -> int:
    """Trim entries every group has acknowledged, never one that is pending or undelivered."""
    try:
        groups = await client.xinfo_groups(stream)
    except ResponseError:
        return 0
    if not groups:
        return 0
    floor: tuple[int, int] | None = None
    for group in groups:
        # XPENDING after XINFO: entries may have been acknowledged in between (then min is None).
        summary = await client.xpending(stream, as_text(group["name"])) if int(group["pending"]) > 0 else None
        if summary and summary.get("min"):
            candidate = _parse_id(as_text(summary["min"]))
        else:
            ms, seq = _parse_id(as_text(group["last-delivered-id"]))
            candidate = (ms, seq + 1)
        floor = candidate if floor is None or candidate < floor else floor
    assert floor is not None
    return int(await client.xtrim(stream, minid=f"{floor[0]}-{floor[1]}", approximate=False))


def _parse_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
