"""A real publisher process killed with SIGKILL mid-broadcast, and a fresh one started."""

from __future__ import annotations

from helpline.announcements.bench import broadcast_benchmark
from tests.redis_server import RedisServer


async def test_killed_publisher_never_posts_twice_and_the_next_one_finishes(own_redis: RedisServer) -> None:
    result = await broadcast_benchmark(
        own_redis.url, subscribers=400, limit_per_second=100, kill_after=2.5, limit_seconds=90
    )
    assert result["sent_at_kill"] is not None and 0 < result["sent_at_kill"] < 400  # killed mid-broadcast
    assert result["duplicates"] == 0 and result["unexpected"] == 0
    assert result["rate_limited_responses"] == 0
    # At most the post in flight at the kill is unknown; it is reported, never posted again.
    assert result["missing"] <= result["uncertain"] <= 4
    assert result["state"] in ("published", "partly_failed")
    assert result["state"] == ("published" if result["uncertain"] == 0 else "partly_failed")
