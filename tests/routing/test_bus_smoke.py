from datetime import UTC, datetime

import redis.asyncio as redis

from routing import keys
from routing.bus import StreamBus
from routing.models import Author, InboundMessage, MessageKind


def msg(i: int, thread: str = "t1") -> InboundMessage:
    return InboundMessage(platform="telegram", account="bot", kind=MessageKind.DIRECT, message_id=str(i),
                          thread_key=thread, author=Author(user_id="u1"), text="hi",
                          platform_time=datetime.now(UTC))


async def test_ingest_dedupes(r: redis.Redis) -> None:
    bus = StreamBus(r, partitions=4)
    assert await bus.ingest([msg(1), msg(2), msg(1)]) == [True, True, False]
    p = bus.partition("telegram", "bot", "t1")
    assert await r.xlen(keys.inbound_stream(p)) == 2
