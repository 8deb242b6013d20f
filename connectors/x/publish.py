"""Publishing announcements on X: tweets on the account's own timeline, a thread part after part,
each part replying to the previous one (the first to nothing).

Residual window (as for replies): X has no idempotency key for POST /2/tweets. A part is recorded
in `SendProgress` as soon as X accepts it; the publisher marks a delivery found mid-call after a
crash "uncertain" instead of posting again (X would refuse an identical tweet anyway).
"""

from __future__ import annotations

from collections.abc import Sequence

from helpline.connectors.base import RateLimit, SendProgress, SendResult
from helpline.connectors.errors import Permanent
from helpline.connectors.publishing import Destination, OutboundPost

from .client import XApi


def check(post: OutboundPost) -> None:
    if post.destination is not Destination.TIMELINE:
        raise Permanent(
            f"post {post.post_id}: X publishes to the account's timeline only, not to a {post.destination.value}"
        )


def tweet_url(handle: str | None, tweet_id: str) -> str:
    return f"https://x.com/{handle or 'i'}/status/{tweet_id}"


async def publish_thread(api: XApi, post: OutboundPost, progress: SendProgress, handle: str | None) -> SendResult:
    """Tweet the parts not yet in `progress.posted`, each in reply to the part before it."""
    check(post)
    previous = progress.posted[-1] if progress.posted else None
    for index, text in enumerate(post.parts):
        if index < len(progress.posted):
            continue
        data = (await api.create_tweet(text, previous)).get("data") or {}
        part_id = str(data.get("id") or "")
        if not part_id:
            raise Permanent(f"post {post.post_id}: X accepted part {index + 1} without an id")
        await progress.record(part_id)
        previous = part_id
    return SendResult(tuple(progress.posted), tweet_url(handle, progress.posted[0]) if progress.posted else None)


def rate_limits(post: OutboundPost, per_15: int) -> Sequence[RateLimit]:
    """The same tweet budget replies spend (a thread of n tweets spends n units)."""
    n = len(post.parts)
    return (RateLimit("tweets-create", per_15, 900.0 * n, burst=max(1, per_15 // 10 // n)),)
