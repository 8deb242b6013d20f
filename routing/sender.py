"""The sender: drains outbound streams through the connectors, posting each reply once, in the
order its conversation's replies were written.

Every reply has a delivery record (`keys.delivery`, changed only by the scripts of
`routing/delivery.py`) that is its idempotency record and its ownership:

    queued ──► sending ──► sent (platform ids)
       ▲          │ └────► failed (error)           the platform refused it for good
       │          └──────► uncertain                no answer where the platform cannot dedupe
       └── waits: parked behind an earlier reply, or delayed (rate limit, 429, platform down)

A batch claims a reply queued → sending with its fencing token before the post (platforms that
dedupe by our key: the batch's replies at once, at its start; elsewhere the next few replies of an
account at once, see "the residual window" below); the claim refuses
a reply another live sender holds, one already final, and one whose predecessor in its
conversation is not final yet. Before each post the batch checks, on its own clock, that its
lease still runs (a process paused past it posts nothing more), and a batch starts no post after
`batch_seconds`; a post is given at most `send_timeout` seconds. So a batch ends within
batch_seconds + send_timeout, which the configuration keeps below `claim_idle_seconds` (the
lease): another sender takes a reply over only from a batch that is dead or paused.

A reply found "sending" past its owner's lease means a process died during the call, so whether
the platform took it is unknown: on platforms with an idempotency key (Mastodon) it is posted
again safely; elsewhere it becomes "uncertain" and is shown to the agents instead of risking a
double post. That is the residual window (see README, "Delivery promises"): on a platform without
idempotency a batch claims the replies it will post in about `MARK_AHEAD_SECONDS` (at most
`MARK_AHEAD_MAX`, one while posts are slower than that; posts with a rate limit one by one) in one
round trip, together with the record of the posts before them and the spending of the first one's
rate-limit budgets (a call of its own in that round trip: the budgets live in the account's Redis
slot, the records in the conversation's), so a crash leaves those few uncertain — never posted
twice. A budget that says wait has the replies just claimed put back at once.

A platform that is down (connection errors, timeouts where it dedupes, 5xx) blocks its account
for an exponential, jittered, capped back-off, as a 429 does for its "retry after": the replies
wait in order and none is dead-lettered. Only what the platform refuses for good is "failed". A
credential refused at run time (a revoked token) is not the reply's fault: the account waits and
is tried again every back-off cap, said once (see `routing/backoff.py`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import redis.asyncio as redis
from pydantic import ValidationError
from redis.asyncio.client import Pipeline

from . import keys
from .backoff import BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS, AccountBackoff, CredentialsReport
from .bus import Entry, EntryKey, Failure
from .decode import as_text
from .delivery import CLAIM, PUT_BACK, RECORD
from .errors import AuthFailed, ConnectorError, Permanent, RateLimited, Uncertain
from .models import ConversationEvent, DeliveryState, EventType, OutboundReply
from .outage import best_effort, redis_failed, through_outage
from .periodic import run_periodically
from .pipelined import execute
from .posting import Limiter, Poster, RateLimit, SendObserver, SendProgress, SendResult
from .scripts import PROMOTE_DUE, SEP

log = logging.getLogger(__name__)

#: A lease counts as held locally only until this share of it has passed (clocks, round trips).
LEASE_MARGIN = 0.8
#: Where the platform cannot dedupe, one claim covers the replies an account posts in about this
#: long (by its recent post times), at most MARK_AHEAD_MAX: what a crash may leave "uncertain".
MARK_AHEAD_SECONDS = 0.05
MARK_AHEAD_MAX = 16
#: Why a reply found "sending" past its owner's lease is recorded uncertain.
ORPHANED = "the process died while posting; check the platform before resending"
#: How long an account's replies wait after Redis failed under a claim (it answers again by then).
OUTAGE_WAIT_S = 1.0
#: Weight of the newest post time in an account's running mean.
POST_TIME_WEIGHT = 0.2
#: How long a batch holds, while Redis does not answer, the outcome of posts already made and the
#: replies it claimed but did not post (nothing else of the sender's can go on meanwhile); a
#: longer outage leaves them "sending", later taken for uncertain.
FINISH_THROUGH_OUTAGE_S = 600.0

_JSON = json.JSONEncoder()  # its encode() of one string is a single C call (per reply on the hot path)

Outcome = tuple["_Job", DeliveryState, SendResult | None, str | None]


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


@dataclass
class _Job:
    entry: Entry
    reply: OutboundReply
    partition: int
    key: str  # the delivery record
    verdict: str = ""  # of the claim
    parts: str = ""  # ids of the parts already posted (json)
    lease_left_ms: int = 0  # of another owner
    claimed_at: float = 0.0  # local clock


@dataclass
class _Batch:
    token: str
    deadline: float  # no post starts after this (local clock)
    waits: list[tuple[_Job, float]] = field(default_factory=list)  # put back for (seconds)
    failures: dict[EntryKey, Failure] = field(default_factory=dict)


class _Unobserved:
    def observe_send(self, platform: str, account: str, outcome: str, seconds: float) -> None:
        pass

    def observe_rate_limited(self, platform: str, account: str) -> None:
        pass


class Sender:
    """Batch handler for the `sender` group over the outbound streams of its connectors.

    `connectors`: one `Poster` per (platform, account); `limiter`: the shared rate limiter the
    replies' budgets are spent on; `observe`: the metrics hook (see `routing/posting.py`)."""

    def __init__(
        self,
        client: redis.Redis,
        connectors: Mapping[tuple[str, str], Poster],
        partitions: int,
        *,
        limiter: Limiter,
        observe: SendObserver | None = None,
        lease_seconds: float = 30.0,
        batch_seconds: float = 10.0,
        send_timeout: float = 15.0,
        backoff: tuple[float, float] = (BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS),
        credentials: CredentialsReport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.connectors = connectors
        self.limiter = limiter
        self.observe = observe or _Unobserved()
        self.partitions = partitions
        self.lease_seconds = lease_seconds
        self.batch_seconds = batch_seconds
        self.send_timeout = send_timeout
        self.backoff = AccountBackoff(client, *backoff, what="replies", report=credentials)
        self.clock = clock
        self._promote = client.register_script(PROMOTE_DUE)
        self._claim = client.register_script(CLAIM)
        self._put_back = client.register_script(PUT_BACK)
        self._record = client.register_script(RECORD)
        self._name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._batches = 0
        self._post_seconds: dict[tuple[str, str], float] = {}  # running mean per account
        self.sent = 0
        self.deferred = 0

    def streams(self) -> list[str]:
        return [
            keys.outbound_stream(p, platform, account)
            for platform, account in sorted(self.connectors)
            for p in range(self.partitions)
        ]

    def dead_letter_key(self, stream: str) -> str:
        return keys.dead_letters(keys.stream_partition(stream))

    async def handle_batch(self, entries: list[Entry]) -> dict[EntryKey, Failure]:
        """Idempotent: a reply whose record says it is final is acknowledged without posting."""
        self._batches += 1
        batch = _Batch(f"{self._name}:{self._batches}", self.clock() + self.batch_seconds)
        jobs: list[_Job] = []
        seen: set[str] = set()
        for entry in entries:
            try:
                reply = OutboundReply.model_validate_json(entry.payload)
            except ValidationError as exc:
                batch.failures[entry.key] = Failure(f"invalid outbound reply: {exc.errors()[0]['msg']}", permanent=True)
                continue
            if (reply.platform, reply.account) not in self.connectors:
                batch.failures[entry.key] = Failure(f"no connector for {reply.platform}/{reply.account}")
                continue
            if reply.reply_id in seen:  # the same reply twice in a batch: the first decides
                continue
            seen.add(reply.reply_id)
            # Replies live in their conversation's partition (a private follow-up too).
            p = keys.conversation_partition(reply.conversation_id)
            jobs.append(_Job(entry, reply, p, keys.delivery(p, reply.reply_id)))
        if not jobs:
            return batch.failures
        # One round trip: where the platform dedupes, the batch claims its replies now (a second
        # post after a crash is harmless there); every account's block.
        by_partition: dict[int, list[_Job]] = {}
        for job in jobs:
            if self.connectors[job.reply.platform, job.reply.account].idempotent_send:
                by_partition.setdefault(job.partition, []).append(job)
        claimed_at = self.clock()
        async with self.client.pipeline(transaction=False) as pipe:
            for p, js in by_partition.items():
                await self._claim(
                    keys=[keys.partition_prefix(p)], client=pipe, args=self._claim_args(batch.token, True, js)
                )
            for platform, account in self.connectors:
                pipe.pttl(keys.blocked_until(platform, account))
            raw = await execute(self.client, pipe)
        ttls = raw[len(by_partition) :]
        blocked = {acc: int(ttl) for acc, ttl in zip(self.connectors, ttls, strict=True) if int(ttl) > 0}
        for acc in blocked:
            self.backoff.note_blocked(acc)
        for js, verdicts in zip(by_partition.values(), raw[: len(by_partition)], strict=True):
            for job, verdict in zip(js, verdicts, strict=True):
                self._claimed(job, verdict, claimed_at)
        by_account: dict[tuple[str, str], list[_Job]] = {}
        for job in jobs:
            by_account.setdefault((job.reply.platform, job.reply.account), []).append(job)
        drained = await asyncio.gather(
            *(self._drain(batch, acc, js, blocked.get(acc, 0) / 1000) for acc, js in by_account.items()),
            return_exceptions=True,  # an account that failed (Redis away) must not strand the others' waits
        )
        await self._requeue(batch.token, batch.waits)
        for result in drained:
            if isinstance(result, BaseException):
                raise result
        return batch.failures

    def _claim_args(self, token: str, dedupes: bool, jobs: Sequence[_Job]) -> list[str | int]:
        items = SEP.join(f"{job.reply.reply_id}{SEP}{job.reply.conversation_id}" for job in jobs)
        return [token, int(self.lease_seconds * 1000), "1" if dedupes else "0", items]

    def _claimed(self, job: _Job, raw: Sequence[bytes | int], claimed_at: float) -> None:
        verdict, parts, left = raw
        job.verdict = as_text(verdict)
        job.parts = as_text(parts)
        job.lease_left_ms = int(left)
        job.claimed_at = claimed_at

    def _ahead(
        self, account: tuple[str, str], connector: Poster, jobs: Sequence[_Job], index: int, waiting: set[str]
    ) -> list[_Job]:
        """The replies to claim at once from `jobs[index]` on (platforms without idempotency):
        those not claimed yet, as many as the account posts in about MARK_AHEAD_SECONDS; one
        with a rate limit (spent right before its claim) is claimed alone."""
        mean = self._post_seconds.get(account)
        room = 1 if mean is None else max(1, min(MARK_AHEAD_MAX, int(MARK_AHEAD_SECONDS / max(mean, 1e-6))))
        ahead = [jobs[index]]
        for job in jobs[index + 1 :]:
            if len(ahead) >= room:
                break
            if job.verdict or job.reply.conversation_id in waiting:
                continue
            if connector.rate_limits(job.reply):
                break
            ahead.append(job)
        return ahead

    async def _claim_ahead(
        self,
        jobs: Sequence[_Job],
        token: str,
        finished: list[Outcome],
        account: tuple[str, str],
        limits: Sequence[RateLimit],
    ) -> tuple[float, list[_Job]]:
        """Claim replies right before their posts (platforms without idempotency: the window), in
        one round trip with the recording of the outcomes of the posts before them (first: a reply
        behind one of them in its conversation may go only once it is final) and the spending of
        the first reply's `limits` (before the claims). Returns the limiter's answer (0.0, or
        seconds to wait when nothing was spent) and the replies claimed here and put back since."""
        started = self.clock()
        by_partition: dict[int, list[_Job]] = {}
        for job in jobs:  # in order: a conversation's replies are in one partition
            by_partition.setdefault(job.partition, []).append(job)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                await self._queue_records(pipe, finished, token)
                if limits:
                    await self.limiter.acquire_on(pipe, account[0], account[1], limits)
                for p, js in by_partition.items():
                    await self._claim(
                        keys=[keys.partition_prefix(p)], client=pipe, args=self._claim_args(token, False, js)
                    )
                raw = await execute(self.client, pipe)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Whether Redis ran the calls is unknown. Once it answers, the posts before are
            # recorded (sent is a fact, whoever holds the reply by then) and the replies are put
            # back, queued again if the claim took them: neither is left "sending" for its lease
            # to run out and the next attempt to take it for "uncertain".
            redis_failed(exc)
            await self._finish(finished, token)
            finished.clear()
            await self._requeue(token, [(job, 0.0) for job in jobs])
            for job in jobs:
                job.verdict = "back"
            return OUTAGE_WAIT_S, list(jobs)
        finished.clear()
        for js, verdicts in zip(by_partition.values(), raw[-len(by_partition) :], strict=True):
            for job, verdict in zip(js, verdicts, strict=True):
                self._claimed(job, verdict, started)
        wait = self.limiter.wait_of(raw[-len(by_partition) - 1]) if limits else 0.0
        if wait > 0:
            self.observe.observe_rate_limited(*account)
        back = [job for job in jobs if job.verdict == "go"] if wait > 0 else []
        if back:  # claimed for nothing: queued again at once, not left "sending" for the batch
            await self._requeue(token, [(job, wait) for job in back])
            for job in back:
                job.verdict = "back"
        return wait, back

    async def _drain(self, batch: _Batch, account: tuple[str, str], jobs: list[_Job], defer_for: float) -> None:
        """Post one account's replies in order. A deferral defers the rest of the account; a reply
        that does not go holds the later replies of its conversation."""
        connector = self.connectors[account]
        dedupes = connector.idempotent_send
        waiting: set[str] = set()  # conversations with a reply that did not go
        finished: list[Outcome] = []
        for index, job in enumerate(jobs):
            conversation = job.reply.conversation_id
            if job.verdict in ("final", "back"):
                continue
            if job.verdict == "orphan":  # recorded, never posted; put back, it could be posted again
                finished.append((job, DeliveryState.UNCERTAIN, None, ORPHANED))
                continue
            if conversation in waiting or defer_for > 0 or self.clock() >= batch.deadline:
                batch.waits.append((job, defer_for))
                waiting.add(conversation)
                continue
            limits = () if job.verdict in ("busy", "held", "orphan") else connector.rate_limits(job.reply)
            if not dedupes and not job.verdict:  # the budget is spent right before the claim, the post's window
                defer_for, back = await self._claim_ahead(
                    self._ahead(account, connector, jobs, index, waiting), batch.token, finished, account, limits
                )
                if any(job is other for other in back):
                    waiting.add(conversation)
                    continue
            if job.verdict in ("final", "busy", "held"):
                if job.verdict != "final":
                    batch.waits.append((job, job.lease_left_ms / 1000))
                    waiting.add(conversation)
                continue
            if job.verdict == "orphan":
                finished.append((job, DeliveryState.UNCERTAIN, None, ORPHANED))
                continue
            if dedupes and limits:
                defer_for = await self.limiter.acquire(account[0], account[1], limits)
                if defer_for > 0:
                    batch.waits.append((job, defer_for))
                    waiting.add(conversation)
                    self.observe.observe_rate_limited(*account)
                    continue
            if self.clock() >= job.claimed_at + self.lease_seconds * LEASE_MARGIN:
                # Paused past the lease (or the limiter took that long): another sender may hold it.
                batch.waits.append((job, 0.0))
                waiting.add(conversation)
                continue
            outcome, wait = await self._post(batch, account, connector, job)
            if outcome is not None:
                finished.append(outcome)
            else:
                waiting.add(conversation)
                if wait is not None:
                    defer_for = wait
                    batch.waits.append((job, wait))
        await self._finish(finished, batch.token)

    async def _post(
        self, batch: _Batch, account: tuple[str, str], connector: Poster, job: _Job
    ) -> tuple[Outcome | None, float | None]:
        """One post. Returns its final outcome, or none and how long the account waits (none:
        the entry is retried by the consumer)."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.send_timeout):  # in this task: wait_for would start one per post
                result = await connector.send(job.reply, self._progress(job))
        except RateLimited as exc:
            wait = max(exc.retry_after, 0.001)
            await best_effort(partial(self.client.set, keys.blocked_until(*account), "1", px=max(1, int(wait * 1000))))
            self.observe.observe_send(*account, "deferred", time.perf_counter() - started)
            return None, wait
        except Permanent as exc:
            self.observe.observe_send(*account, "failed", time.perf_counter() - started)
            return (job, DeliveryState.FAILED, None, str(exc)), None
        except AuthFailed as exc:  # revoked at run time: the account waits, its replies in order
            self.observe.observe_send(*account, "deferred", time.perf_counter() - started)
            return None, await self.backoff.refused(account, str(exc) or type(exc).__name__)
        except (Uncertain, TimeoutError) as exc:
            self.observe.observe_send(*account, "uncertain", time.perf_counter() - started)
            reason = str(exc) or f"no answer within {self.send_timeout:g} s"
            if not connector.idempotent_send:  # like a crash mid-call: shown, never risked twice
                return (job, DeliveryState.UNCERTAIN, None, f"no answer from the platform: {reason}"), None
            return None, await self.backoff.failed(account, reason)  # the platform dedupes by our key
        except ConnectorError as exc:  # down or failing (network, 5xx): wait, in order
            self.observe.observe_send(*account, "transient", time.perf_counter() - started)
            return None, await self.backoff.failed(account, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a connector bug: this reply only, the others go on
            # The state stays "sending", its lease ended: the retry posts again only where it is safe.
            log.exception("reply %s: the %s connector failed", job.reply.reply_id, account[0])
            await self.client.hset(job.key, "lease", "0")  # type: ignore[misc]
            batch.failures[job.entry.key] = Failure(f"{type(exc).__name__}: {exc}")
            self.observe.observe_send(*account, "transient", time.perf_counter() - started)
            return None, None
        took = time.perf_counter() - started
        self.observe.observe_send(*account, "sent", took)
        mean = self._post_seconds.get(account)
        self._post_seconds[account] = took if mean is None else mean + POST_TIME_WEIGHT * (took - mean)
        await self.backoff.succeeded(account)
        return (job, DeliveryState.SENT, result, None), None

    def _progress(self, job: _Job) -> SendProgress:
        posted = json.loads(job.parts) if job.parts else []

        async def record(platform_id: str) -> None:
            posted_now.append(platform_id)
            try:
                await self.client.hset(job.key, "parts", json.dumps(posted_now))  # type: ignore[misc]
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                # Posted, and Redis is away: the post stands (the final record names its ids once
                # Redis is back); were this process to die first, the reply stays "sending" and is
                # taken for uncertain, never posted again.
                redis_failed(exc)

        posted_now = list(posted)
        return SendProgress(posted, record)

    async def _finish(self, done: Sequence[Outcome], token: str, guard: str = "own") -> None:
        """Record final states (one round trip), through a Redis outage: what was posted while
        Redis was away is recorded as sent when it is back, not left "sending" (then uncertain)."""
        if done:
            await through_outage(partial(self._finish_now, done, token, guard), within=FINISH_THROUGH_OUTAGE_S)

    async def _finish_now(self, done: Sequence[Outcome], token: str, guard: str) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            await self._queue_records(pipe, done, token, guard)
            await execute(self.client, pipe)

    async def _queue_records(self, pipe: Pipeline, done: Sequence[Outcome], token: str, guard: str = "own") -> None:
        """Queue on `pipe` the recording of final states: one script call per partition. A
        failure also becomes an event of the conversation; a success is read from the record, or
        is an event too for a reply with a `report` label."""
        sent: dict[int, list[str]] = {}
        not_sent: dict[int, list[str]] = {}
        for job, state, result, error in done:
            reply = job.reply
            ids = "[" + ",".join(map(_JSON.encode, result.platform_message_ids if result else ())) + "]"
            if state is DeliveryState.SENT:
                self.sent += 1
                if reply.report is None:
                    sent.setdefault(job.partition, []).extend((reply.reply_id, reply.conversation_id, ids))
                    continue
            else:
                log.warning("reply %s %s: %s", reply.reply_id, state.value, error)
            reason = error or state.value
            event = ConversationEvent(
                conversation_id=reply.conversation_id,
                actor="sender",
                type=EventType.REPLY_SENT if state is DeliveryState.SENT else EventType.REPLY_FAILED,
                reason=f"{reply.report}: {reason}" if reply.report else reason,
                data={"reply_id": reply.reply_id, "state": state.value},
            ).model_dump_json()
            not_sent.setdefault(job.partition, []).extend(
                (  # a post is a fact, whoever holds the reply now
                    reply.reply_id,
                    reply.conversation_id,
                    state.value,
                    error or "",
                    event,
                    "any" if state is DeliveryState.SENT else guard,
                    ids,
                )
            )
        by_partition = {
            p: [_now_ms(), token, SEP.join(sent.get(p, ())), *not_sent.get(p, ())]
            for p in sent.keys() | not_sent.keys()
        }
        if not by_partition:
            return
        conversations = sorted({job.reply.conversation_id for job, *_ in done})
        for p, args in by_partition.items():
            await self._record(keys=[keys.partition_prefix(p)], args=args, client=pipe)
        pipe.publish(keys.live_channel(), json.dumps({"conversations": conversations}))

    async def _requeue(self, token: str, waits: Sequence[tuple[_Job, float]]) -> None:
        """`_wait` through a Redis outage (a restart): a reply claimed and not posted that stayed
        "sending" would be taken for "uncertain" by the next attempt."""
        if waits:
            await through_outage(partial(self._wait, token, waits), within=FINISH_THROUGH_OUTAGE_S)

    async def _wait(self, token: str, waits: Sequence[tuple[_Job, float]]) -> None:
        """Put back what did not go, acknowledging its entries: behind its conversation's earlier
        reply (parked) or in the delayed set for the wait. One script call per stream."""
        if not waits:
            return
        now = _now_ms()
        by_stream: dict[tuple[int, str, str], list[str | int]] = {}
        for job, seconds in waits:
            reply = job.reply
            member = f"{int(reply.created_at.timestamp() * 1000):013d}|{job.entry.payload.decode()}"
            by_stream.setdefault((job.partition, reply.platform, reply.account), [token, keys.SENDER_GROUP]).extend(
                (job.entry.id, job.key, reply.conversation_id, now + int(seconds * 1000), member)
            )
        async with self.client.pipeline(transaction=False) as pipe:
            for (p, platform, account), args in by_stream.items():
                await self._put_back(
                    keys=[
                        keys.partition_prefix(p),
                        keys.outbound_stream(p, platform, account),
                        keys.outbound_delayed(p, platform, account),
                    ],
                    args=args,
                    client=pipe,
                )
            await execute(self.client, pipe)
        self.deferred += len(waits)

    async def spent(self, entries: list[Entry]) -> list[Entry]:
        """Of entries taken over from dead or paused senders more than `max_deliveries` times,
        those to dead-letter: a reply found "sending" on a platform that dedupes, which is posted
        again at each take-over and may be what kills its senders. Elsewhere a reply found
        "sending" is recorded uncertain, never posted again, and one that only waited in a dead
        sender's batch harmed nobody: those are handled as usual (see `StreamConsumer.spent`)."""
        suspects: list[tuple[Entry, str]] = []
        for entry in entries:
            try:
                reply = OutboundReply.model_validate_json(entry.payload)
            except ValidationError:
                continue  # refused by the batch, for good
            connector = self.connectors.get((reply.platform, reply.account))
            if connector is not None and connector.idempotent_send:
                p = keys.conversation_partition(reply.conversation_id)
                suspects.append((entry, keys.delivery(p, reply.reply_id)))
        if not suspects:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for _, key in suspects:
                pipe.hget(key, "state")
            states = await pipe.execute()
        return [entry for (entry, _), state in zip(suspects, states, strict=True) if state == b"sending"]

    async def buried(self, entry: Entry, error: str) -> None:
        """The consumer dead-lettered `entry`: its reply is final ("failed"), so the replies
        written after it in its conversation go on (`helpline dead-letters replay` resends it)."""
        try:
            reply = OutboundReply.model_validate_json(entry.payload)
        except ValidationError:
            return
        p = keys.conversation_partition(reply.conversation_id)
        await self._finish(
            [
                (
                    _Job(entry, reply, p, keys.delivery(p, reply.reply_id)),
                    DeliveryState.FAILED,
                    None,
                    f"dead-lettered: {error}",
                )
            ],
            token="",
            guard="any",
        )

    async def promote_due(self, limit: int = 500) -> int:
        """Put deferred replies whose time has come back on their streams."""
        moved = 0
        now = _now_ms()
        for platform, account in self.connectors:
            for p in range(self.partitions):
                moved += int(
                    await self._promote(
                        keys=[keys.outbound_delayed(p, platform, account), keys.outbound_stream(p, platform, account)],
                        args=[now, limit],
                    )
                )
        return moved


async def run_promoter(sender: Sender, stop: asyncio.Event, interval: float = 0.2) -> None:
    """Deferred replies back on their streams when their time comes (a dead promoter would leave
    them waiting forever, so it never stops on an error)."""
    await run_periodically("outbound promoter", sender.promote_due, stop, interval)
