"""Reading a real IMAP mailbox (Dovecot): cursor, dedupe, IDLE, moving, attachments, charsets."""

from __future__ import annotations

import threading
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis.asyncio as redis

from helpline.connectors.email.connector import parse_cursor
from helpline.connectors.email.mailservers import Dovecot
from helpline.connectors.errors import AuthFailed, ConfigError
from helpline.routing.models import InboundMessage
from tests.connectors.email.conftest import SUPPORT, connector

PAYLOADS = Path(__file__).parent / "payloads"


def customer_mail(
    n: int, text: str = "my withdrawal is stuck", sender: str = "ann@example.com", **headers: str
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Ann <{sender}>"
    msg["To"] = SUPPORT
    msg["Subject"] = f"Question {n}"
    msg["Message-ID"] = f"<q{n}.{sender}>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(f"{text} ({n})")
    return bytes(msg)


class Collected:
    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []

    async def __call__(self, messages: object) -> list[bool]:
        assert isinstance(messages, list | tuple)
        self.messages += messages
        return [True] * len(messages)


async def test_mail_is_read_in_order_left_on_the_server_and_the_cursor_moves(
    r: redis.Redis, dovecot: Dovecot, tmp_path: Path
) -> None:
    for n in range(3):
        dovecot.append("support", customer_mail(n))
    c = connector(r, dovecot, tmp_path)
    try:
        batch = await c.fetch(None)
        assert [m.text for m in batch.messages] == [f"Question {n}\n\nmy withdrawal is stuck ({n})" for n in range(3)]
        first = batch.messages[0]
        assert first.author.user_id == "ann@example.com" and first.author.display_name == "Ann"
        assert first.message_id == "q0.ann@example.com" and first.kind.value == "direct"
        cursor = parse_cursor(batch.cursor)
        assert cursor is not None and cursor[1] == 3
        again = await c.fetch(batch.cursor)
        assert again.messages == [] and again.cursor == batch.cursor
        assert len(dovecot.mails("support")) == 3  # left on the server
    finally:
        await c.stop()


async def test_first_poll_of_new_mail_only_skips_the_history(r: redis.Redis, dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.append("support", customer_mail(1))
    c = connector(r, dovecot, tmp_path, first_poll="new", idle=False)
    try:
        start = await c.fetch(None)
        assert start.messages == []
        dovecot.append("support", customer_mail(2))
        batch = await c.fetch(start.cursor)
        assert [m.message_id for m in batch.messages] == ["q2.ann@example.com"]
    finally:
        await c.stop()


async def test_the_same_mail_delivered_twice_is_one_message(r: redis.Redis, dovecot: Dovecot, tmp_path: Path) -> None:
    from tests.factories import parts

    p = parts(r)
    c = connector(r, dovecot, tmp_path, ingest=p.bus.ingest)
    from helpline.connectors.runner import PollRunner

    runner = PollRunner(r, c)
    try:
        dovecot.append("support", customer_mail(7))
        await runner.poll_once()
        dovecot.append("support", customer_mail(7))  # e.g. To and Cc both the support address
        await runner.poll_once()
        entries = sum([await r.xlen(s) for s in p.bus.inbound_streams()])
        assert entries == 1
        stored = parse_cursor(await runner.cursors.get("email", "support"))
        assert stored is not None and stored[1] == 2  # past both copies
    finally:
        await c.stop()


async def test_idle_returns_as_soon_as_mail_arrives(r: redis.Redis, dovecot: Dovecot, tmp_path: Path) -> None:
    c = connector(r, dovecot, tmp_path, idle_seconds=10.0, first_poll="new")
    try:
        start = await c.fetch(None)
        assert start.messages == []
        timer = threading.Timer(0.5, lambda: dovecot.append("support", customer_mail(1)))
        timer.start()
        began = time.monotonic()
        woke = await c.fetch(start.cursor)
        # On a busy machine the mail can land before the poll reaches IDLE; then this poll reads it.
        batch = woke if woke.messages else await c.fetch(woke.cursor)
        assert time.monotonic() - began < 5, "the poll waited out IDLE instead of waking on the new mail"
        assert [m.message_id for m in batch.messages] == ["q1.ann@example.com"]
    finally:
        await c.stop()


async def test_idle_waits_no_longer_than_idle_seconds_while_other_changes_are_pushed(
    r: redis.Redis, dovecot: Dovecot, tmp_path: Path
) -> None:
    import imaplib

    dovecot.append("support", customer_mail(1))
    c = connector(r, dovecot, tmp_path, idle_seconds=2.0)
    stop = threading.Event()

    def flag_and_unflag() -> None:  # another client: the server pushes FETCH (FLAGS ...), not new mail
        with imaplib.IMAP4("127.0.0.1", dovecot.port) as imap:
            imap.login("support", "imap-secret")
            imap.select("INBOX")
            n = 0
            while not stop.wait(0.3):
                imap.store("1", "+FLAGS" if n % 2 == 0 else "-FLAGS", "(\\Flagged)")
                n += 1

    try:
        start = await c.fetch(None)
        assert len(start.messages) == 1
        flagger = threading.Thread(target=flag_and_unflag)
        flagger.start()
        began = time.monotonic()
        assert (await c.fetch(start.cursor)).messages == []
        # Each push used to start a new wait of idle_seconds: the poll outlived its lease.
        assert time.monotonic() - began < 4.5
        stop.set()
        flagger.join()
    finally:
        stop.set()
        await c.stop()


async def test_polling_without_idle_waits_for_nothing(r: redis.Redis, dovecot: Dovecot, tmp_path: Path) -> None:
    c = connector(r, dovecot, tmp_path, idle=False)
    try:
        start = await c.fetch(None)
        began = time.monotonic()
        assert (await c.fetch(start.cursor)).messages == [] and time.monotonic() - began < 1
    finally:
        await c.stop()


async def test_durable_mail_is_moved_to_a_folder_on_the_next_poll(
    r: redis.Redis, dovecot: Dovecot, tmp_path: Path
) -> None:
    import imaplib

    with imaplib.IMAP4("127.0.0.1", dovecot.port) as imap:
        imap.login("support", "imap-secret")
        imap.create("Helpline")
    dovecot.append("support", customer_mail(1))
    c = connector(r, dovecot, tmp_path, move_to="Helpline", idle=False)
    try:
        batch = await c.fetch(None)
        assert len(batch.messages) == 1 and len(dovecot.mails("support")) == 1  # not yet durable: kept
        dovecot.append("support", customer_mail(2))
        second = await c.fetch(batch.cursor)
        assert [m.message_id for m in second.messages] == ["q2.ann@example.com"]
        assert len(dovecot.mails("support", "Helpline")) == 1 and len(dovecot.mails("support")) == 1
    finally:
        await c.stop()


async def test_a_recreated_mailbox_is_read_again_and_deduped(r: redis.Redis, dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.append("support", customer_mail(1))
    c = connector(r, dovecot, tmp_path, idle=False)
    try:
        batch = await c.fetch("12345:99")  # a cursor of another UIDVALIDITY
        assert [m.message_id for m in batch.messages] == ["q1.ann@example.com"]
    finally:
        await c.stop()


async def test_iso_2022_jp_mail_through_imap(r: redis.Redis, dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.append("support", (PAYLOADS / "ja_iso2022jp.eml").read_bytes())
    c = connector(r, dovecot, tmp_path)
    try:
        [message] = (await c.fetch(None)).messages
        assert message.text.startswith("出金が届きません\n\nお世話になっております。")
        assert message.author.display_name == "山田太郎"
    finally:
        await c.stop()


async def test_attachments_are_stored_refused_ones_listed_and_the_original_kept(
    r: redis.Redis, dovecot: Dovecot, tmp_path: Path
) -> None:
    msg = EmailMessage()
    msg["From"] = "ann@example.com"
    msg["To"] = SUPPORT
    msg["Subject"] = "Statement"
    msg["Message-ID"] = "<att@example.com>"
    msg.set_content("See attached.\n\nOn Mon, Ann <ann@example.com> wrote:\n> old")
    msg.add_attachment(b"%PDF-1.4 statement", maintype="application", subtype="pdf", filename="statement.pdf")
    msg.add_attachment(b"MZ\x90\x00", maintype="application", subtype="x-msdownload", filename="invoice.exe")
    msg.add_attachment(b"x" * 2000, maintype="image", subtype="png", filename="../../big.png")
    dovecot.append("support", bytes(msg))
    c = connector(r, dovecot, tmp_path, max_attachment_bytes=1000)
    try:
        [message] = (await c.fetch(None)).messages
        kinds = {a.file_name: a for a in message.attachments}
        assert set(kinds) == {"original.eml", "statement.pdf"}
        pdf = kinds["statement.pdf"]
        assert await c.files.read(pdf.platform_file_id) == b"%PDF-1.4 statement"
        original = await c.files.read(kinds["original.eml"].platform_file_id)
        assert original is not None and b"> old" in original  # the full mail stays viewable
        assert "> old" not in message.text and "See attached." in message.text
        assert "[attachment not kept: invoice.exe (application/x-msdownload): type not allowed]" in message.text
        assert "big.png (image/png): larger than 1000 bytes" in message.text
        assert await c.files.read("../../etc/passwd") is None
    finally:
        await c.stop()


async def test_a_wrong_password_is_an_authentication_failure(
    r: redis.Redis, dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAIL_PASSWORD", "wrong")
    c = connector(r, dovecot, tmp_path)
    with pytest.raises(AuthFailed) as failed:
        await c.fetch(None)
    assert "wrong" not in str(failed.value)


def test_options_are_checked_and_name_the_field(r: redis.Redis, dovecot: Dovecot, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"accounts.support.options.imap_prot"):
        connector(r, dovecot, tmp_path, imap_prot=143)
    with pytest.raises(ConfigError, match=r"accounts.support.options.batch_size"):
        connector(r, dovecot, tmp_path, batch_size=0)


async def test_automatic_mail_is_flagged(r: redis.Redis, dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.append("support", customer_mail(1, Auto_Submitted="auto-replied"))
    dovecot.append("support", customer_mail(2, Precedence="bulk"))
    dovecot.append("support", customer_mail(3))
    c = connector(r, dovecot, tmp_path)
    try:
        batch = await c.fetch(None)
        assert [m.auto_submitted for m in batch.messages] == [True, True, False]
    finally:
        await c.stop()


async def test_a_mail_from_our_own_address_is_not_ingested(r: redis.Redis, dovecot: Dovecot, tmp_path: Path) -> None:
    dovecot.append("support", customer_mail(1, sender=SUPPORT))
    c = connector(r, dovecot, tmp_path)
    try:
        batch = await c.fetch(None)
        assert batch.messages == [] and batch.skipped == 1
    finally:
        await c.stop()


async def test_an_unusable_mail_is_skipped_without_stalling_the_mailbox(
    r: redis.Redis, dovecot: Dovecot, tmp_path: Path
) -> None:
    dovecot.append("support", b"From: " + b"a" * 300 + b"@example.com\r\nSubject: long\r\n\r\nhi\r\n")
    dovecot.append("support", b"\x00\x01 not a mail at all \xff\r\n")
    dovecot.append("support", customer_mail(1))
    c = connector(r, dovecot, tmp_path)
    try:
        batch = await c.fetch(None)
        assert [m.message_id for m in batch.messages][-1] == "q1.ann@example.com"
        cursor = parse_cursor(batch.cursor)
        assert cursor is not None and cursor[1] == 3
    finally:
        await c.stop()
