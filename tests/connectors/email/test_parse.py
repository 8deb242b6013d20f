"""Parsing real-world mails: charsets, HTML, quotes, signatures, loop signs and bounces."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpline.connectors.email.noise import automated_reason, bounce_of, is_bounce
from helpline.connectors.email.parse import parse_mail, short_id
from helpline.connectors.email.trim import trim_reply

PAYLOADS = Path(__file__).parent / "payloads"


def load(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def test_iso_2022_jp_mail_decodes_headers_and_body() -> None:
    mail = parse_mail(load("ja_iso2022jp.eml"))
    assert mail.subject == "出金が届きません"
    assert mail.from_name == "山田太郎"
    assert mail.from_address == "taro.yamada@mail.example.jp"
    assert "出金が3時間たっても届きません。" in mail.text
    assert mail.message_id == "4b9c2f1e-7d3a-4a8b-9c1e-5f2d8a7b6c01@mail.example.jp"
    assert automated_reason(mail) is None


@pytest.mark.parametrize(
    "name, subject, sender, phrase",
    [
        ("ko_euckr_outlook.eml", "계정 잠김 문의", "김민수", "계정이 잠겼습니다. 도와주세요."),
        ("ko_euckr.eml", "입금 확인 부탁드립니다", "이영희", "잔고에 반영되지 않았습니다"),
        ("zh_gb2312_foxmail.eml", "提现未到账", "王伟", "朱镕基路的银行说没有收到"),  # 镕 is GBK, not GB2312
    ],
)
def test_cjk_charsets_decode(name: str, subject: str, sender: str, phrase: str) -> None:
    mail = parse_mail(load(name))
    assert mail.subject == subject
    assert mail.from_name == sender
    assert phrase in mail.text
    assert "\ufffd" not in mail.text


def test_plain_part_is_preferred_and_html_only_mail_is_converted() -> None:
    outlook = parse_mail(load("ko_euckr_outlook.eml"))
    assert "<p>" not in outlook.text and "김민수 드림" in outlook.text
    foxmail = parse_mail(load("zh_gb2312_foxmail.eml"))
    assert "<div>" not in foxmail.text and foxmail.text.startswith("你好，")


def test_gmail_reply_threads_by_all_headers_and_trims_quote_and_signature() -> None:
    mail = parse_mail(load("en_gmail_reply.eml"))
    assert mail.in_reply_to == ("hl.0a1b2c3d4e5f.support@helpline.test",)
    assert mail.thread_ids == ("hl.0a1b2c3d4e5f.support@helpline.test",)
    assert "support+3-7@helpline.test" in mail.recipients
    assert "Café — the team" in mail.text  # the full original keeps the quote
    assert trim_reply(mail.text) == "Thanks, that fixed it!"


def test_thread_ids_read_every_reference_newest_first() -> None:
    raw = (
        b"From: a@example.com\r\nMessage-ID: <new@x>\r\nIn-Reply-To: <c@x>\r\n"
        b"References: <a@x> <b@x>\r\n <c@x>\r\nSubject: s\r\n\r\nbody\r\n"
    )
    assert parse_mail(raw).thread_ids == ("c@x", "b@x", "a@x")


def test_html_is_converted_safely() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: s\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<style>p{color:red}</style><script>alert('x')</script><p>Hi <b>there</b></p>"
        b'<p><a href="https://evil.example/x">click</a><img src="https://t.example/p.gif" alt=""></p>'
    )
    text = parse_mail(raw).text
    assert text == "Hi there\n\nclick (https://evil.example/x)"


def test_mail_without_message_id_gets_a_stable_id_and_long_ids_are_hashed() -> None:
    raw = b"From: a@example.com\r\nSubject: s\r\n\r\nbody\r\n"
    assert parse_mail(raw).message_id == parse_mail(raw).message_id
    assert parse_mail(raw).message_id.startswith("sha256:")
    assert short_id("x" * 300).startswith("sha256:") and len(short_id("x" * 300)) <= 128


def test_unknown_charset_and_broken_bytes_do_not_fail() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: =?x-unknown?B?aGk=?=\r\n"
        b"Content-Type: text/plain; charset=x-nonsense\r\n\r\n"
        b"caf\xe9 ok\r\n"
    )
    mail = parse_mail(raw)
    assert "ok" in mail.text


@pytest.mark.parametrize(
    "header, reason",
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: auto-generated; owner-email=x@y", "Auto-Submitted: auto-generated"),
        ("Precedence: bulk", "Precedence: bulk"),
        ("Precedence: junk", "Precedence: junk"),
        ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress"),
        ("List-Id: <news.example.com>", "mailing list (List-Id/List-Unsubscribe)"),
        ("List-Unsubscribe: <mailto:u@example.com>", "mailing list (List-Id/List-Unsubscribe)"),
    ],
)
def test_automatic_mail_is_recognised(header: str, reason: str) -> None:
    raw = f"From: a@example.com\r\n{header}\r\nSubject: Out of office\r\n\r\nI am away\r\n".encode()
    assert automated_reason(parse_mail(raw)) == reason


def test_auto_submitted_no_is_a_person() -> None:
    raw = b"From: a@example.com\r\nAuto-Submitted: no\r\nSubject: hi\r\n\r\nhello\r\n"
    assert automated_reason(parse_mail(raw)) is None


DSN = (
    b"Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.helpline.test>\r\n"
    b"To: support@helpline.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    b"Auto-Submitted: auto-replied\r\nMessage-ID: <dsn.1@mx.helpline.test>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
    b"--B\r\nContent-Type: text/plain\r\n\r\n"
    b"I'm sorry to have to inform you that your message could not be delivered.\r\n"
    b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.helpline.test\r\n\r\n"
    b"Final-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown\r\n"
    b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@helpline.test\r\nTo: gone@example.com\r\n"
    b"Subject: Re: help [#1-2]\r\nMessage-ID: <hl.abc.support@helpline.test>\r\n--B--\r\n"
)


def test_dsn_bounce_names_the_original_and_the_reason() -> None:
    mail = parse_mail(DSN)
    assert is_bounce(mail)
    bounce = bounce_of(mail)
    assert bounce.original_ids == ("hl.abc.support@helpline.test",)
    assert "5.1.1" in bounce.reason and "User unknown" in bounce.reason


def test_plain_text_bounce_from_mailer_daemon() -> None:
    raw = (
        b"From: MAILER-DAEMON@old.example\r\nSubject: failure notice\r\n"
        b"X-Failed-Recipients: gone@example.com\r\n\r\n"
        b"Hi. This is the qmail-send program. I'm afraid I wasn't able to deliver your message.\r\n\r\n"
        b"--- Below this line is a copy of the message.\r\n\r\nMessage-ID: <hl.def.support@helpline.test>\r\n"
    )
    mail = parse_mail(raw)
    assert is_bounce(mail) and automated_reason(mail) == "bounce"
    assert bounce_of(mail).original_ids == ("hl.def.support@helpline.test",)


def test_mailer_daemon_that_is_not_a_bounce_is_still_not_a_bounce() -> None:
    raw = b"From: postmaster@example.com\r\nSubject: Question about your service\r\n\r\nhello\r\n"
    assert not is_bounce(parse_mail(raw))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("네 감사합니다\n\n2026년 12월 5일 (토) 오전 10:00, Support <s@x.com>님이 작성:\n> hello", "네 감사합니다"),
        ("好的，谢谢\n\n在 2026年12月5日 10:00，Support 写道：\n> 你好", "好的，谢谢"),
        ("了解しました\n\n2026年12月5日(土) 10:00 Support <s@x.com>:\n\n> こんにちは", "了解しました"),
        ("Ok\n\nFrom: Support <s@x.com>\nSent: Saturday\nTo: me\nSubject: hi\n\nold", "Ok"),
        ("Done\n\nSent from my iPhone", "Done"),
        ("> only a quote", "> only a quote"),
    ],
)
def test_trim(text: str, expected: str) -> None:
    assert trim_reply(text) == expected
