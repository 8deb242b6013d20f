"""OAuth 2.0 (SASL OAUTHBEARER and XOAUTH2) for IMAP and SMTP against real servers: Dovecot with its oauth2 passdb
and the aiosmtpd relay both ask a loopback provider (`oauth_emulator`: token endpoint and RFC 7662
introspection) whether a token is active; the connector gets its tokens from that provider's token
endpoint with a refresh token, as from Google's or Microsoft's."""

from __future__ import annotations

import asyncio
import imaplib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis
from pydantic import ValidationError

from helpline.connectors.email import sasl
from helpline.connectors.email.mailservers import Dovecot, Relay
from helpline.connectors.email.oauth_emulator import OAuthProvider
from helpline.connectors.email.options import EmailOptions
from helpline.connectors.email.threads import new_thread_key
from helpline.connectors.emulation import serve
from helpline.connectors.errors import AuthFailed
from tests.connectors.email.conftest import CUSTOMERS, USERS, connector, desk
from tests.connectors.email.test_send import agent_answers, customer_inbox, write

REFRESH = "rt-initial-3f9a"
CLIENT_SECRET = "client-secret-77"
OAUTH_SECRETS = {
    "username": "MAIL_USER",
    "oauth_client_id": "OAUTH_CLIENT_ID",
    "oauth_client_secret": "OAUTH_CLIENT_SECRET",
    "oauth_refresh_token": "OAUTH_REFRESH_TOKEN",
    "link_secret": "MAIL_LINK_SECRET",
}  # SMTP logs in as the mailbox's user, with the same tokens


@pytest.fixture(autouse=True)
def oauth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTH_CLIENT_ID", "helpline-desk")
    monkeypatch.setenv("OAUTH_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("OAUTH_REFRESH_TOKEN", REFRESH)
    monkeypatch.delenv("MAIL_PASSWORD")  # no password anywhere: the tokens are the only way in


@pytest.fixture
async def provider() -> AsyncIterator[tuple[OAuthProvider, str]]:
    p = OAuthProvider(clients={"helpline-desk": CLIENT_SECRET}, refresh_tokens={REFRESH: "support"})
    async with serve(p.app()) as url:
        yield p, url


@pytest.fixture
def oauth_dovecot(provider: tuple[OAuthProvider, str]) -> Iterator[Dovecot]:
    server = Dovecot(USERS, oauth_introspection_url=provider[1] + "/introspect").start()
    yield server
    server.stop()


@pytest.fixture
def oauth_relay(oauth_dovecot: Dovecot, provider: tuple[OAuthProvider, str]) -> Iterator[Relay]:
    server = Relay(
        "support",
        "no-password-login-here",
        oauth_dovecot,
        CUSTOMERS,
        oauth_introspection_url=provider[1] + "/introspect",
    ).start()
    yield server
    server.stop()


def options(url: str, **more: Any) -> dict[str, Any]:
    return {"auth": "oauth2", "oauth_token_url": url + "/token", "secrets": OAUTH_SECRETS, **more}


def imap_accepts(dovecot: Dovecot, token: str) -> bool:
    """Whether Dovecot takes this access token for the support mailbox (asked without Helpline)."""
    blob = f"user=support\x01auth=Bearer {token}\x01\x01".encode()
    with imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=10) as imap:
        try:
            imap.authenticate("XOAUTH2", lambda _: blob)
        except imaplib.IMAP4.error:
            return False
        return True


async def test_mail_is_read_and_answered_with_xoauth2_on_both_servers(
    r: redis.Redis, provider: tuple[OAuthProvider, str], oauth_dovecot: Dovecot, oauth_relay: Relay, tmp_path: Path
) -> None:
    p, url = provider
    d = desk(r, oauth_dovecot, oauth_relay, tmp_path, **options(url, oauth_mechanism="xoauth2"))
    oauth_dovecot.append("support", write("Card declined", "My card was declined.", ident="q1@example.com"))
    await d.cycle()
    cid = await d.conversation_of_thread(new_thread_key("q1@example.com"))
    await agent_answers(d, cid, "Please try again.")
    [mail] = await customer_inbox(oauth_dovecot)
    assert mail["In-Reply-To"] == "<q1@example.com>"
    assert "method=XOAUTH2" in oauth_dovecot.log()  # Dovecot logged in with the token, not a password
    assert oauth_relay.oauth_logins == [True] and oauth_relay.oauth_mechanisms_used == ["XOAUTH2"]
    assert p.grants == 1  # one access token served IMAP and SMTP
    await d.connector.stop()


async def test_oauthbearer_is_used_where_both_servers_offer_it(
    r: redis.Redis, provider: tuple[OAuthProvider, str], oauth_dovecot: Dovecot, oauth_relay: Relay, tmp_path: Path
) -> None:
    _, url = provider
    d = desk(r, oauth_dovecot, oauth_relay, tmp_path, **options(url))  # oauth_mechanism "auto"
    oauth_dovecot.append("support", write("Card declined", "My card was declined.", ident="q1@example.com"))
    await d.cycle()
    cid = await d.conversation_of_thread(new_thread_key("q1@example.com"))
    await agent_answers(d, cid, "Please try again.")
    assert len(await customer_inbox(oauth_dovecot)) == 1
    assert "method=OAUTHBEARER" in oauth_dovecot.log() and "method=XOAUTH2" not in oauth_dovecot.log()
    assert oauth_relay.oauth_logins == [True] and oauth_relay.oauth_mechanisms_used == ["OAUTHBEARER"]
    await d.connector.stop()


async def test_servers_that_offer_only_xoauth2_get_it_and_a_named_mechanism_is_used_as_named(
    r: redis.Redis, provider: tuple[OAuthProvider, str], tmp_path: Path
) -> None:
    _, url = provider
    dovecot = Dovecot(USERS, oauth_introspection_url=url + "/introspect", oauth_mechanisms=("xoauth2",)).start()
    relay = Relay(
        "support",
        "no-password-login-here",
        dovecot,
        CUSTOMERS,
        oauth_introspection_url=url + "/introspect",
        oauth_mechanisms=("XOAUTH2",),
    ).start()
    try:
        d = desk(r, dovecot, relay, tmp_path, **options(url))  # as at Microsoft 365
        dovecot.append("support", write("Card declined", "My card was declined.", ident="q1@example.com"))
        await d.cycle()
        cid = await d.conversation_of_thread(new_thread_key("q1@example.com"))
        await agent_answers(d, cid, "Please try again.")
        assert len(await customer_inbox(dovecot)) == 1 and "method=XOAUTH2" in dovecot.log()
        assert relay.oauth_logins == [True] and relay.oauth_mechanisms_used == ["XOAUTH2"]
        await d.connector.stop()
        named = connector(r, dovecot, tmp_path, **options(url, oauth_mechanism="oauthbearer"))
        with pytest.raises(AuthFailed, match="login refused"):
            await named.fetch(None)
        await named.stop()
    finally:
        relay.stop()
        dovecot.stop()


async def test_the_access_token_is_replaced_before_it_expires(
    r: redis.Redis, provider: tuple[OAuthProvider, str], oauth_dovecot: Dovecot, oauth_relay: Relay, tmp_path: Path
) -> None:
    p, url = provider
    p.lifetime_seconds = 4.0  # replaced after half its life (the margin is capped at half of it)
    d = desk(r, oauth_dovecot, oauth_relay, tmp_path, **options(url))
    tokens = d.connector.tokens
    assert tokens is not None
    first = await tokens.token()
    assert await tokens.token() == first and p.grants == 1  # kept while fresh
    await asyncio.sleep(2.4)
    second = await tokens.token()
    assert second != first and p.grants == 2
    await asyncio.sleep(2.0)  # the first one has expired now (some 0.4 s ago)
    assert not await asyncio.to_thread(imap_accepts, oauth_dovecot, first)  # Dovecot enforces the expiry
    oauth_dovecot.append("support", write("Locked", "My account is locked.", ident="q1@example.com"))
    await d.cycle()  # the IMAP login after expiry works: it gets a current token
    cid = await d.conversation_of_thread(new_thread_key("q1@example.com"))
    await agent_answers(d, cid, "Unlocked.")
    assert len(await customer_inbox(oauth_dovecot)) == 1 and oauth_relay.oauth_logins[-1] is True
    await d.connector.stop()


async def test_a_token_revoked_before_its_expiry_is_replaced_once(
    r: redis.Redis, provider: tuple[OAuthProvider, str], oauth_dovecot: Dovecot, oauth_relay: Relay, tmp_path: Path
) -> None:
    p, url = provider
    d = desk(r, oauth_dovecot, oauth_relay, tmp_path, **options(url))
    assert d.connector.tokens is not None
    p.revoke(await d.connector.tokens.token())  # e.g. the user changed their password
    oauth_dovecot.append("support", write("Card declined", "My card was declined.", ident="q1@example.com"))
    await d.cycle()
    cid = await d.conversation_of_thread(new_thread_key("q1@example.com"))
    p.revoke(await d.connector.tokens.token())
    await agent_answers(d, cid, "Please try again.")
    assert len(await customer_inbox(oauth_dovecot)) == 1
    assert oauth_relay.oauth_logins == [False, True]  # refused, then a new token
    assert oauth_relay.oauth_mechanisms_used == ["OAUTHBEARER"] * 2
    assert oauth_relay.error_answers == [b"\x01"]  # the error status answered as RFC 7628 says
    assert p.grants == 3
    await d.connector.stop()


async def test_a_rotated_refresh_token_is_used_from_then_on(
    r: redis.Redis, provider: tuple[OAuthProvider, str], oauth_dovecot: Dovecot, tmp_path: Path
) -> None:
    p, url = provider
    p.rotate, p.lifetime_seconds = True, 1.0
    email = connector(r, oauth_dovecot, tmp_path, **options(url))
    assert email.tokens is not None
    for _ in range(3):  # each refresh spends the refresh token the last answer gave
        await email.tokens.token()
        await asyncio.sleep(0.6)
    assert p.grants == 3 and REFRESH not in p.refresh_tokens
    await email.stop()


async def test_a_refused_refresh_token_is_an_authentication_failure_that_shows_no_secret(
    r: redis.Redis,
    provider: tuple[OAuthProvider, str],
    oauth_dovecot: Dovecot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, url = provider
    monkeypatch.setenv("OAUTH_REFRESH_TOKEN", "rt-revoked-secret-value")
    caplog.set_level(logging.DEBUG)
    email = connector(r, oauth_dovecot, tmp_path, **options(url))
    with pytest.raises(AuthFailed, match=r"invalid_grant.*oauth_refresh_token") as refused:
        await email.fetch(None)
    monkeypatch.setenv("OAUTH_CLIENT_SECRET", "wrong-client-secret")
    wrong_client = connector(r, oauth_dovecot, tmp_path, **options(url))
    with pytest.raises(AuthFailed, match="401 invalid_client") as refused_client:
        await wrong_client.fetch(None)
    for secret in ("rt-revoked-secret-value", "wrong-client-secret", CLIENT_SECRET):
        assert secret not in str(refused.value) + str(refused_client.value) + caplog.text
    await email.stop()
    await wrong_client.stop()


async def test_a_provider_that_cannot_be_reached_is_transient(
    r: redis.Redis, oauth_dovecot: Dovecot, tmp_path: Path
) -> None:
    from helpline.connectors.emulation import free_port
    from helpline.connectors.errors import Transient

    email = connector(r, oauth_dovecot, tmp_path, **options(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(Transient, match=r"oauth token endpoint .*cannot reach it"):
        await email.fetch(None)
    await email.stop()


def test_oauth_options_are_checked() -> None:
    base = {"address": "support@helpline.test", "imap_host": "imap.example.com", "smtp_host": "smtp.example.com"}
    with pytest.raises(ValidationError, match="oauth_token_url is required"):
        EmailOptions.model_validate({**base, "auth": "oauth2"})
    with pytest.raises(ValidationError, match="must be https"):
        EmailOptions.model_validate({**base, "auth": "oauth2", "oauth_token_url": "http://login.example.com/token"})
    ok = EmailOptions.model_validate(
        {**base, "auth": "oauth2", "oauth_token_url": "https://oauth2.googleapis.com/token"}
    )
    assert ok.auth == "oauth2" and ok.oauth_mechanism == "auto"
    with pytest.raises(ValidationError, match="oauth_mechanism"):
        EmailOptions.model_validate(
            {
                **base,
                "auth": "oauth2",
                "oauth_mechanism": "plain",
                "oauth_token_url": "https://oauth2.googleapis.com/token",
            }
        )


def test_the_mechanism_is_chosen_from_what_the_server_offers() -> None:
    import base64

    assert sasl.choose("auto", {"IMAP4rev1", "AUTH=PLAIN", "AUTH=XOAUTH2", "AUTH=OAUTHBEARER"}) == "OAUTHBEARER"
    assert sasl.choose("auto", ["login", "xoauth2"]) == "XOAUTH2"  # aiosmtplib's EHLO names
    assert sasl.choose("auto", []) == "XOAUTH2"
    assert sasl.choose("oauthbearer", ["xoauth2"]) == "OAUTHBEARER"
    bearer = base64.b64decode(sasl.initial_response("OAUTHBEARER", "a,b=c@x.test", "tok", "imap.x.test", 993))
    assert bearer == b"n,a=a=2Cb=3Dc@x.test,\x01host=imap.x.test\x01port=993\x01auth=Bearer tok\x01\x01"


def test_a_missing_oauth_secret_is_named(
    r: redis.Redis, oauth_dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpline.connectors.errors import ConfigError

    monkeypatch.delenv("OAUTH_REFRESH_TOKEN")
    with pytest.raises(ConfigError, match=r"secrets\.oauth_refresh_token: environment variable OAUTH_REFRESH_TOKEN"):
        connector(r, oauth_dovecot, tmp_path, **options("https://login.example.com"))


async def test_no_access_token_reaches_the_log_even_at_debug(
    r: redis.Redis,
    provider: tuple[OAuthProvider, str],
    oauth_dovecot: Dovecot,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, url = provider
    caplog.set_level(logging.DEBUG)  # the root at DEBUG, as `--log-level debug` sets it
    email = connector(r, oauth_dovecot, tmp_path, **options(url))
    await email.fetch(None)
    assert email.tokens is not None
    token = await email.tokens.token()
    blobs = [
        sasl.initial_response(m, "support", token, "127.0.0.1", oauth_dovecot.port) for m in ("OAUTHBEARER", "XOAUTH2")
    ]
    assert token not in caplog.text and REFRESH not in caplog.text
    assert not [b for b in blobs if b in caplog.text]
    await email.stop()
