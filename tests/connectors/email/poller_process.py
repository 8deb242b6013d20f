"""A poller process for the crash tests: polls one e-mail account into Redis until killed.

Usage: python -m tests.connectors.email.poller_process <redis url> <account settings json>
"""

from __future__ import annotations

import asyncio
import json
import sys

import redis.asyncio as redis

from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.email.connector import EmailConnector
from helpline.connectors.runner import PollRunner
from helpline.routing.bus import StreamBus


async def main(url: str, account: str) -> None:
    client = redis.Redis.from_url(url)
    bus = StreamBus(client, partitions=4)
    connector = EmailConnector(
        AccountSettings.model_validate(json.loads(account)), ConnectorContext(ingest=bus.ingest, redis=client)
    )
    await PollRunner(client, connector, lease_ttl=2.0).run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
