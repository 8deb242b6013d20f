"""A renewed Redis lease: one holder across every process (one poller per platform account)."""

from __future__ import annotations

import secrets

import redis.asyncio as redis

from helpline.routing import keys

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Lease:
    """Hold `name` for `ttl` seconds at a time; `keep()` acquires or renews it.

    Holders renew well inside the ttl, so a live holder keeps its lease and a dead one loses it
    after at most `ttl` seconds.
    """

    def __init__(self, client: redis.Redis, name: str, ttl: float = 15.0) -> None:
        self._client = client
        self._key = keys.lease(name)
        self._ttl_ms = int(ttl * 1000)
        self.owner = secrets.token_hex(8)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def keep(self) -> bool:
        """Acquire the lease if free, renew it if ours. True while we hold it."""
        if await self._renew(keys=[self._key], args=[self.owner, self._ttl_ms]):
            return True
        return bool(await self._client.set(self._key, self.owner, nx=True, px=self._ttl_ms))

    async def release(self) -> None:
        await self._release(keys=[self._key], args=[self.owner])
