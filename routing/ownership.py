"""Partition ownership: one router decides a partition's conversations at a time.

Every inbound partition has a lease (`keys.partition_owner`) holding a fencing token,
"<epoch>|<consumer>", with a TTL. A router reads and claims only the partitions it holds, and
passes their tokens to the conversation scripts, which refuse to write when the token is not the
partition's current one. A router paused past its lease (SIGSTOP, a long GC, a network split)
so cannot commit the batch it had in flight: the partition's new owner has claimed its entries
(at once, on taking the partition over) and decides them, once, in stream order.

Routers share the partitions evenly: each one registers in `keys.routers()` and holds at most
ceil(partitions / live routers); one that holds more gives the extra back, one that holds fewer
takes free ones. Locally, a lease counts as held only until a margin before its TTL since the
last renewal, so a router that was paused knows, before touching Redis, that it lost them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import zlib
from collections.abc import Callable

import redis.asyncio as redis

from . import keys
from .decode import as_text
from .outage import redis_failed, redis_ok
from .pipelined import execute

log = logging.getLogger(__name__)

# KEYS: owner, epoch. ARGV: consumer, ttl (ms), "1" to take the lease if it is free.
# Returns the token held after the call (renewed or new), or false.
_HOLD = """
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, '|', 1, true)
  if sep and string.sub(current, sep + 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return current
  end
  return false
end
if ARGV[3] ~= '1' then return false end
local token = redis.call('INCR', KEYS[2]) .. '|' .. ARGV[1]
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return token
"""

# KEYS: owner. ARGV: token. Gives the lease back if it is still this token's.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class PartitionLeases:
    """The partitions this router holds, kept by `run` (or by calling `refresh`)."""

    def __init__(
        self,
        client: redis.Redis,
        partitions: int,
        consumer: str,
        lease_ms: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if "|" in consumer:
            raise ValueError(f"consumer name {consumer!r}: '|' separates it from the epoch in a token")
        self.client = client
        self.partitions = partitions
        self.consumer = consumer
        self.lease_ms = lease_ms
        self.clock = clock
        self._held: dict[int, tuple[str, float]] = {}  # partition -> (token, held locally until)
        self._taken: list[int] = []  # acquired since `take_over` was last asked
        self._hold = client.register_script(_HOLD)
        self._release = client.register_script(_RELEASE)
        # Each router prefers its own order of partitions, so they rarely reach for the same one.
        self._order = sorted(range(partitions), key=lambda p: zlib.crc32(f"{consumer}/{p}".encode()))

    # read by the consumer and the router ---------------------------------------------------
    def tokens(self) -> dict[int, str]:
        """Fencing tokens of the partitions held now (a lease past its local margin is not)."""
        now = self.clock()
        return {p: token for p, (token, until) in self._held.items() if now < until}

    def streams(self) -> list[str]:
        return [keys.inbound_stream(p) for p in sorted(self.tokens())]

    def take_over(self) -> list[str]:
        """Streams of the partitions acquired since the last call: their pending entries are
        another router's unfinished work, to be claimed at once."""
        taken, self._taken = self._taken, []
        return [keys.inbound_stream(p) for p in taken if p in self._held]

    # kept in Redis -------------------------------------------------------------------------
    async def refresh(self) -> None:
        """Renew what is held, give back what is more than a fair share, take free partitions up
        to it. Safe to call at any time, from any number of routers."""
        started = self.clock()
        now_ms = int(time.time() * 1000)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zadd(keys.routers(), {self.consumer: now_ms + self.lease_ms})
            pipe.zremrangebyscore(keys.routers(), "-inf", now_ms)
            pipe.zcard(keys.routers())
            live = int((await pipe.execute())[2])
        target = math.ceil(self.partitions / max(live, 1))
        held = sorted(self._held, key=self._order.index)
        tokens = await self._hold_many(held, take=False)
        until = started + self.lease_ms / 1000 * 0.8  # a margin for the clocks and the round trip
        self._held = {p: (t, until) for p, t in tokens.items()}
        for p in set(held) - set(tokens):
            log.warning("router %s lost partition %d (its lease expired)", self.consumer, p)
        extra = [p for p in sorted(self._held, key=self._order.index)][target:]
        for p in extra:
            await self._release(keys=[keys.partition_owner(p)], args=[self._held.pop(p)[0]])
        wanted = target - len(self._held)
        if wanted > 0:
            free = [p for p in self._order if p not in self._held]
            for p, token in (await self._hold_many(free, take=True)).items():
                if wanted <= 0:  # took more than a fair share in one round: give it back
                    await self._release(keys=[keys.partition_owner(p)], args=[token])
                    continue
                self._held[p] = (token, until)
                self._taken.append(p)
                wanted -= 1

    async def _hold_many(self, partitions: list[int], take: bool) -> dict[int, str]:
        if not partitions:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:
            for p in partitions:
                await self._hold(
                    keys=[keys.partition_owner(p), keys.partition_epoch(p)],
                    args=[self.consumer, self.lease_ms, "1" if take else "0"],
                    client=pipe,
                )
            replies = await execute(self.client, pipe)
        return {p: as_text(r) for p, r in zip(partitions, replies, strict=True) if r}

    async def release_all(self) -> None:
        """Give every partition back (a clean stop): another router takes them at once."""
        held, self._held = self._held, {}
        for p, (token, _) in held.items():
            await self._release(keys=[keys.partition_owner(p)], args=[token])
        await self.client.zrem(keys.routers(), self.consumer)

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh a few times per lease until `stop`, then give everything back."""
        interval = self.lease_ms / 1000 / 4
        try:
            while not stop.is_set():
                try:
                    await self.refresh()
                    redis_ok()
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    redis_failed(exc)
                except Exception:
                    log.exception("partition leases: a round failed; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
        finally:
            with contextlib.suppress(Exception):
                await self.release_all()
