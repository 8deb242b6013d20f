"""TLS against real servers with a certificate the test makes (its own authority, trusted
through `options.ca_file`): IMAP over implicit TLS (993-style) and with STARTTLS on Dovecot, SMTP
with STARTTLS and with implicit TLS on the aiosmtpd relay."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis
import trustme

from helpline.connectors.email.mailservers import Dovecot, Relay
from helpline.connectors.email.threads import new_thread_key
from helpline.connectors.errors import ConfigError, Transient
from tests.connectors.email.conftest import CUSTOMERS, USERS, connector, desk
from tests.connectors.email.test_send import agent_answers, customer_inbox, write


@pytest.fixture
def authority(tmp_path: Path) -> tuple[trustme.CA, Path, tuple[Path, Path]]:
    """A certificate authority, its PEM file, and a server certificate for 127.0.0.1 (cert, key)."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, cert, key = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
    ca.cert_pem.write_to_path(str(ca_file))
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    for path in (cert, key):
        path.chmod(0o644)  # read by Dovecot's master, which may run as another user
    return ca, ca_file, (cert, key)


@pytest.fixture
def tls_dovecot(authority: tuple[trustme.CA, Path, tuple[Path, Path]]) -> Iterator[Dovecot]:
    server = Dovecot(USERS, tls=authority[2]).start()
    yield server
    server.stop()


def server_context(authority: tuple[trustme.CA, Path, tuple[Path, Path]]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*authority[2])
    return context


@pytest.mark.parametrize("smtp_security", ["starttls", "tls"])
async def test_a_mail_comes_in_over_imap_tls_and_the_answer_goes_out_over_smtp_tls(
    r: redis.Redis,
    tls_dovecot: Dovecot,
    authority: tuple[trustme.CA, Path, tuple[Path, Path]],
    tmp_path: Path,
    smtp_security: str,
) -> None:
    relay = Relay(
        "relay-user",
        "relay-secret",
        tls_dovecot,
        CUSTOMERS,
        tls=server_context(authority),
        implicit_tls=smtp_security == "tls",
    ).start()
    try:
        d = desk(
            r,
            tls_dovecot,
            relay,
            tmp_path,
            imap_security="tls",
            imap_port=tls_dovecot.tls_port,
            smtp_security=smtp_security,
            ca_file=str(authority[1]),
        )
        tls_dovecot.append("support", write("Card declined", "My card was declined.", ident="q1@example.com"))
        await d.cycle()
        cid = await d.conversation_of_thread(new_thread_key("q1@example.com"))  # read over IMAPS only
        await agent_answers(d, cid, "Please try again.")
        [mail] = await customer_inbox(tls_dovecot)
        assert mail["In-Reply-To"] == "<q1@example.com>"
        assert [x.encrypted for x in relay.received] == [True]
    finally:
        relay.stop()


async def test_a_server_whose_certificate_is_not_trusted_is_refused(
    r: redis.Redis, tls_dovecot: Dovecot, tmp_path: Path
) -> None:
    email = connector(r, tls_dovecot, tmp_path, imap_security="tls", imap_port=tls_dovecot.tls_port)
    with pytest.raises(Transient, match="CERTIFICATE_VERIFY_FAILED"):
        await email.fetch(None)
    await email.stop()


async def test_smtp_starttls_with_an_untrusted_certificate_sends_nothing(
    r: redis.Redis, tls_dovecot: Dovecot, authority: tuple[trustme.CA, Path, tuple[Path, Path]], tmp_path: Path
) -> None:
    relay = Relay("relay-user", "relay-secret", tls_dovecot, CUSTOMERS, tls=server_context(authority)).start()
    try:
        d = desk(r, tls_dovecot, relay, tmp_path, smtp_security="starttls")  # no ca_file: the system's only
        tls_dovecot.append("support", write("Card declined", "My card was declined.", ident="q1@example.com"))
        await d.cycle()
        cid = await d.conversation_of_thread(new_thread_key("q1@example.com"))
        await agent_answers(d, cid, "Please try again.")
        assert relay.received == [] and await customer_inbox(tls_dovecot) == []
    finally:
        relay.stop()


async def test_imap_starttls_upgrades_the_plain_port_before_the_login(
    r: redis.Redis, tls_dovecot: Dovecot, authority: tuple[trustme.CA, Path, tuple[Path, Path]], tmp_path: Path
) -> None:
    email = connector(
        r, tls_dovecot, tmp_path, imap_security="starttls", imap_port=tls_dovecot.port, ca_file=str(authority[1])
    )
    tls_dovecot.append("support", write("Card declined", "My card was declined.", ident="q1@example.com"))
    batch = await email.fetch(None)
    assert [m.message_id for m in batch.messages] == ["q1@example.com"]
    assert email._session is not None
    assert email._session.client.protocol.transport.get_extra_info("ssl_object") is not None
    assert "Login: user=<support>, method=PLAIN" in tls_dovecot.log() and ", TLS," in tls_dovecot.log()
    await email.stop()


async def test_imap_starttls_with_an_untrusted_certificate_sends_no_login(
    r: redis.Redis, tls_dovecot: Dovecot, tmp_path: Path
) -> None:
    email = connector(r, tls_dovecot, tmp_path, imap_security="starttls", imap_port=tls_dovecot.port)
    with pytest.raises(Transient, match="CERTIFICATE_VERIFY_FAILED"):
        await email.fetch(None)
    assert "Login:" not in tls_dovecot.log()
    await email.stop()


async def test_imap_starttls_to_a_server_without_it_never_logs_in_unencrypted(
    r: redis.Redis, dovecot: Dovecot, authority: tuple[trustme.CA, Path, tuple[Path, Path]], tmp_path: Path
) -> None:
    email = connector(r, dovecot, tmp_path, imap_security="starttls", ca_file=str(authority[1]))
    with pytest.raises(Transient, match="offers no STARTTLS; not logging in unencrypted"):
        await email.fetch(None)
    assert "Login:" not in dovecot.log()
    await email.stop()


def test_an_unreadable_ca_file_is_named(r: redis.Redis, dovecot: Dovecot, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"options\.ca_file: cannot read"):
        connector(r, dovecot, tmp_path, ca_file=str(tmp_path / "missing.pem"))
