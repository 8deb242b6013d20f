"""Login rate limiting: attempts counted per username and per client address in Redis, in a
fixed window, before the password is checked. A success clears the username's counter and takes
only its own attempt back from the address's (one office may share an address with an attacker
guessing many usernames)."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as redis

from helpline.routing import keys


@dataclass(frozen=True)
class LoginLimits:
    per_username: int = 5
    per_address: int = 30
    window_s: int = 15 * 60


class LoginThrottle:
    def __init__(self, client: redis.Redis, limits: LoginLimits | None = None) -> None:
        self.client = client
        self.limits = limits or LoginLimits()

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        return (keys.console_login_failures("user", username.lower()),
                keys.console_login_failures("addr", address))

    async def attempt(self, username: str, address: str) -> int:
        """Count an attempt before the password is checked; seconds to wait if it is over a limit,
        0 if it may go on. Counting first (INCR, atomic) means concurrent attempts cannot all pass
        a check made before any of them was counted."""
        user_key, addr_key = self._keys(username, address)
        async with self.client.pipeline(transaction=True) as pipe:
            for key in (user_key, addr_key):
                pipe.incr(key)
                pipe.expire(key, self.limits.window_s, nx=True)
            pipe.ttl(user_key)
            pipe.ttl(addr_key)
            user_n, _, addr_n, _, user_ttl, addr_ttl = await pipe.execute()
        wait = 0
        if int(user_n) > self.limits.per_username:
            wait = max(wait, int(user_ttl), 1)
        if int(addr_n) > self.limits.per_address:
            wait = max(wait, int(addr_ttl), 1)
        return wait

    async def succeeded(self, username: str, address: str) -> None:
        """Clear the username's failures and take back this attempt from the address's count."""
        user_key, addr_key = self._keys(username, address)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(user_key)
            pipe.decr(addr_key)
            pipe.expire(addr_key, self.limits.window_s, nx=True)
            await pipe.execute()
