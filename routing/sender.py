"""The sender: drains outbound streams through the connectors, posting each reply once.

Every reply has a delivery record (`keys.delivery`) that is its idempotency record:

    queued ──► sending ──► sent (platform ids)
                  │ └────► failed (error)           permanent errors
                  └──────► queued again, later      429 / shared rate limit: deferred

"sending" is written before the platform call and "sent" right after it. A reply found in
"sending" means a process died during the call, so whether the platform took it is unknown:
on platforms with an idempotency key (Mastodon) it is posted again safely; elsewhere it becomes
"uncertain" and is shown to the agents instead of risking a double post. That call is the
residual window (see README, "Delivery promises").
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import redis.asyncio as redis
from pydantic import ValidationError

from helpline.connectors.base import Connector, SendProgress, SendResult
from helpline.connectors.errors import AuthFailed, ConnectorError, Permanent, RateLimited, Uncertain
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.insights.metrics import observe_rate_limited, observe_send

from . import keys
from .bus import Entry, EntryKey, Failure
from .decode import as_text
from .models import ConversationEvent, DeliveryState, EventType, OutboundReply
from .outage import through_outage
from .periodic import run_periodically
from .scripts import PROMOTE_DUE

log = logging.getLogger(__name__)


# KEYS[1]: partition prefix. ARGV: reply ids. Returns each reply's {state, parts, attempts}.
_READ = """
local out = {}
for i = 1, #ARGV do
  out[i] = redis.call('HMGET', KEYS[1] .. ':reply:' .. ARGV[i], 'state', 'parts', 'attempts')
end
return out
"""

# KEYS[1]: partition prefix. ARGV: now, the number of replies sent, then per sent reply 2 values:
# reply id, platform ids json; then per reply that did not go 5 values: reply id, state, error,
# conversation id, event json. A record and its event change together. (Sent replies, the common
# case, carry the fewest arguments: packing them is the sender's main cost per reply.)
# The changed reply ids (field "r") and conversations (field "c") go to the partition's change
# stream in the same call, for the archiver.
_RECORD = """
local prefix = KEYS[1]
local SEP = '\\31'
local last_sent = 2 + 2 * tonumber(ARGV[2])
local replies, changed = {}, {}
for i = 3, last_sent, 2 do
  redis.call('HSET', prefix .. ':reply:' .. ARGV[i], 'state', 'sent', 'platform_ids', ARGV[i + 1],
             'error', '', 'updated_at', ARGV[1])
  replies[#replies + 1] = ARGV[i]
end
for i = last_sent + 1, #ARGV, 5 do
  redis.call('HSET', prefix .. ':reply:' .. ARGV[i], 'state', ARGV[i + 1], 'platform_ids', '[]',
             'error', ARGV[i + 2], 'updated_at', ARGV[1])
  local c = prefix .. ':conv:' .. ARGV[i + 3]
  redis.call('RPUSH', c .. ':events', ARGV[i + 4])
  redis.call('HINCRBY', c, 'version', 1)
  replies[#replies + 1] = ARGV[i]
  changed[#changed + 1] = ARGV[i + 3]
end
if #replies > 0 then
  redis.call('XADD', prefix .. ':changes', '*', 'r', table.concat(replies, SEP), 'c', table.concat(changed, SEP))
end
return 1
"""


_FINAL = frozenset({DeliveryState.SENT.value, DeliveryState.FAILED.value, DeliveryState.UNCERTAIN.value})
_SENDING = DeliveryState.SENDING.value
_JSON = json.JSONEncoder()  # its encode() of one string is a single C call (per reply on the hot path)


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


@dataclass
class _Job:
    entry: Entry
    reply: OutboundReply
    partition: int
    delivery: dict[str, str]


class Sender:
    """Batch handler for the `sender` group over the outbound streams of its connectors."""

    def __init__(self, client: redis.Redis, connectors: Mapping[tuple[str, str], Connector],
                 partitions: int) -> None:
        self.client = client
        self.connectors = connectors
        self.partitions = partitions
        self.limiter = SharedRateLimiter(client)
        self._promote = client.register_script(PROMOTE_DUE)
        self._record = client.register_script(_RECORD)
        self._read = client.register_script(_READ)
        self.sent = 0
        self.deferred = 0

    def streams(self) -> list[str]:
        return [keys.outbound_stream(p, platform, account)
                for platform, account in sorted(self.connectors) for p in range(self.partitions)]

    def dead_letter_key(self, stream: str) -> str:
        return keys.dead_letters(int(stream.split("{p", 1)[1].split("}", 1)[0]))

    async def handle_batch(self, entries: list[Entry]) -> dict[EntryKey, Failure]:
        """Idempotent: a reply whose record says "sent" is acknowledged without posting."""
        failures: dict[EntryKey, Failure] = {}
        jobs: list[_Job] = []
        for entry in entries:
            try:
                reply = OutboundReply.model_validate_json(entry.payload)
            except ValidationError as exc:
                failures[entry.key] = Failure(f"invalid outbound reply: {exc.errors()[0]['msg']}", permanent=True)
                continue
            if (reply.platform, reply.account) not in self.connectors:
                failures[entry.key] = Failure(f"no connector for {reply.platform}/{reply.account}")
                continue
            # Replies live in their conversation's partition (a private follow-up too).
            jobs.append(_Job(entry, reply, keys.conversation_partition(reply.conversation_id), {}))
        if not jobs:
            return failures
        by_partition: dict[int, list[_Job]] = {}
        for job in jobs:
            by_partition.setdefault(job.partition, []).append(job)
        async with self.client.pipeline(transaction=False) as pipe:
            for p, js in by_partition.items():
                await self._read(keys=[keys.partition_prefix(p)], args=[j.reply.reply_id for j in js], client=pipe)
            for platform, account in self.connectors:
                pipe.pttl(keys.blocked_until(platform, account))
            raw = await pipe.execute()
        ttls = raw[len(by_partition):]
        blocked = {acc: int(ttl) for acc, ttl in zip(self.connectors, ttls, strict=True) if int(ttl) > 0}
        for js, states in zip(by_partition.values(), raw[: len(by_partition)], strict=True):
            for job, (state, parts, attempts) in zip(js, states, strict=True):
                job.delivery = {"state": as_text(state or b""), "parts": as_text(parts or b""),
                                "attempts": as_text(attempts or b"0")}
        by_account: dict[tuple[str, str], list[_Job]] = {}
        for job in jobs:
            by_account.setdefault((job.reply.platform, job.reply.account), []).append(job)
        results = await asyncio.gather(*(self._drain(acc, js, blocked.get(acc, 0)) for acc, js in by_account.items()))
        for result in results:
            failures.update(result)
        return failures

    async def _drain(self, account: tuple[str, str], jobs: list[_Job], blocked_ms: int) -> dict[EntryKey, Failure]:
        """Post one account's replies in order; a deferral defers the rest of that account too."""
        connector = self.connectors[account]
        failures: dict[EntryKey, Failure] = {}
        defer_for = blocked_ms / 1000
        to_send: list[_Job] = []
        for job in jobs:
            state = job.delivery.get("state", "")
            if state in _FINAL:
                continue  # already final: just acknowledge
            if state == _SENDING and not connector.idempotent_send:
                await self._finish([(job, DeliveryState.UNCERTAIN, None,
                                     "the process died while posting; check the platform before resending")])
                continue
            to_send.append(job)
        finished: list[tuple[_Job, DeliveryState, SendResult | None, str | None]] = []
        for job in to_send:
            limits = connector.rate_limits(job.reply)
            if defer_for <= 0 and limits:
                defer_for = await self.limiter.acquire(account[0], account[1], limits)
            if defer_for > 0:
                await self._defer(job, defer_for)
                observe_rate_limited(*account)
                continue
            key = keys.delivery(job.partition, job.reply.reply_id)
            started = time.perf_counter()
            try:
                if not connector.idempotent_send:
                    # Durable before the call: if we die inside it, the reply becomes "uncertain".
                    await self.client.hset(key, mapping={  # type: ignore[misc]
                        "state": DeliveryState.SENDING.value, "updated_at": _now_ms(),
                        "attempts": int(job.delivery.get("attempts", 0)) + 1,
                    })
                result = await connector.send(job.reply, self._progress(job))
            except RateLimited as exc:
                defer_for = max(exc.retry_after, 0.001)
                await self.client.set(keys.blocked_until(*account), "1", px=max(1, int(defer_for * 1000)))
                await through_outage(partial(self._defer, job, defer_for, reset_state=True))
                observe_send(*account, "deferred", time.perf_counter() - started)
            except (Permanent, AuthFailed) as exc:
                finished.append((job, DeliveryState.FAILED, None, str(exc)))
                observe_send(*account, "failed", time.perf_counter() - started)
            except Uncertain as exc:
                if connector.idempotent_send:  # the platform dedupes by our key: retrying is safe
                    await self._reset_queued(key)
                    failures[job.entry.key] = Failure(f"{type(exc).__name__}: {exc}")
                else:  # like a crash mid-call: shown to the agents rather than risk a double reply
                    finished.append((job, DeliveryState.UNCERTAIN, None, f"no answer from the platform: {exc}"))
                observe_send(*account, "uncertain", time.perf_counter() - started)
            except ConnectorError as exc:  # transient: retried by the consumer, then dead-lettered
                await self._reset_queued(key)
                failures[job.entry.key] = Failure(f"{type(exc).__name__}: {exc}")
                observe_send(*account, "transient", time.perf_counter() - started)
            except Exception as exc:  # a connector bug: this reply only, the others go on
                # The state stays "sending": if the platform took it, the retry says "uncertain".
                log.exception("reply %s: the %s connector failed", job.reply.reply_id, account[0])
                failures[job.entry.key] = Failure(f"{type(exc).__name__}: {exc}")
                observe_send(*account, "transient", time.perf_counter() - started)
            else:
                finished.append((job, DeliveryState.SENT, result, None))
                observe_send(*account, "sent", time.perf_counter() - started)
            if finished and not connector.idempotent_send:
                await self._finish(finished)  # shrink the window: record each post at once
                finished = []
        await self._finish(finished)
        return failures

    async def _reset_queued(self, key: str) -> None:
        """Not posted: back to "queued", through a short Redis outage (left "sending", the next
        attempt would have to call a reply that never left "uncertain")."""
        async def reset() -> None:
            await self.client.hset(key, "state", DeliveryState.QUEUED.value)  # type: ignore[misc]

        await through_outage(reset)

    def _progress(self, job: _Job) -> SendProgress:
        key = keys.delivery(job.partition, job.reply.reply_id)
        parts = job.delivery.get("parts")
        posted = json.loads(parts) if parts else []

        async def record(platform_id: str) -> None:
            posted_now.append(platform_id)
            await self.client.hset(key, "parts", json.dumps(posted_now))  # type: ignore[misc]

        posted_now = list(posted)
        return SendProgress(posted, record)

    async def _finish(self, done: Sequence[tuple[_Job, DeliveryState, SendResult | None, str | None]]) -> None:
        """Record final states (one script call per partition). A failure also becomes an event
        of the conversation; a success is read from the delivery record."""
        sent: dict[int, list[str]] = {}
        not_sent: dict[int, list[str]] = {}
        for job, state, result, error in done:
            reply = job.reply
            if state is DeliveryState.SENT:
                ids = "[" + ",".join(map(_JSON.encode, result.platform_message_ids if result else ())) + "]"
                sent.setdefault(job.partition, []).extend((reply.reply_id, ids))
                self.sent += 1
                continue
            event = ConversationEvent(
                conversation_id=reply.conversation_id, type=EventType.REPLY_FAILED, actor="sender",
                reason=error or state.value, data={"reply_id": reply.reply_id, "state": state.value},
            ).model_dump_json()
            log.warning("reply %s %s: %s", reply.reply_id, state.value, error)
            not_sent.setdefault(job.partition, []).extend(
                (reply.reply_id, state.value, error or "", reply.conversation_id, event))
        by_partition = {p: [_now_ms(), len(sent.get(p, ())) // 2, *sent.get(p, ()), *not_sent.get(p, ())]
                        for p in sent.keys() | not_sent.keys()}
        if not by_partition:
            return
        conversations = sorted({job.reply.conversation_id for job, *_ in done})
        async with self.client.pipeline(transaction=False) as pipe:
            for p, args in by_partition.items():
                await self._record(keys=[keys.partition_prefix(p)], args=args, client=pipe)
            pipe.publish(keys.live_channel(), json.dumps({"conversations": conversations}))
            await pipe.execute()

    async def _defer(self, job: _Job, seconds: float, reset_state: bool = False) -> None:
        """Park the reply until `seconds` from now and acknowledge its entry, atomically."""
        reply = job.reply
        due = _now_ms() + int(seconds * 1000)
        member = f"{int(reply.created_at.timestamp() * 1000):013d}|{job.entry.payload.decode()}"
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.outbound_delayed(job.partition, reply.platform, reply.account), {member: due})
            pipe.xack(job.entry.stream, keys.SENDER_GROUP, job.entry.id)
            if reset_state:
                pipe.hset(keys.delivery(job.partition, reply.reply_id), "state", DeliveryState.QUEUED.value)
            await pipe.execute()
        self.deferred += 1

    async def promote_due(self, limit: int = 500) -> int:
        """Put deferred replies whose time has come back on their streams."""
        moved = 0
        now = _now_ms()
        for platform, account in self.connectors:
            for p in range(self.partitions):
                moved += int(await self._promote(
                    keys=[keys.outbound_delayed(p, platform, account), keys.outbound_stream(p, platform, account)],
                    args=[now, limit],
                ))
        return moved


async def run_promoter(sender: Sender, stop: asyncio.Event, interval: float = 0.2) -> None:
    """Deferred replies back on their streams when their time comes (a dead promoter would leave
    them waiting forever, so it never stops on an error)."""
    await run_periodically("outbound promoter", sender.promote_due, stop, interval)

