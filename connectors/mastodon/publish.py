"""Publishing announcements on Mastodon: a public status, or a chain of them each answering the
previous one. Every status carries an Idempotency-Key derived from the post id and the part
number, so a part whose answer was lost (a crash, a timeout) is returned by the server, not posted
again: publishing on Mastodon is safe to retry.
"""

from __future__ import annotations

import math
from typing import Any

from helpline.connectors.base import RateLimit, SendProgress, SendResult
from helpline.connectors.errors import Permanent
from helpline.connectors.publishing import Destination, OutboundPost

from .client import MastodonApi
from .compose import idempotency_key


def check(post: OutboundPost, max_characters: int) -> None:
    if post.destination is not Destination.TIMELINE:
        raise Permanent(f"post {post.post_id}: Mastodon publishes to the account's timeline only")
    for number, part in enumerate(post.parts, 1):
        if len(part) > max_characters:
            raise Permanent(
                f"post {post.post_id}: part {number} has {len(part)} characters; the instance allows {max_characters}"
            )


async def publish_chain(
    api: MastodonApi, post: OutboundPost, progress: SendProgress, max_characters: int
) -> tuple[SendResult, list[str]]:
    """Post the parts not yet in `progress.posted`; returns the result and the new status ids."""
    check(post, max_characters)
    previous = progress.posted[-1] if progress.posted else None
    url: str | None = None
    new: list[str] = []
    for number in range(len(progress.posted) + 1, len(post.parts) + 1):
        body: dict[str, Any] = {"status": post.parts[number - 1], "visibility": "public"}
        if previous:
            body["in_reply_to_id"] = previous
        raw = await api.post_json("/api/v1/statuses", body, idempotency_key(post.post_id, number))
        status_id = str(raw.get("id") or "") if isinstance(raw, dict) else ""
        if not status_id:
            raise Permanent(f"post {post.post_id}: the instance accepted part {number} without an id")
        if number == 1 and isinstance(raw, dict):
            url = str(raw.get("url") or "") or None
        await progress.record(status_id)
        new.append(status_id)
        previous = status_id
    return SendResult(tuple(progress.posted), url), new


def rate_limits(
    post: OutboundPost, api_rate: int, status_rate: int, api_burst: int, status_burst: int
) -> list[RateLimit]:
    parts = max(1, len(post.parts))
    return [
        RateLimit("api", api_rate, 300.0 * parts, burst=max(1, api_burst // parts)),
        RateLimit("statuses", status_rate, 10800.0 * parts, burst=max(1, math.ceil(status_burst / parts))),
    ]
