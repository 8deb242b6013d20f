"""Answers over SMTP (aiosmtpd relay into Dovecot) and the whole loop back through IMAP:
threading headers, customers' clients that drop them, auto-responders, bounces, answer links."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis

from helpline.connectors.base import SendProgress
from helpline.connectors.email.answers import token_of
from helpline.connectors.email.mailservers import Dovecot, Relay
from helpline.connectors.email.threads import new_thread_key
from helpline.connectors.errors import AuthFailed, Permanent
from helpline.routing import keys
from helpline.routing.models import Conversation, DeliveryState, EventType, MessageKind, ReplyButton, utcnow
from helpline.routing.outbound import reply_to
from tests.connectors.email.conftest import SUPPORT, Desk, desk

HELPCENTER = {"helpcenter": {"type": "helpcenter", "kb": "kb"}}
ALL_TO_BOT = [{"name": "everything to the help center", "set": {"bot": "helpcenter"}}]


def write(subject: str, text: str, *, sender: str = "ann@example.com", ident: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Ann Customer <{sender}>"
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{ident}>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return bytes(msg)


async def agent_answers(d: Desk, cid: str, text: str, n: int = 1) -> None:
    from helpline.routing.store import Effects

    conv = await d.parts.store.get(cid)
    assert conv is not None
    history = await d.parts.store.messages(cid)
    reply = reply_to(
        conv,
        reply_id=f"{cid}:agent:{n}",
        text=text,
        sender="agent:mina",
        in_reply_to=history[-1].message_id,
        recipient_id=conv.contact_id.split(":", 2)[2],
    )
    await d.parts.store.commit([Effects(cid).reply(reply, keys.conversation_partition(cid))], utcnow())
    await d.send()


async def customer_inbox(dovecot: Dovecot, user: str = "ann") -> list[EmailMessage]:
    return [parse_mail_message(raw) for raw in dovecot.mails(user)]


def parse_mail_message(raw: bytes) -> EmailMessage:
    from email import message_from_bytes, policy

    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


async def started(r: redis.Redis, dovecot: Dovecot, relay: Relay, tmp_path: Path, **kw: object) -> tuple[Desk, str]:
    """A desk whose mailbox got Ann's first mail, routed into a conversation."""
    d = desk(r, dovecot, relay, tmp_path, **kw)  # type: ignore[arg-type]
    dovecot.append("support", write("Card declined", "My card was declined at checkout.", ident="q1@example.com"))
    await d.cycle()
    return d, await d.conversation_of_thread(new_thread_key("q1@example.com"))


async def test_an_agents_answer_arrives_with_threading_headers(
    r: redis.Redis, dovecot: Dovecot, relay: Relay, tmp_path: Path
) -> None:
    d, cid = await started(r, dovecot, relay, tmp_path)
    await agent_answers(d, cid, "Please try again; your bank approved it.\n\nMina")
    [mail] = await customer_inbox(dovecot)
    assert mail["In-Reply-To"] == "<q1@example.com>" and mail["References"] == "<q1@example.com>"
    assert mail["Subject"] == f"Re: Card declined [#{cid}]"
    assert mail["Reply-To"] == f"Helpline Support <support+{cid}@helpline.test>"
    assert mail["From"] == "Helpline Support <support@helpline.test>" and mail["To"] == "Ann Customer <ann@example.com>"
    assert mail["Message-ID"].startswith("<hl.") and mail["Auto-Submitted"] is None  # a person wrote it
    assert mail.get_body(("plain",)).get_content().startswith("Please try again")
    assert "<p>Please try again; your bank approved it.</p>" in mail.get_body(("html",)).get_content()
    assert relay.received[0].mail_from == SUPPORT  # bounces come back to the mailbox


@pytest.mark.parametrize("keeps", ["in-reply-to", "references", "neither"])
async def test_the_customers_answer_threads_whatever_their_client_keeps(
    r: redis.Redis, dovecot: Dovecot, relay: Relay, tmp_path: Path, keeps: str
) -> None:
    d, cid = await started(r, dovecot, relay, tmp_path)
    await agent_answers(d, cid, "Which card was it?")
    [ours] = await customer_inbox(dovecot)
    headers = {
        "in-reply-to": {"In_Reply_To": ours["Message-ID"]},
        "references": {"References": f"<q1@example.com> {ours['Message-ID']}"},
        "neither": {},
    }[keeps]
    subject = ours["Subject"] if keeps == "neither" else "Re: Card declined"
    dovecot.append(
        "support",
        write(
            subject, "The Visa ending 4242.\n\nOn Sat, Support wrote:\n> Which card?", ident="q2@example.com", **headers
        ),
    )
    await d.poll()
    await d.route()
    history = await d.parts.store.messages(cid)
    assert [m.message_id for m in history] == ["q1@example.com", "q2@example.com"]
    assert history[-1].text == "The Visa ending 4242."


async def test_an_auto_responder_answering_the_bot_gets_nothing_back(
    r: redis.Redis, dovecot: Dovecot, relay: Relay, tmp_path: Path
) -> None:
    d = desk(r, dovecot, relay, tmp_path, rules=ALL_TO_BOT, bots=HELPCENTER)
    dovecot.append("support", write("2FA", "How do I reset 2FA? I lost my authenticator app", ident="q1@example.com"))
    await d.cycle()
    [bot_mail] = await customer_inbox(dovecot)
    assert bot_mail["Auto-Submitted"] == "auto-replied" and bot_mail["X-Auto-Response-Suppress"] == "All"
    for n in range(3):  # the customer's out-of-office answers each mail it gets
        dovecot.append(
            "support",
            write(
                f"Automatic reply: {bot_mail['Subject']}",
                "I am away until Monday.",
                ident=f"ooo{n}@example.com",
                In_Reply_To=bot_mail["Message-ID"],
                Auto_Submitted="auto-replied",
            ),
        )
        await d.cycle()
    assert len(relay.received) == 1  # at most one automatic mail


async def test_a_silent_auto_responder_is_capped_per_hour(
    r: redis.Redis, dovecot: Dovecot, relay: Relay, tmp_path: Path
) -> None:
    d = desk(r, dovecot, relay, tmp_path, rules=ALL_TO_BOT, bots=HELPCENTER, auto_replies_per_hour=2)
    for n in range(4):  # a responder without any of the headers, each mail a new thread
        dovecot.append(
            "support",
            write(f"Re: ticket {n}", "How do I reset 2FA? I lost my authenticator app", ident=f"loop{n}@example.com"),
        )
        await d.cycle()
    assert len(relay.received) == 2
    failed = [
        e
        for cid in await all_conversations(d)
        for e in await d.parts.store.events(cid)
        if e.type is EventType.REPLY_FAILED
    ]
    assert len(failed) == 2 and "capped at 2 per hour" in failed[0].reason


async def all_conversations(d: Desk) -> list[str]:
    ids = []
    for n in range(4):
        cid = await d.parts.store.find_thread("email", "support", new_thread_key(f"loop{n}@example.com"))
        if cid:
            ids.append(cid)
    return ids


async def test_a_bounce_marks_the_reply_failed_with_the_reason(
    r: redis.Redis, dovecot: Dovecot, relay: Relay, tmp_path: Path
) -> None:
    d, cid = await started(r, dovecot, relay, tmp_path)
    await agent_answers(d, cid, "Please check your bank app.")
    sent = relay.received[-1].message
    reply_id = f"{cid}:agent:1"
    partition = keys.conversation_partition(cid)
    assert (await r.hget(keys.delivery(partition, reply_id), "state")) == b"sent"
    dsn = (
        b"Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: "
        + SUPPORT.encode()
        + b"\r\nSubject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n"
        b"Message-ID: <dsn.1@mx.example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        b"Final-Recipient: rfc822; ann@example.com\r\nAction: failed\r\nStatus: 5.2.2\r\n"
        b"Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\r\n"
        b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        + str(sent["Message-ID"]).join([b"Message-ID: ".decode(), "\r\n"]).encode()
        + b"--B--\r\n"
    )
    dovecot.append("support", dsn)
    await d.poll()
    await d.poll()  # read twice: still one event
    record = await r.hgetall(keys.delivery(partition, reply_id))
    assert record[b"state"] == DeliveryState.FAILED.value.encode() and b"Mailbox full" in record[b"error"]
    failed = [e for e in await d.parts.store.events(cid) if e.type is EventType.REPLY_FAILED]
    assert len(failed) == 1 and "5.2.2" in failed[0].reason
    await d.route()
    assert len(await d.parts.store.messages(cid)) == 1  # the bounce is not a customer message


async def test_the_survey_is_a_signed_link_and_a_forged_rating_is_refused(
    r: redis.Redis, dovecot: Dovecot, relay: Relay, tmp_path: Path
) -> None:
    d, cid = await started(r, dovecot, relay, tmp_path)
    conv = await d.parts.store.get(cid)
    assert conv is not None
    from helpline.bots.catalog import default_catalog
    from helpline.bots.survey import queue_survey
    from helpline.routing.store import Effects

    effects = Effects(cid)
    queue_survey(
        effects,
        conv,
        language="en",
        catalog=default_catalog(),
        in_reply_to="q1@example.com",
        recipient_id="ann@example.com",
        now=utcnow(),
    )
    effects.set(status="resolved")
    await d.parts.store.commit([effects], utcnow())
    await d.send()
    [survey] = await customer_inbox(dovecot)
    text = survey.get_body(("plain",)).get_content()
    links = {
        line.split(": ", 1)[0]: line.split(": ", 1)[1]
        for line in text.splitlines()
        if "/webhooks/email/support/answer?t=" in line
    }
    assert sorted(links) == ["1", "2", "3", "4", "5"]
    from fastapi import FastAPI

    app = FastAPI()
    from starlette.routing import Mount

    app.router.routes.append(Mount("/webhooks/email/support", routes=list(d.connector.webhook_routes())))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        token = token_of(links["4"])
        page = await http.get(f"/webhooks/email/support/answer?t={token}")
        assert page.status_code == 200 and "Confirm" in page.text
        body, _, mac = token.partition(".")
        import base64
        import json

        raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        raw["value"] = "5"
        forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).rstrip(b"=").decode() + "." + mac
        assert (await http.post("/webhooks/email/support/answer", data={"t": forged})).status_code == 403
        assert (await http.post("/webhooks/email/support/answer", data={"t": token[:-2]})).status_code == 403
        await d.route()
        assert not [e for e in await d.parts.store.events(cid) if e.type is EventType.RATING]
        done = await http.post("/webhooks/email/support/answer", data={"t": token})
        assert done.status_code == 200
        await http.post("/webhooks/email/support/answer", data={"t": token})  # clicked twice
    await d.route()
    ratings = [e for e in await d.parts.store.events(cid) if e.type is EventType.RATING]
    assert len(ratings) == 1 and ratings[0].data["score"] == 4


async def test_smtp_login_refused_is_an_authentication_failure(
    r: redis.Redis, dovecot: Dovecot, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "wrong")
    d, cid = await started(r, dovecot, relay, tmp_path)
    with pytest.raises(AuthFailed):
        await d.connector.send(await a_reply(d, cid), SendProgress())


async def test_a_refused_recipient_is_a_permanent_failure(
    r: redis.Redis, dovecot: Dovecot, relay: Relay, tmp_path: Path
) -> None:
    d, cid = await started(r, dovecot, relay, tmp_path)
    relay.refuse["ann@example.com"] = "550 5.1.1 No such user"
    with pytest.raises(Permanent, match="No such user"):
        await d.connector.send(await a_reply(d, cid), SendProgress())


async def a_reply(d: Desk, cid: str) -> object:
    conv = await d.parts.store.get(cid)
    assert isinstance(conv, Conversation) and conv.kind is MessageKind.DIRECT
    return reply_to(
        conv,
        reply_id=f"{cid}:x",
        text="hello",
        sender="agent:mina",
        in_reply_to="q1@example.com",
        recipient_id="ann@example.com",
        buttons=(ReplyButton(label="ok", data="ok"),),
    )
