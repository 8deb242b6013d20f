"""Splitting a new topic off an e-mail thread, through the console's API and page, on the real
servers: the split-off mails become a conversation of their own, and later mail threads into
whichever conversation it answers (In-Reply-To, References only, the subject token)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis
from sqlalchemy import select, text, update

from helpline.archive.archiver import Archiver
from helpline.archive.database import Database
from helpline.archive.record import Record
from helpline.archive.schema import conversations, messages
from helpline.archive.search import Access, Query, search
from helpline.connectors.email.mailservers import Dovecot, Relay
from helpline.connectors.email.threads import new_thread_key
from helpline.console.roles import Role
from helpline.routing import keys
from helpline.routing.models import EventType
from tests.archive.conftest import TABLES, database_url, postgres_url  # noqa: F401 (the record on both engines)
from tests.connectors.email.conftest import Desk, desk
from tests.connectors.email.test_send import ALL_TO_BOT, HELPCENTER, customer_inbox, write
from tests.console.helpers import login
from tests.factories import create_app

PASSWORD = "correct horse battery"


class Console:
    def __init__(self, d: Desk) -> None:
        self.d = d
        self.app = create_app(d.parts)
        self.svc = self.app.state.console
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://console.test")

    async def headers(self) -> dict[str, str]:
        token, _ = await self.svc.tokens.create("test", "amy", Role.AGENT)
        return {"Authorization": f"Bearer {token}"}

    async def split(self, cid: str, ids: list[str]) -> httpx.Response:
        router = asyncio.create_task(route_meanwhile(self.d))
        response = await self.client.post(
            f"/api/v1/conversations/{cid}/split", json={"message_ids": ids}, headers=await self.headers()
        )
        await router
        return response

    async def answer(self, cid: str, text: str) -> None:
        response = await self.client.post(
            f"/api/v1/conversations/{cid}/reply", json={"text": text}, headers=await self.headers()
        )
        assert response.status_code == 200, response.text
        await self.d.route()
        await self.d.send()


async def route_meanwhile(d: Desk) -> None:
    """Route for a second, as the router (another process in production) would while a request waits."""
    for _ in range(20):
        await asyncio.sleep(0.05)
        await d.route()


async def console_for(d: Desk) -> Console:
    c = Console(d)
    await c.svc.users.add("amy", PASSWORD, Role.AGENT, name="Amy", teams=["support"])
    return c


async def old_thread_with_a_new_topic(d: Desk, dovecot: Dovecot, c: Console) -> str:
    """Ann asked about a card; we answered; she answers that mail about something else entirely."""
    dovecot.append("support", write("Card declined", "My card was declined.", ident="q1@example.com"))
    await d.cycle()
    cid = await d.conversation_of_thread(new_thread_key("q1@example.com"))
    await c.answer(cid, "Please try again.")
    [ours] = await customer_inbox(dovecot)
    dovecot.append(
        "support",
        write(
            "Re: Card declined",
            "Thanks! Also: how do I change my phone number?",
            ident="q2@example.com",
            In_Reply_To=ours["Message-ID"],
            References=f"<q1@example.com> {ours['Message-ID']}",
        ),
    )
    await d.poll()
    await d.route()
    assert [m.message_id for m in await d.parts.store.messages(cid)] == ["q1@example.com", "q2@example.com"]
    return cid


Topic = tuple[Desk, Console, str]


@pytest.fixture
async def new_topic(r: redis.Redis, dovecot: Dovecot, relay: Relay, tmp_path: Path) -> AsyncIterator[Topic]:
    """The desk, its console, and Ann's card thread answered with a new topic (the conversation's id)."""
    d = desk(r, dovecot, relay, tmp_path)
    c = await console_for(d)
    yield d, c, await old_thread_with_a_new_topic(d, dovecot, c)
    await c.client.aclose()


@pytest.mark.parametrize("keeps", ["in-reply-to", "references", "subject-token"])
async def test_a_split_off_topic_is_its_own_conversation_and_replies_thread_to_the_one_they_answer(
    new_topic: Topic, dovecot: Dovecot, keeps: str
) -> None:
    d, c, old = new_topic

    response = await c.split(old, ["q2@example.com"])
    assert response.status_code == 200, response.text
    new = response.json()["conversation_id"]
    assert new and new != old and response.json()["thread_key"] != new_thread_key("q1@example.com")
    [copy] = await d.parts.store.messages(new)
    assert copy.text.startswith("Thanks! Also: how do I change") and copy.moved_from == old
    assert any(
        e.type is EventType.LINKED and e.data.get("moved_messages") == ["q2@example.com"]
        for e in await d.parts.store.events(old)
    )
    assert any(
        e.type is EventType.LINKED and e.data.get("conversation") == old for e in await d.parts.store.events(new)
    )
    detail = (await c.client.get(f"/api/v1/conversations/{old}", headers=await c.headers())).json()
    shown = [(i["conversation_id"], i["data"].get("message_id")) for i in detail["timeline"] if i["kind"] == "message"]
    assert (old, "q2@example.com") not in shown  # shown once, in its new home
    assert (new, "split:q2@example.com") in shown

    await c.answer(new, "Settings → Security → Phone.")
    *_, phone_answer = await customer_inbox(dovecot)
    assert phone_answer["In-Reply-To"] == "<q2@example.com>"
    assert f"[#{new}]" in phone_answer["Subject"] and "<q1@example.com>" not in phone_answer["References"]

    # Ann answers the phone-number mail (as her client keeps it), then the card mail again.
    headers = {
        "in-reply-to": {"In_Reply_To": phone_answer["Message-ID"]},
        "references": {"References": f"<q2@example.com> {phone_answer['Message-ID']}"},
        "subject-token": {},
    }[keeps]
    subject = phone_answer["Subject"] if keeps == "subject-token" else "Re: phone"
    dovecot.append("support", write(subject, "Found it, thanks.", ident="q3@example.com", **headers))
    dovecot.append(
        "support",
        write("Re: Card declined", "The card works now.", ident="q4@example.com", In_Reply_To="<q1@example.com>"),
    )
    await d.poll()
    await d.route()
    assert [m.message_id for m in await d.parts.store.messages(new)][-1] == "q3@example.com"
    assert [m.message_id for m in await d.parts.store.messages(old)][-1] == "q4@example.com"


async def test_a_customer_answering_the_split_off_mail_itself_reaches_the_new_conversation(
    new_topic: Topic, dovecot: Dovecot
) -> None:
    d, c, old = new_topic
    new = (await c.split(old, ["q2@example.com"])).json()["conversation_id"]
    dovecot.append(
        "support",
        write(
            "Re: Card declined",
            "Or can I do it in the app?",
            ident="q5@example.com",
            In_Reply_To="<q2@example.com>",
            References="<q1@example.com> <q2@example.com>",
        ),
    )
    await d.poll()
    await d.route()
    assert [m.message_id for m in await d.parts.store.messages(new)] == ["split:q2@example.com", "q5@example.com"]


async def test_a_split_cut_short_is_completed_by_repeating_it_and_gets_no_automatic_answer(
    r: redis.Redis, dovecot: Dovecot, relay: Relay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = desk(r, dovecot, relay, tmp_path, rules=ALL_TO_BOT, bots=HELPCENTER)
    c = await console_for(d)
    dovecot.append("support", write("Card declined", "My card was declined.", ident="q1@example.com"))
    await d.cycle()
    old = await d.conversation_of_thread(new_thread_key("q1@example.com"))
    dovecot.append(
        "support",
        write(
            "Re: Card declined",
            "How do I reset 2FA? I lost my authenticator app",
            ident="q2@example.com",
            In_Reply_To="<q1@example.com>",
        ),
    )
    await d.poll()
    await d.route()
    await d.send()
    sent = len(relay.received)
    store, commit = d.parts.store, d.parts.store.commit

    async def cut_short(*args: object, **kwargs: object) -> list[int]:
        raise ConnectionError("the console process died after the copies were ingested")

    monkeypatch.setattr(store, "commit", cut_short)
    with pytest.raises(ConnectionError):
        await c.split(old, ["q2@example.com"])
    monkeypatch.setattr(store, "commit", commit)
    first, again = await c.split(old, ["q2@example.com"]), await c.split(old, ["q2@example.com"])
    assert first.status_code == 200 and again.status_code == 422 and "split off already" in again.text
    new = first.json()["conversation_id"]
    await d.route()
    await d.send()
    assert len(relay.received) == sent  # the bot did not answer the split-off question again
    conv = await d.parts.store.get(new)
    assert conv is not None and conv.handler is None and conv.message_count == 1
    linked = [e for e in await d.parts.store.events(old) if e.type is EventType.LINKED]
    assert len(linked) == 1
    await c.client.aclose()


async def test_bad_splits_are_refused_and_change_nothing(new_topic: Topic, dovecot: Dovecot) -> None:
    d, c, old = new_topic
    everything = await c.split(old, ["q1@example.com", "q2@example.com"])
    unknown = await c.split(old, ["nope@example.com"])
    assert everything.status_code == 422 and "must stay" in everything.text
    assert unknown.status_code == 422 and "nope@example.com" in unknown.text
    assert not [e for e in await d.parts.store.events(old) if e.type is EventType.LINKED]


async def test_a_mail_whose_original_is_gone_cannot_be_split_and_nothing_moves(
    new_topic: Topic, dovecot: Dovecot
) -> None:
    d, c, old = new_topic
    [_, q2] = await d.parts.store.messages(old)
    original = next(a for a in q2.attachments if a.kind == "original")
    path = d.connector.files.local_path(original.platform_file_id)
    assert path is not None
    path.unlink()  # removed by the file store's retention, say
    response = await c.split(old, ["q2@example.com"])
    assert response.status_code == 409 and "original mail is no longer stored" in response.text
    assert await d.connector.index.thread_of_message("q2@example.com") == new_thread_key("q1@example.com")
    assert not [e for e in await d.parts.store.events(old) if e.type is EventType.LINKED]


async def test_the_conversation_page_splits_from_a_message_on(new_topic: Topic, dovecot: Dovecot) -> None:
    d, c, old = new_topic
    assert (await login(c.client, "amy", PASSWORD)).status_code == 303
    page = (await c.client.get(f"/c/{old}")).text
    assert page.count("Split off from here") == 1  # not on the first message: something must stay
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    router = asyncio.create_task(route_meanwhile(d))
    response = await c.client.post(
        f"/c/{old}/do/split", data={"csrf_token": csrf.group(1), "message_id": "q2@example.com"}
    )
    await router
    assert response.status_code == 303
    new = response.headers["location"].removeprefix("/c/")  # the page goes to the new conversation
    assert new != old
    assert [m.message_id for m in await d.parts.store.messages(new)] == ["split:q2@example.com"]


async def test_the_record_moves_the_split_off_mails_so_search_finds_them_once(
    r: redis.Redis,
    new_topic: Topic,
    dovecot: Dovecot,
    database_url: str,  # noqa: F811
) -> None:
    d, c, old = new_topic
    db = Database(database_url)
    if not db.is_sqlite:  # the session's database: start empty
        async with db.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    archiver = Archiver(r, Record(db), d.parts.settings.redis.partitions, "test-archiver")

    async def found(words: str) -> list[str]:
        return [h.conversation["id"] for h in (await search(db, Access(everything=True), Query(words))).hits]

    async def mails_of(cid: str) -> list[str]:
        async with db.engine.connect() as conn:
            return list(
                (
                    await conn.execute(
                        select(messages.c.message_id).where(messages.c.conversation_id == cid).order_by(messages.c.seq)
                    )
                ).scalars()
            )

    await archiver.catch_up()
    assert await found("phone number") == [old]
    new = (await c.split(old, ["q2@example.com"])).json()["conversation_id"]
    await archiver.catch_up()
    assert await found("phone number") == [new]
    assert await found("card declined") == [old]
    assert await mails_of(old) == ["q1@example.com"] and await mails_of(new) == ["split:q2@example.com"]

    # Replayed changes (a crash before their acknowledgement) and a whole history read again
    # (a message landing behind the archived ones) move nothing back.
    changes = [
        (keys.changes(p), entry_id.decode(), fields)
        for p in range(d.parts.settings.redis.partitions)
        for entry_id, fields in await r.xrange(keys.changes(p))
    ]
    async with db.engine.begin() as conn:
        await conn.execute(update(conversations).where(conversations.c.id == old).values(last_score=-1))
    await archiver.archive(changes)
    assert await found("phone number") == [new]
    assert await mails_of(old) == ["q1@example.com"]
    dovecot.append(
        "support",
        write("Re: Card declined", "The card works now.", ident="q4@example.com", In_Reply_To="<q1@example.com>"),
    )
    await d.poll()
    await d.route()
    await archiver.catch_up()
    assert await mails_of(old) == ["q1@example.com", "q4@example.com"]
    assert await found("card works") == [old] and await found("phone number") == [new]
    await db.close()
