"""One IMAP session on one mailbox, with aioimaplib: list new UIDs, fetch, move, IDLE.

Errors map to the connector errors: a refused login is `AuthFailed`, anything else (a refused
connection, a timeout, a server that hung up) is `Transient`, and the session is dropped so the
next poll opens a new one. Mail is fetched with BODY.PEEK[]: reading it changes nothing on the
server (no \\Seen flag), so the mailbox stays the customer service team's to use in a mail client too.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Sequence
from typing import Any

import aioimaplib

from helpline.connectors.errors import AuthFailed, ConnectorError, Transient

from . import sasl
from .oauth import AccessTokens

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_UIDNEXT = re.compile(rb"UIDNEXT (\d+)")
_FETCH_UID = re.compile(rb"\(.*?UID (\d+)")
_NEWS = re.compile(rb"^\d+ (?:EXISTS|RECENT)$")


def _check(response: Any, what: str) -> list[bytes]:
    if response.result != "OK":
        text = b" ".join(bytes(x) for x in response.lines[-1:]).decode(errors="replace")
        raise Transient(f"imap {what}: {response.result} {text}"[:300])
    return [bytes(line) for line in response.lines]


def uid_set(uids: Sequence[int]) -> str:
    """A compact UID set: "3:7,9,12:13"."""
    ranges: list[str] = []
    ordered = sorted(set(uids))
    start = prev = ordered[0]
    for uid in [*ordered[1:], None]:
        if uid is not None and uid == prev + 1:
            prev = uid
            continue
        ranges.append(str(start) if start == prev else f"{start}:{prev}")
        if uid is not None:
            start = prev = uid
    return ",".join(ranges)


def _answer_sasl_errors(protocol: Any) -> None:
    """A refused access token gets a continuation (`+ <base64 JSON error>`) that the client must
    answer (`sasl.after_error`) before the server says NO; aioimaplib (2.0) leaves it unanswered,
    so the login would wait for the timeout. Answer it on this connection's protocol."""
    original = protocol._continuation

    def continuation(line: bytes) -> None:
        command = protocol.pending_sync_command
        if command is not None and command.name == "AUTHENTICATE":
            protocol.send(sasl.after_error(str(command.args[0])))
            return
        original(line)

    protocol._continuation = continuation


async def _authenticate(protocol: Any, mechanism: str, response: str) -> Any:
    """AUTHENTICATE with an initial response (RFC 4959), as aioimaplib's `xoauth2` does for its
    one mechanism: under the protocol's state lock, AUTH once the server says OK. The response
    (it holds the token) is scrubbed from aioimaplib's debug log."""
    async with protocol.state_condition:
        command = aioimaplib.Command("AUTHENTICATE", protocol.new_tag(), mechanism, response, loop=protocol.loop)
        answer = await protocol.execute(command, scrub=response)
        if answer.result == "OK":
            protocol.state = aioimaplib.AUTH
        protocol.state_condition.notify_all()
        return answer


class ImapSession:
    def __init__(
        self,
        host: str,
        port: int,
        tls: ssl.SSLContext | None,
        username: str,
        password: str,
        mailbox: str,
        timeout: float,
        tokens: AccessTokens | None = None,
        starttls: bool = False,
        oauth_mechanism: str = "auto",
    ) -> None:
        self.host, self.port, self.tls = host, port, tls  # tls: implicit TLS with this context ...
        self.starttls = starttls  # ... or, with starttls, upgraded to it before the login
        self._username, self._password = username, password
        self._tokens = tokens  # OAuth: log in with access tokens instead of the password ...
        self._oauth_mechanism = oauth_mechanism  # ... by this SASL mechanism (`sasl.choose`)
        self.mechanism = ""  # how the last login went: LOGIN, OAUTHBEARER or XOAUTH2
        self.mailbox = mailbox
        self.timeout = timeout
        self.client: Any = None
        self.uidvalidity = 0
        self.uidnext = 0
        self.capabilities: set[str] = set()

    async def open(self) -> None:
        try:
            if self.tls is not None and not self.starttls:
                client = aioimaplib.IMAP4_SSL(
                    host=self.host, port=self.port, timeout=self.timeout, ssl_context=self.tls
                )
            else:
                client = aioimaplib.IMAP4(host=self.host, port=self.port, timeout=self.timeout)
            self.client = client
            await client.wait_hello_from_server()
            if self.starttls and self.tls is not None:
                await self._start_tls(client.protocol, self.tls)
            login = await self._login(client)
        except (OSError, TimeoutError, aioimaplib.AioImapException, ssl.SSLError) as exc:
            await self.close()
            raise Transient(f"imap {self.host}:{self.port}: cannot connect: {type(exc).__name__}: {exc}") from None
        except ConnectorError:  # the token endpoint's answer (refused, unreachable)
            await self.close()
            raise
        if login.result != "OK":
            await self.close()
            raise AuthFailed(f"imap {self.host}:{self.port}: login refused for the configured username")
        self.capabilities = {c.upper() for c in getattr(client.protocol, "capabilities", set())}
        await self.select()

    async def _start_tls(self, protocol: Any, context: ssl.SSLContext) -> None:
        """STARTTLS (RFC 3501 6.2.1), which aioimaplib (2.0) lists but does not carry out: the
        command, then asyncio's TLS upgrade of the same connection, then the capabilities asked
        again (only those said over TLS count). A server that does not offer it is refused: the
        login never goes out unencrypted."""
        if "STARTTLS" not in {c.upper() for c in protocol.capabilities}:
            await asyncio.wait_for(protocol.capability(), self.timeout)
        if "STARTTLS" not in {c.upper() for c in protocol.capabilities}:
            raise Transient(
                f"imap {self.host}:{self.port}: the server offers no STARTTLS; not logging in "
                "unencrypted (options.imap_security)"
            )
        command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
        response = await asyncio.wait_for(protocol.execute(command), self.timeout)
        if response.result != "OK":
            raise Transient(f"imap {self.host}:{self.port}: STARTTLS refused: {response.result}")
        loop = asyncio.get_running_loop()
        protocol.transport = await asyncio.wait_for(
            loop.start_tls(protocol.transport, protocol, context, server_hostname=self.host), self.timeout
        )
        await asyncio.wait_for(protocol.capability(), self.timeout)

    async def _login(self, client: Any) -> Any:
        if self._tokens is None:
            self.mechanism = "LOGIN"
            return await client.login(self._username, self._password)
        protocol = client.protocol
        _answer_sasl_errors(protocol)
        self.mechanism = mechanism = sasl.choose(self._oauth_mechanism, protocol.capabilities)
        for _ in range(2):  # a token revoked before its expiry is replaced once
            token = await self._tokens.token()
            first = sasl.initial_response(mechanism, self._username, token, self.host, self.port)
            response = await asyncio.wait_for(_authenticate(protocol, mechanism, first), self.timeout)
            if response.result == "OK":
                break
            self._tokens.forget(token)
        return response

    async def select(self) -> None:
        lines = _check(await self._call(self.client.select(self.mailbox)), f"select {self.mailbox}")
        joined = b" ".join(lines)
        validity = _UIDVALIDITY.search(joined)
        if validity is None:
            raise Transient(f"imap select {self.mailbox}: the server sent no UIDVALIDITY")
        self.uidvalidity = int(validity.group(1))
        nxt = _UIDNEXT.search(joined)
        self.uidnext = int(nxt.group(1)) if nxt else 0

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await asyncio.wait_for(awaitable, self.timeout)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            await self.close()
            raise Transient(f"imap {self.host}:{self.port}: {type(exc).__name__}: {exc}") from None

    async def uids_after(self, last: int) -> list[int]:
        """UIDs above `last`, ascending. (`n:*` always includes the highest UID, even below n.)"""
        lines = _check(await self._call(self.client.uid("fetch", f"{last + 1}:*", "(UID)")), "fetch uids")
        uids = {int(m.group(1)) for line in lines if (m := _FETCH_UID.search(line))}
        return sorted(u for u in uids if u > last)

    async def fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
        """The raw mails of these UIDs (those still there)."""
        if not uids:
            return {}
        response = await self._call(self.client.uid("fetch", uid_set(uids), "(UID BODY.PEEK[])"))
        lines = response.lines if response.result == "OK" else _check(response, "fetch")
        found: dict[int, bytes] = {}
        current: int | None = None
        for line in lines:
            if isinstance(line, bytearray) and current is not None:
                found[current] = bytes(line)
                current = None
                continue
            match = _FETCH_UID.search(bytes(line))
            if match is not None and b"BODY[]" in bytes(line):
                current = int(match.group(1))
        return found

    async def move(self, uids: Sequence[int], folder: str) -> None:
        """Move mail out of the mailbox (MOVE, else COPY + delete + UID EXPUNGE)."""
        if not uids:
            return
        spec = uid_set(uids)
        if "MOVE" in self.capabilities:
            _check(await self._call(self.client.uid("move", spec, folder)), f"move to {folder}")
            return
        _check(await self._call(self.client.uid("copy", spec, folder)), f"copy to {folder}")
        _check(await self._call(self.client.uid("store", spec, "+FLAGS.SILENT", "(\\Deleted)")), "delete")
        if "UIDPLUS" in self.capabilities:
            _check(await self._call(self.client.uid("expunge", spec)), "expunge")
        else:
            _check(await self._call(self.client.expunge()), "expunge")

    @property
    def can_idle(self) -> bool:
        return "IDLE" in self.capabilities

    async def wait_for_news(self, seconds: float) -> bool:
        """IDLE up to `seconds`; True if the server announced new mail."""
        client = self.client
        loop = asyncio.get_running_loop()
        try:
            idle = await client.idle_start(timeout=seconds + 5)
            news = False
            # One deadline for the whole wait: other pushes (flags, expunges, keep-alives) must not
            # restart it, or a busy mailbox keeps the poll past its lease.
            deadline = loop.time() + seconds
            try:
                while not news and (left := deadline - loop.time()) > 0:
                    pushed = await client.wait_server_push(timeout=left)
                    if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                        break
                    news = any(_NEWS.match(bytes(line)) for line in pushed if isinstance(line, bytes | bytearray))
            except TimeoutError:
                pass
            client.idle_done()
            await asyncio.wait_for(idle, self.timeout)
            return news
        except (OSError, TimeoutError, aioimaplib.AioImapException) as exc:
            await self.close()
            raise Transient(f"imap idle: {type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            if getattr(client.protocol, "state", "") in ("AUTH", "SELECTED"):
                await asyncio.wait_for(client.logout(), 2)
        except Exception:  # noqa: S110 - closing a broken session: nothing left to tell anyone
            pass
        transport = getattr(client.protocol, "transport", None)
        if transport is not None:
            transport.close()
