"""The demo's mailbox: customers writing in four languages with their clients' charsets, an agent
answering in the console, the answer arriving in the customer's mailbox correctly threaded."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from helpline.connectors.email.mailservers import Dovecot, Relay
from helpline.connectors.email.parse import parse_mail
from helpline.connectors.email.threads import new_thread_key
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.connectors.runner import PollRunner
from helpline.mail_simulation import PEOPLE, MailCustomer, MailSimulation
from helpline.routing import keys
from helpline.routing.bus import StreamConsumer
from helpline.routing.sender import Sender
from tests.console.helpers import make_desk
from tests.factories import route_all

SUPPORT = "support@helpline-exchange.example"


@pytest.fixture
def servers() -> Iterator[tuple[Dovecot, Relay]]:
    dovecot = Dovecot({"support": "support-pw", **{u: "customer-pw" for _, u, _ in PEOPLE}}).start()
    relay = Relay("support", "smtp-pw", dovecot, {f"{u}@customers.example": u for _, u, _ in PEOPLE}).start()
    yield dovecot, relay
    relay.stop()
    dovecot.stop()


async def test_customers_write_in_four_languages_and_an_agents_answer_lands_threaded(
    r: redis.Redis, servers: tuple[Dovecot, Relay], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dovecot, relay = servers
    for name, value in {"M_USER": "support", "M_PASS": "support-pw", "S_PASS": "smtp-pw"}.items():
        monkeypatch.setenv(name, value)
    account = {
        "platform": "email",
        "name": "support-mail",
        "poll_interval": 0.2,
        "secrets": {"username": "M_USER", "password": "M_PASS", "smtp_password": "S_PASS"},
        "options": {
            "address": SUPPORT,
            "display_name": "Support",
            "imap_host": "127.0.0.1",
            "imap_port": dovecot.port,
            "imap_security": "none",
            "smtp_host": "127.0.0.1",
            "smtp_port": relay.port,
            "smtp_security": "none",
            "first_poll": "all",
            "idle": False,
            "attachments_dir": str(tmp_path / "files"),
        },
    }
    desk = await make_desk(r, accounts=[{"platform": "null", "name": "main"}, account])
    desk.parts.make_connectors()
    email = desk.parts.connectors[("email", "support-mail")]
    sim = MailSimulation(dovecot, "support", SUPPORT, [])
    people = {c.language: c for c in sim.customers[::2]}  # one customer per language
    questions = {
        "en": "My withdrawal has been pending for hours.",
        "ko": "출금이 몇 시간째 대기 중입니다.",
        "ja": "出金が何時間も保留中です。",
        "zh": "我的提现已经等待了好几个小时。",
    }
    sent = {}
    for language, person in people.items():
        msg = sim.write(person, f"Withdrawal ({language})", questions[language])
        sent[language] = msg
        sim.deliver(msg)
    runner = PollRunner(r, email)
    await runner.poll_once()
    await route_all(desk.parts, desk.router)
    cids = {}
    for language, msg in sent.items():
        ident = str(msg["Message-ID"]).strip("<>")
        cid = await desk.parts.store.find_thread("email", "support-mail", new_thread_key(ident))
        assert cid is not None
        [message] = await desk.parts.store.messages(cid)
        assert questions[language] in message.text and message.language == language
        cids[language] = cid
    assert sent["ko"].get_content_charset() == "euc-kr" and sent["ja"].get_content_charset() == "iso-2022-jp"

    # An agent answers the Korean customer from the console.
    c = desk.client()
    amy = await desk.token("amy")
    answered = await c.post(
        f"/api/v1/conversations/{cids['ko']}/reply", headers=amy, json={"text": "확인해 보니 출금이 곧 처리됩니다."}
    )
    assert answered.status_code in (200, 201, 202), answered.text
    sender = Sender(r, desk.parts.connectors, desk.parts.settings.redis.partitions, limiter=SharedRateLimiter(r))
    consumer = StreamConsumer(
        r, keys.SENDER_GROUP, "s1", sender.streams(), sender.handle_batch, sender.dead_letter_key, block_ms=5
    )
    await consumer.ensure_groups()
    await consumer.step()
    minjun: MailCustomer = people["ko"]
    [raw] = dovecot.mails(minjun.user)
    mail = parse_mail(raw)
    question_id = str(sent["ko"]["Message-ID"]).strip("<>")
    assert mail.in_reply_to == (question_id,) and mail.references == (question_id,)
    assert mail.subject == f"Re: Withdrawal (ko) [#{cids['ko']}]"
    assert "확인해 보니 출금이 곧 처리됩니다." in mail.text

    # The customer's client answers; it lands in the same conversation.
    sim.deliver(sim.reply(minjun, raw, "감사합니다!", random.Random(1)))
    await runner.poll_once()
    await route_all(desk.parts, desk.router)
    texts = [m.text for m in await desk.parts.store.messages(cids["ko"])]
    assert texts[-1] == "감사합니다!" and len(texts) == 2
    for cl in desk.clients:
        await cl.aclose()
