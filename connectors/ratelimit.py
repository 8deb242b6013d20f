"""Outbound rate limits shared by every sender process: GCRA in one Lua script.

A reply usually spends several budgets at once (Telegram: the bot's 30/s and the chat's 1/s);
the script checks them all and spends all or none, using the Redis server's clock so that
senders on several machines agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from redis.asyncio.client import Pipeline

from helpline.routing import keys

from .base import RateLimit

# KEYS: one per budget. ARGV: per budget, emission interval (µs) and burst.
# Returns 0 when allowed (and spent), else the wait in microseconds before all would allow.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
local new_tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - interval * burst
  if allow_at > now and allow_at - now > wait then wait = allow_at - now end
  new_tats[i] = new_tat
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, new_tats[i], 'PX', math.ceil((new_tats[i] - now) / 1000) + 1000)
end
return 0
"""


class SharedRateLimiter:
    """Spends shared budgets; never sleeps: it answers how long to wait."""

    def __init__(self, client: redis.Redis) -> None:
        self._script = client.register_script(_GCRA)

    async def acquire(self, platform: str, account: str, limits: Sequence[RateLimit]) -> float:
        """Spend one unit of every budget, or none. Returns 0.0 if spent, else seconds to wait."""
        if not limits:
            return 0.0
        names, args = _call(platform, account, limits)
        return self.wait_of(await self._script(keys=names, args=args))

    async def acquire_on(self, pipe: Pipeline, platform: str, account: str, limits: Sequence[RateLimit]) -> None:
        """`acquire` queued on `pipe`, whose results then hold its answer (see `wait_of`). The
        budgets live in the account's slot, so this is a call of its own next to the caller's
        scripts on other slots, in the same round trip."""
        names, args = _call(platform, account, limits)
        await self._script(keys=names, args=args, client=pipe)

    def wait_of(self, answer: Any) -> float:
        return int(answer) / 1_000_000


def _call(platform: str, account: str, limits: Sequence[RateLimit]) -> tuple[list[str], list[int]]:
    """The script's keys and arguments for spending `limits`."""
    names = [keys.rate_limit(platform, account, limit.key) for limit in limits]
    args: list[int] = []
    for limit in limits:
        args += [max(1, int(limit.period * 1_000_000 / limit.rate)), max(1, limit.burst)]
    return names, args


#: Polls may use at most this share of a budget: the rest is for further pages of a busy poll and,
#: where the platform counts them together (Mastodon), for replies.
POLL_SHARE = 0.8


def poll_budget_warnings(account: str, poll_interval: float, limits: Sequence[RateLimit]) -> list[str]:
    """What `helpline config check` warns about: a poll interval whose polls alone would take
    more than `POLL_SHARE` of one of the budgets a poll spends. (The poller never overspends: it
    would poll less often than configured.)"""
    out = []
    for limit in limits:
        polls = limit.period / poll_interval
        if polls > limit.rate * POLL_SHARE:
            least = limit.period / (limit.rate * POLL_SHARE)
            out.append(
                f"accounts.{account}.poll_interval: {poll_interval:g} s makes {polls:.0f} polls per "
                f"{limit.period:g} s, more than {POLL_SHARE:.0%} of the {limit.key!r} budget "
                f"({limit.rate} per {limit.period:g} s); use at least {least:.3g} s"
            )
    return out
