"""Threading a mail: every Message-ID it answers, then the plus address, then the subject token."""

from __future__ import annotations

import redis.asyncio as redis

from helpline.connectors.email.parse import parse_mail
from helpline.connectors.email.threads import MailIndex, SentInfo, ThreadInfo, plus_tokens, subject_tokens

OWN = "support@helpline.test"


def mail(headers: str, sender: str = "ann@example.com") -> bytes:
    ident = f"<new.{abs(hash(headers))}@example.com>"
    return f"From: Ann <{sender}>\r\nTo: {OWN}\r\nMessage-ID: {ident}\r\n{headers}\r\n\r\nhi\r\n".encode()


async def seeded(r: redis.Redis) -> MailIndex:
    index = MailIndex(r, "email", "support", ttl_seconds=3600)
    first = parse_mail(
        b"From: Ann <ann@example.com>\r\nTo: support@helpline.test\r\nMessage-ID: <q1@example.com>\r\n"
        b"Subject: Card declined\r\n\r\nmy card was declined\r\n"
    )
    await index.remember_received(first, "mail:t1")
    info = await index.thread("mail:t1")
    assert info is not None and info.customer == "ann@example.com" and info.references == ["q1@example.com"]
    await index.remember_sent(
        "hl.r1@helpline.test", info, SentInfo(reply_id="r1", conversation_id="2-3", thread_key="mail:t1")
    )
    return index


async def test_reply_keeping_only_in_reply_to(r: redis.Redis) -> None:
    index = await seeded(r)
    reply = parse_mail(mail("In-Reply-To: <hl.r1@helpline.test>\r\nSubject: Re: x"))
    assert await index.find_thread(reply, OWN) == "mail:t1"


async def test_reply_keeping_only_references_even_an_old_one(r: redis.Redis) -> None:
    index = await seeded(r)
    found = await index.find_thread(parse_mail(mail("References: <q1@example.com> <unknown@elsewhere>")), OWN)
    assert found == "mail:t1"


async def test_reply_keeping_neither_header_threads_by_plus_address_or_subject_token(r: redis.Redis) -> None:
    index = await seeded(r)
    by_subject = parse_mail(mail("Subject: Re: Card declined [#2-3]"))
    assert await index.find_thread(by_subject, OWN) == "mail:t1"
    plus = parse_mail(b"From: ann@example.com\r\nTo: support+2-3@helpline.test\r\nSubject: again\r\n\r\nhi\r\n")
    assert await index.find_thread(plus, OWN) == "mail:t1"


async def test_a_stranger_using_the_token_does_not_join_the_thread(r: redis.Redis) -> None:
    index = await seeded(r)
    stranger = parse_mail(mail("Subject: Re: Card declined [#2-3]", sender="mallory@example.net"))
    assert await index.find_thread(stranger, OWN) is None


async def test_a_new_mail_matches_nothing(r: redis.Redis) -> None:
    index = await seeded(r)
    assert await index.find_thread(parse_mail(mail("Subject: Another question")), OWN) is None


def test_tokens() -> None:
    assert subject_tokens("Re: Re: help [#12-345] [#x]") == ["12-345"]
    assert plus_tokens(("support+2-3@helpline.test", "other+2-4@helpline.test", "support+evil@helpline.test"), OWN) == [
        "2-3"
    ]


async def test_references_are_capped_keeping_the_root(r: redis.Redis) -> None:
    index = MailIndex(r, "email", "support", ttl_seconds=3600)
    for i in range(30):
        await index.remember_received(parse_mail(f"From: a@x.com\r\nMessage-ID: <m{i}@x>\r\n\r\nb".encode()), "mail:t")
    info = await index.thread("mail:t")
    assert isinstance(info, ThreadInfo) and info.references[0] == "m0@x" and info.references[-1] == "m29@x"
    assert len(info.references) == 20
