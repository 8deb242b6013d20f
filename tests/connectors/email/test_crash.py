"""Crashes with real processes: the poller killed with SIGKILL in the middle of 500 mails, and
a sender killed after the SMTP server accepted a mail but before the sent record."""

from __future__ import annotations

import asyncio
import imaplib
import json
import os
import signal
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import redis.asyncio as redis

from helpline.connectors.email.connector import parse_cursor
from helpline.connectors.email.mailservers import Dovecot, Relay
from helpline.routing import keys
from helpline.routing.models import DeliveryState, InboundMessage
from tests.connectors.email.conftest import SUPPORT, account
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[3]


def mail(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"customer{n % 37}@example.com"
    msg["To"] = SUPPORT
    msg["Subject"] = f"Question {n}"
    msg["Message-ID"] = f"<bulk{n}@example.com>"
    msg.set_content(f"Question number {n}")
    return bytes(msg)


def poller(url: str, settings: dict[str, object]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.connectors.email.poller_process", url, json.dumps(settings)],
        cwd=ROOT,
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def ingested(r: redis.Redis) -> list[InboundMessage]:
    found = []
    for p in range(4):
        for _, fields in await r.xrange(keys.inbound_stream(p)):
            found.append(InboundMessage.model_validate_json(fields[b"m"]))
    return found


async def test_poller_killed_in_the_middle_of_500_mails_loses_and_doubles_none(
    r: redis.Redis, redis_server: RedisServer, dovecot: Dovecot, tmp_path: Path
) -> None:
    with imaplib.IMAP4("127.0.0.1", dovecot.port) as imap:
        imap.login("support", "imap-secret")
        for n in range(500):
            imap.append("INBOX", None, None, mail(n))
    settings = account(dovecot, None, tmp_path, batch_size=20, idle=False)
    first = poller(redis_server.url, settings)
    try:
        deadline = time.monotonic() + 120
        while len(await ingested(r)) < 120 and time.monotonic() < deadline:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)  # mid-run: between a batch's ingest and its cursor, or inside one
        first.wait()
        at_kill = len(await ingested(r))
        assert 120 <= at_kill < 500
        await r.delete(keys.lease("poll:email:support"))  # the dead holder's lease would expire in 2 s anyway
        second = poller(redis_server.url, settings)
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                cursor = parse_cursor((await r.get(keys.cursor("email", "support", "main")) or b"").decode())
                if cursor is not None and cursor[1] == 500:
                    break
                assert second.poll() is None, second.stderr.read() if second.stderr else ""
                await asyncio.sleep(0.1)
        finally:
            second.send_signal(signal.SIGKILL)
            second.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    messages = await ingested(r)
    ids = [m.message_id for m in messages]
    assert len(ids) == 500 and len(set(ids)) == 500  # none lost, none doubled
    assert set(ids) == {f"bulk{n}@example.com" for n in range(500)}
    assert len(dovecot.mails("support")) == 500  # still on the server


SENDER = """
import asyncio, json, sys
import redis.asyncio as redis
from helpline.connectors.base import AccountSettings, ConnectorContext
from helpline.connectors.email.connector import EmailConnector
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.routing import keys
from helpline.routing.bus import StreamConsumer
from helpline.routing.sender import Sender

async def main():
    client = redis.Redis.from_url(sys.argv[1])
    email = EmailConnector(AccountSettings.model_validate(json.loads(sys.argv[2])),
                           ConnectorContext(ingest=None, redis=client))
    sender = Sender(client, {("email", "support"): email}, 4, lease_seconds=0.5,  # as claim_idle below
                    limiter=SharedRateLimiter(client))
    consumer = StreamConsumer(client, keys.SENDER_GROUP, "s-" + sys.argv[3], sender.streams(), sender.handle_batch,
                              sender.dead_letter_key, block_ms=50, retry_idle_ms=100)
    await consumer.ensure_groups()
    for _ in range(100):
        await sender.promote_due()
        await consumer.step()
        await asyncio.sleep(0.05)

asyncio.run(main())
"""


async def test_sender_killed_after_the_smtp_server_accepted_marks_the_reply_uncertain_never_twice(
    r: redis.Redis, redis_server: RedisServer, dovecot: Dovecot, relay: Relay, tmp_path: Path
) -> None:
    from helpline.connectors.email.threads import MailIndex, ThreadInfo
    from helpline.routing.models import Conversation, MessageKind, utcnow
    from helpline.routing.outbound import reply_to
    from helpline.routing.store import ConversationStore, Effects

    now = utcnow()
    conv = Conversation(
        id="1-1",
        platform="email",
        account="support",
        kind=MessageKind.DIRECT,
        thread_key="mail:t",
        contact_id="email:support:ann@example.com",
        created_at=now,
        updated_at=now,
    )
    await MailIndex(r, "email", "support", 3600)._put(
        {
            keys.connector_state("email", "support", "thread:mail:t"): ThreadInfo(
                thread_key="mail:t", customer="ann@example.com", subject="Help", references=["q1@example.com"]
            ).model_dump_json()
        }
    )
    reply = reply_to(
        conv,
        reply_id="1-1:agent:1",
        text="Your answer",
        sender="agent:mina",
        in_reply_to="q1@example.com",
        recipient_id="ann@example.com",
    )
    await ConversationStore(r, 4).commit([Effects(conv.id).reply(reply, 1)], now)
    settings = account(dovecot, relay, tmp_path)
    processes: list[subprocess.Popen[bytes]] = []

    def kill_sender(_: object) -> None:  # the server has the mail; the sender dies before hearing 250
        processes[0].send_signal(signal.SIGKILL)

    relay.before_accept = kill_sender
    cmd = [sys.executable, "-c", SENDER, redis_server.url, json.dumps(settings)]
    processes.append(subprocess.Popen([*cmd, "1"], cwd=ROOT, stderr=subprocess.DEVNULL))
    processes[0].wait(timeout=60)
    relay.before_accept = None
    assert len(relay.received) == 1
    assert (await r.hget(keys.delivery(1, reply.reply_id), "state")) == DeliveryState.SENDING.value.encode()
    await asyncio.sleep(0.3)  # the dead consumer's entry becomes claimable
    second = subprocess.Popen([*cmd, "2"], cwd=ROOT, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = await r.hget(keys.delivery(1, reply.reply_id), "state")
        if state == DeliveryState.UNCERTAIN.value.encode():
            break
        await asyncio.sleep(0.1)
    second.kill()
    second.wait()
    assert (await r.hget(keys.delivery(1, reply.reply_id), "state")) == DeliveryState.UNCERTAIN.value.encode()
    assert len(relay.received) == 1  # never sent twice
