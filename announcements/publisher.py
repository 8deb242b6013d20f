"""The publisher: drains the publish streams (one per platform account) through the connectors,
posting each delivery once. Its own consumer group, next to the sender, for three reasons: a
broadcast of 10,000 jobs must not queue ahead of customer replies on the sender's streams; its
idempotency records live with the announcement (counters and final state change in one Lua call);
and it paces a broadcast at the shared limit instead of deferring each job (see below).

Guarantees, as for replies (routing/sender.py):
- A delivery is claimed queued → sending (compare-and-set) before the platform call and recorded
  right after it, so two publishers never post it both, and a restart never posts it twice.
- Found "sending" (its process died mid-call): "uncertain" where the platform has no idempotency
  key (Telegram, X), posted again where it does (Mastodon's Idempotency-Key).
- Shared budgets via `SharedRateLimiter` (the same GCRA keys the sender spends, so replies and
  broadcasts share the bot's ≈30/s). A wait up to `pause_limit` is paced here (the entry stays
  pending, claimable if we die); a longer one parks the job in the delayed set and acknowledges.
- 429: the account is blocked for retry_after (the sender honours the same key) and the job is
  deferred, never slept on.
- A platform that is down (connection errors, 5xx, no answer where it dedupes) blocks the account
  for the same exponential, jittered, capped back-off as the sender's (`routing/backoff.py`, shared
  keys): the jobs wait in the delayed set and none is dead-lettered or recorded failed for it. A
  credential refused at run time blocks the account for the cap each time, said once, the account
  down in health. Only what the platform refuses for good is "failed".
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import redis.asyncio as redis
from pydantic import ValidationError

from helpline.connectors.base import Connector, SendProgress
from helpline.connectors.errors import AuthFailed, ConnectorError, Permanent, RateLimited, Uncertain
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.routing import keys
from helpline.routing.backoff import AccountBackoff
from helpline.routing.bus import Entry, EntryKey, Failure
from helpline.routing.models import DeliveryState
from helpline.routing.periodic import run_periodically
from helpline.routing.scripts import PROMOTE_DUE

from .deliveries import DeliveryStore, PublishJob, now_ms
from .dispatch import OnComplete
from .settings import AnnouncementSettings

log = logging.getLogger(__name__)


@dataclass
class _Account:
    """One account's drain within a batch: where a 429 tells every worker to stop."""

    platform: str
    name: str
    connector: Connector
    defer_until_ms: int = 0


class Publisher:
    def __init__(
        self,
        client: redis.Redis,
        connectors: Mapping[tuple[str, str], Connector],
        settings: AnnouncementSettings | None = None,
        on_complete: OnComplete | None = None,
    ) -> None:
        self.client = client
        self.connectors = connectors
        self.settings = settings or AnnouncementSettings()
        self.on_complete = on_complete
        self.deliveries = DeliveryStore(client)
        self.limiter = SharedRateLimiter(client)
        self.backoff = AccountBackoff(client, what="announcements", report=self._credentials)
        self._promote = client.register_script(PROMOTE_DUE)
        self.posted = 0
        self.deferred = 0

    def streams(self) -> list[str]:
        return [keys.publish_stream(p, a) for p, a in sorted(self.connectors)]

    def _credentials(self, platform: str, account: str, problem: str | None) -> None:
        self.connectors[(platform, account)].report_credentials(problem)

    def dead_letter_key(self, stream: str) -> str:
        _, _, platform, account = stream.split(":", 3)
        return keys.publish_dead_letters(platform, account)

    async def handle_batch(self, entries: list[Entry]) -> dict[EntryKey, Failure]:
        """Batch handler for the `publisher` group. Idempotent: a delivery whose record is final
        is acknowledged without posting."""
        failures: dict[EntryKey, Failure] = {}
        by_account: dict[tuple[str, str], list[tuple[Entry, PublishJob]]] = {}
        for entry in entries:
            try:
                job = PublishJob.model_validate_json(entry.payload)
            except ValidationError as exc:
                failures[entry.key] = Failure(f"invalid publish job: {exc.errors()[0]['msg']}", permanent=True)
                continue
            account = (job.post.platform, job.post.account)
            if account not in self.connectors:
                failures[entry.key] = Failure(f"no connector for {account[0]}/{account[1]}")
                continue
            by_account.setdefault(account, []).append((entry, job))
        results = await asyncio.gather(*(self._drain(acc, jobs) for acc, jobs in by_account.items()))
        for result in results:
            failures.update(result)
        return failures

    async def _drain(self, account: tuple[str, str], jobs: list[tuple[Entry, PublishJob]]) -> dict[EntryKey, Failure]:
        acc = _Account(account[0], account[1], self.connectors[account])
        blocked = int(await self.client.pttl(keys.blocked_until(*account)))
        if blocked > 0:
            acc.defer_until_ms = now_ms() + blocked
            self.backoff.note_blocked(account)
        states: list[str] = []
        for _, job in jobs:  # one round trip per job is fine: a batch is tens of jobs
            states += await self.deliveries.states(job.announcement_id, [job.delivery_id])
        todo: asyncio.Queue[tuple[Entry, PublishJob]] = asyncio.Queue()
        for (entry, job), state in zip(jobs, states, strict=True):
            if state in (DeliveryState.SENT.value, DeliveryState.FAILED.value, DeliveryState.UNCERTAIN.value):
                continue
            if state == DeliveryState.SENDING.value and not acc.connector.idempotent_send:
                await self._final(
                    job,
                    DeliveryState.UNCERTAIN,
                    error="the publisher stopped while posting; check the platform before posting again",
                )
                continue
            todo.put_nowait((entry, job))
        failures: dict[EntryKey, Failure] = {}

        async def worker() -> None:
            while not todo.empty():
                entry, job = todo.get_nowait()
                failure = await self._one(acc, entry, job)
                if failure is not None:
                    failures[entry.key] = failure

        await asyncio.gather(*(worker() for _ in range(min(self.settings.concurrency, todo.qsize()))))
        return failures

    async def _one(self, acc: _Account, entry: Entry, job: PublishJob) -> Failure | None:
        connector = acc.connector
        account = (acc.platform, acc.name)
        while True:
            if acc.defer_until_ms > now_ms():
                await self._defer(entry, job, (acc.defer_until_ms - now_ms()) / 1000)
                return None
            wait = await self.limiter.acquire(acc.platform, acc.name, connector.publish_rate_limits(job.post))
            if wait <= 0:
                break
            if wait > self.settings.pause_limit:
                await self._defer(entry, job, wait)
                return None
            await asyncio.sleep(wait)  # pacing at the shared limit; the entry stays pending meanwhile
        claimed, posted = await self.deliveries.claim(job.announcement_id, job.delivery_id, connector.idempotent_send)
        if not claimed:
            return None  # final, or another publisher holds it right now
        already = json.loads(posted)
        progress = SendProgress(already, self._recorder(job, already))
        try:
            result = await connector.publish(job.post, progress)
        except RateLimited as exc:
            seconds = max(exc.retry_after, 0.001)
            await self.client.set(keys.blocked_until(acc.platform, acc.name), "1", px=max(1, int(seconds * 1000)))
            await self._wait(acc, entry, job, seconds)
        except Permanent as exc:
            await self._final(job, DeliveryState.FAILED, progress.posted, error=str(exc))
        except AuthFailed as exc:  # revoked at run time: the account waits, said once
            await self._wait(acc, entry, job, await self.backoff.refused(account, str(exc) or type(exc).__name__))
        except Uncertain as exc:
            if not connector.idempotent_send:  # it may be out there: an operator checks, we do not re-post
                await self._final(
                    job, DeliveryState.UNCERTAIN, progress.posted, error=f"no answer from the platform: {exc}"
                )
                return None
            await self._wait(acc, entry, job, await self.backoff.failed(account, f"no answer: {exc}"))
        except ConnectorError as exc:  # down or failing (network, 5xx): the account waits
            await self._wait(acc, entry, job, await self.backoff.failed(account, f"{type(exc).__name__}: {exc}"))
        else:
            await self._final(job, DeliveryState.SENT, result.platform_message_ids, url=result.url)
            self.posted += 1
            await self.backoff.succeeded(account)
        return None

    async def _wait(self, acc: _Account, entry: Entry, job: PublishJob, seconds: float) -> None:
        """The account waits `seconds` (its other workers stop too); this job goes back to
        queued and waits in the delayed set."""
        acc.defer_until_ms = max(acc.defer_until_ms, now_ms() + int(seconds * 1000))
        await self.deliveries.requeue(job.announcement_id, job.delivery_id)
        await self._defer(entry, job, seconds)

    def _recorder(self, job: PublishJob, already: Sequence[str]) -> Callable[[str], Awaitable[None]]:
        posted = list(already)  # the parts an earlier attempt recorded stay recorded

        async def record(platform_id: str) -> None:
            posted.append(platform_id)
            await self.deliveries.record_part(job.announcement_id, job.delivery_id, posted)

        return record

    async def _final(
        self,
        job: PublishJob,
        state: DeliveryState,
        ids: Sequence[str] = (),
        url: str | None = None,
        error: str | None = None,
    ) -> None:
        if state is not DeliveryState.SENT:
            log.warning("announcement %s delivery %s %s: %s", job.announcement_id, job.delivery_id, state.value, error)
        final = await self.deliveries.record(job.announcement_id, job.delivery_id, state, ids, url, error)
        if final and self.on_complete is not None:
            await self.on_complete(job.announcement_id, final)

    async def _defer(self, entry: Entry, job: PublishJob, seconds: float) -> None:
        """Park the job until `seconds` from now and acknowledge its entry, atomically."""
        due = now_ms() + int(seconds * 1000)
        member = f"{int(job.created_at.timestamp() * 1000):013d}|{entry.payload.decode()}"
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zadd(keys.publish_delayed(job.post.platform, job.post.account), {member: due})
            pipe.xack(entry.stream, keys.PUBLISHER_GROUP, entry.id)
            await pipe.execute()
        self.deferred += 1

    async def promote_due(self, limit: int = 500) -> int:
        """Put deferred jobs whose time has come back on their streams."""
        moved = 0
        for platform, account in self.connectors:
            moved += int(
                await self._promote(
                    keys=[keys.publish_delayed(platform, account), keys.publish_stream(platform, account)],
                    args=[now_ms(), limit],
                )
            )
        return moved


async def run_promoter(publisher: Publisher, stop: asyncio.Event, interval: float = 0.2) -> None:
    """Deferred publish jobs back on their streams when their time comes; never stops on an error."""
    await run_periodically("publish promoter", publisher.promote_due, stop, interval)
