"""A platform that accepts every reply and posts nowhere, and on which nobody ever writes: for
benchmarks and dry runs."""

from __future__ import annotations

from helpline.routing.models import OutboundReply

from .base import Connector, PollBatch, SendProgress, SendResult


class NullConnector(Connector):
    platform = "null"
    idempotent_send = True  # posting nowhere twice changes nothing

    async def fetch(self, cursor: str | None) -> PollBatch:
        return PollBatch(messages=(), cursor=cursor)

    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        # One part, so nothing to record mid-way: the sender records the result itself.
        return SendResult((f"null-{reply.reply_id}",))
