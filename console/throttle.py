"""Login rate limiting that keeps guessing expensive without handing strangers a lockout.

Failed attempts are counted in Redis, in fixed windows, before the password is checked:

- per username *and* client address: past `per_username` failures that address may not try that
  username until the window ends (the guesser is stopped, the agent at their own desk is not);
- per client address: past `per_address` attempts the address may not log in at all;
- per username from everywhere: past `per_username_everywhere` failures every further attempt
  for that username waits one second per failure over the limit (at most `max_delay_s`) before
  its password is checked. A distributed guess gets slow; nobody gets locked out.

A success clears the (username, address) counter and takes only its own attempt back from the
address's (one office may share an address with an attacker guessing many usernames); the
everywhere counter keeps running, so a success in between does not reset the slowdown."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as redis

from helpline.routing import keys


@dataclass(frozen=True)
class LoginLimits:
    per_username: int = 5  # failures of one username from one address
    per_address: int = 30
    per_username_everywhere: int = 50
    max_delay_s: float = 10.0
    window_s: int = 15 * 60


@dataclass(frozen=True)
class Verdict:
    wait_s: int = 0  # refused: seconds until this address may try again
    delay_s: float = 0.0  # allowed, after this pause


class LoginThrottle:
    def __init__(self, client: redis.Redis, limits: LoginLimits | None = None) -> None:
        self.client = client
        self.limits = limits or LoginLimits()

    def _keys(self, username: str, address: str) -> tuple[str, str, str]:
        name = username.lower()
        return (
            keys.console_login_failures("user-addr", f"{name}|{address}"),
            keys.console_login_failures("addr", address),
            keys.console_login_failures("user", name),
        )

    async def attempt(self, username: str, address: str) -> Verdict:
        """Count an attempt before the password is checked. Counting first (INCR, atomic) means
        concurrent attempts cannot all pass a check made before any of them was counted."""
        pair_key, addr_key, user_key = self._keys(username, address)
        async with self.client.pipeline(transaction=True) as pipe:
            for key in (pair_key, addr_key, user_key):
                pipe.incr(key)
                pipe.expire(key, self.limits.window_s, nx=True)
            pipe.ttl(pair_key)
            pipe.ttl(addr_key)
            pair_n, _, addr_n, _, user_n, _, pair_ttl, addr_ttl = await pipe.execute()
        wait = 0
        if int(pair_n) > self.limits.per_username:
            wait = max(wait, int(pair_ttl), 1)
        if int(addr_n) > self.limits.per_address:
            wait = max(wait, int(addr_ttl), 1)
        over = int(user_n) - self.limits.per_username_everywhere
        return Verdict(wait, min(float(over), self.limits.max_delay_s) if over > 0 and not wait else 0.0)

    async def succeeded(self, username: str, address: str) -> None:
        """Clear this address's failures for the username and take this attempt back from the
        address's count; the username's count from everywhere is left to its window."""
        pair_key, addr_key, user_key = self._keys(username, address)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(pair_key)
            pipe.decr(addr_key)
            pipe.expire(addr_key, self.limits.window_s, nx=True)
            pipe.decr(user_key)  # the success was counted as an attempt; it was not a failure
            pipe.expire(user_key, self.limits.window_s, nx=True)
            await pipe.execute()
