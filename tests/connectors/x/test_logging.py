import logging
from collections.abc import Callable

import httpx
import pytest

from helpline.connectors.base import SendProgress
from helpline.connectors.x.connector import XConnector
from helpline.connectors.x.emulator_state import Credentials
from helpline.routing.models import MessageKind, OutboundReply, Visibility

from .conftest import say


async def test_no_credentials_or_bodies_reach_the_logs_even_at_debug(
    control: httpx.AsyncClient,
    make_connector: Callable[..., XConnector],
    caplog: pytest.LogCaptureFixture,
) -> None:
    connector = make_connector()
    first = await say(control, "42", "my seed phrase is abandon abandon")
    with caplog.at_level(logging.DEBUG):  # root at DEBUG: a verbose Helpline logging config
        await connector.fetch(None)
        await connector.send(
            OutboundReply(
                reply_id="r1",
                conversation_id="0-1",
                platform="x",
                account="support",
                kind=MessageKind.MENTION,
                thread_key=first["thread"],
                visibility=Visibility.PUBLIC,
                text="Never share your seed phrase",
                in_reply_to=first["message_id"],
                sender="bot:faq",
            ),
            SendProgress(),
        )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "Authorization" not in logged and "oauth_signature" not in logged
    assert Credentials.access_token not in logged and Credentials.consumer_key not in logged
    assert "seed phrase" not in logged
    assert logging.getLogger("tweepy.client").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("urllib3.connectionpool").getEffectiveLevel() == logging.WARNING
