"""Messages that cross channels: one connector reads a message that belongs to another account's
thread (a web chat visitor answering the mailed copy of an agent's reply: the e-mail poller reads
it, the web chat conversation gets it). The bus threads it by its platform and account like any
other; this tells the account it belongs to, so it can show it where the customer follows the
thread (the web chat's widget), without one connector knowing another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from helpline.routing.models import InboundMessage

from .base import Connector, Ingest


def telling_the_owners(ingest: Ingest, platform: str, connectors: Mapping[tuple[str, str], Connector]) -> Ingest:
    """`ingest` for a connector of `platform` that also hands each message it reads for another
    platform's thread to that account's connector (`Connector.arrived_elsewhere`), once the message
    is durable and before the caller acknowledges it (a poll stores its cursor after this returns).
    New or not: a message read again after a crash may not have been shown yet, and showing is
    idempotent. `connectors` is read at call time, so it may be filled after this is made."""

    async def ingest_and_tell(messages: Sequence[InboundMessage]) -> list[bool]:
        new = await ingest(messages)
        for message in messages:
            owner = connectors.get((message.platform, message.account))
            if message.platform != platform and owner is not None:
                await owner.arrived_elsewhere(message, platform)
        return new

    return ingest_and_tell
