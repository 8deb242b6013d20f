"""Real mail servers on loopback for the tests and the demo: Dovecot (IMAP) configured in a
temporary directory, and an aiosmtpd relay that records every mail it is handed and delivers
it into the Dovecot mailbox of its recipient. Not part of what a production install runs.

Dovecot runs without touching the system's configuration. As an ordinary user every process of
it runs as that user; as root, Dovecot insists on dropping privileges, so its login and internal
processes run as the `dovenull` and `dovecot` users the Debian package creates, and the mailboxes
belong to `dovecot`.
"""

from __future__ import annotations

import asyncio
import base64
import grp
import imaplib
import logging
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# The relay asks for a login over plain SMTP: it listens on loopback only. aiosmtpd logs every
# SMTP command at INFO on "mail.log"; the demo's console output is not the place for it.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
if logging.getLogger("mail.log").level == logging.NOTSET:
    logging.getLogger("mail.log").setLevel(logging.ERROR)

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dovecot:
    """An IMAP server with plain-text login on 127.0.0.1 (loopback only). With `tls` (a PEM
    certificate and key file), it also serves implicit TLS (993-style) on `tls_port`. With
    `oauth_introspection_url`, it also takes the `oauth_mechanisms` logins (XOAUTH2 and
    OAUTHBEARER), each access token checked by Dovecot's oauth2 passdb at that RFC 7662 endpoint
    (see `oauth_emulator`)."""

    def __init__(
        self,
        users: dict[str, str],
        root: Path | None = None,
        tls: tuple[Path, Path] | None = None,
        oauth_introspection_url: str | None = None,
        oauth_mechanisms: tuple[str, ...] = ("xoauth2", "oauthbearer"),
    ) -> None:
        self.users = users
        self.oauth_introspection_url = oauth_introspection_url
        self.oauth_mechanisms = " ".join(oauth_mechanisms)
        self.port = free_port()
        self.tls = tls
        self.tls_port = free_port() if tls else 0
        self.root = root or Path(tempfile.mkdtemp(prefix="helpline-dovecot-"))
        self.process: subprocess.Popen[bytes] | None = None

    def _identity(self) -> tuple[str, str, int, int]:
        """(internal user, login user, mail uid, mail gid)."""
        if os.geteuid() != 0:
            me = pwd.getpwuid(os.geteuid())
            return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid
        dovecot = pwd.getpwnam("dovecot")
        return "dovecot", "dovenull", dovecot.pw_uid, dovecot.pw_gid

    def config(self) -> str:
        internal, login, uid, gid = self._identity()
        r = self.root
        services = (
            ""
            if os.geteuid() == 0
            else "".join(f"service {name} {{\n  user = {internal}\n}}\n" for name in ("auth", "auth-worker", "stats"))
        )
        tls = "ssl = no" if self.tls is None else f"ssl = yes\nssl_cert = <{self.tls[0]}\nssl_key = <{self.tls[1]}"
        mechanisms, oauth = "plain login", ""
        if self.oauth_introspection_url:
            mechanisms += " " + self.oauth_mechanisms
            oauth = (
                f"passdb {{\n  driver = oauth2\n  mechanisms = {self.oauth_mechanisms}\n  args = {r}/oauth2.conf\n}}\n"
            )
        return f"""
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
protocols = imap
listen = 127.0.0.1
{tls}
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login}
first_valid_uid = {uid}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {r}/passwd
}}
{oauth}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={r}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
  }}
}}
service anvil {{
  chroot =
}}
{services}"""

    def start(self) -> Dovecot:
        _, _, uid, gid = self._identity()
        self.root.chmod(0o755)  # the mail processes (another user when we are root) reach their homes
        for sub in ("run", "state", "home"):
            (self.root / sub).mkdir(exist_ok=True)
        os.chown(self.root / "home", uid, gid)
        (self.root / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in self.users.items()))
        if self.oauth_introspection_url:  # ask the provider about every token, as for Google or Microsoft
            (self.root / "oauth2.conf").write_text(
                f"introspection_mode = post\nintrospection_url = {self.oauth_introspection_url}\n"
                "force_introspection = yes\nusername_attribute = username\n"
                "active_attribute = active\nactive_value = true\n"
            )
        (self.root / "dovecot.conf").write_text(self.config())
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"dovecot exited: {err} {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not start: {self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def append(self, user: str, raw: bytes, mailbox: str = "INBOX") -> None:
        """Deliver a mail into a user's mailbox, as the mail server would."""
        with imaplib.IMAP4("127.0.0.1", self.port, timeout=10) as imap:
            imap.login(user, self.users[user])
            imap.append(mailbox, None, None, raw)

    def mails(self, user: str, mailbox: str = "INBOX") -> list[bytes]:
        """Every mail in a user's mailbox, oldest first (read without marking them seen)."""
        with imaplib.IMAP4("127.0.0.1", self.port, timeout=10) as imap:
            imap.login(user, self.users[user])
            imap.select(mailbox, readonly=True)
            _, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
            return [bytes(item[1]) for item in data if isinstance(item, tuple)]


@dataclass(frozen=True)
class Relayed:
    mail_from: str
    recipients: tuple[str, ...]
    content: bytes
    encrypted: bool = False  # handed over TLS (STARTTLS or implicit)

    @property
    def message(self) -> Any:
        return message_from_bytes(self.content, policy=policy.default)


class Relay:
    """An SMTP server (aiosmtpd) on 127.0.0.1 that requires the given login, records what it is
    handed and delivers it to the Dovecot users named in `mailboxes` (address -> user).

    `before_accept(relayed)` runs after the mail was received and before the server answers
    250: a test kills the sending process there to cut the line after acceptance.
    With `tls` (a server context), it requires STARTTLS before anything else, or with
    `implicit_tls` speaks TLS from the first byte (465-style). With `oauth_introspection_url`, it
    also takes an `oauth_mechanisms` login (XOAUTH2, OAUTHBEARER) for `username` whose access
    token that RFC 7662 endpoint calls active.
    """

    def __init__(
        self,
        username: str,
        password: str,
        dovecot: Dovecot | None = None,
        mailboxes: dict[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        oauth_introspection_url: str | None = None,
        oauth_mechanisms: tuple[str, ...] = ("XOAUTH2", "OAUTHBEARER"),
    ) -> None:
        self.port = free_port()
        self._username = username
        self._introspection_url = oauth_introspection_url
        self.oauth_logins: list[bool] = []  # each OAuth attempt: accepted or not ...
        self.oauth_mechanisms_used: list[str] = []  # ... and by which mechanism
        self.error_answers: list[bytes] = []  # what clients answered an OAUTHBEARER error status
        self.received: list[Relayed] = []
        self.before_accept: Callable[[Relayed], None] | None = None
        self.refuse: dict[str, str] = {}  # recipient -> "550 ..." answer
        self._lock = threading.Lock()
        self._dovecot = dovecot
        self._mailboxes = dict(mailboxes or {})

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == username
                and auth_data.password.decode() == password
            )
            return AuthResult(success=ok, handled=False)

        encryption: dict[str, Any] = {}
        if tls is not None:
            encryption = {"ssl_context": tls} if implicit_tls else {"tls_context": tls, "require_starttls": True}
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            auth_required=True,
            auth_require_tls=False,
            auth_exclude_mechanism=[
                m for m in ("XOAUTH2", "OAUTHBEARER") if not oauth_introspection_url or m not in oauth_mechanisms
            ],
            **encryption,
        )

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        """SASL XOAUTH2: `user=<name>^Aauth=Bearer <token>^A^A`, the token asked about at the provider."""
        blob = await self._initial_response(server, args)
        fields = dict(part.split("=", 1) for part in blob.split("\x01") if "=" in part)
        return await self._oauth_login(server, "XOAUTH2", fields.get("user"), fields.get("auth", ""))

    async def auth_OAUTHBEARER(self, server: Any, args: list[str]) -> AuthResult:
        """SASL OAUTHBEARER (RFC 7628): `n,a=<name>,^Ahost=..^Aport=..^Aauth=Bearer <token>^A^A`."""
        blob = await self._initial_response(server, args)
        header, _, rest = blob.partition("\x01")
        user = next((p[2:] for p in header.split(",") if p.startswith("a=")), None)
        fields = dict(part.split("=", 1) for part in rest.split("\x01") if "=" in part)
        user = user.replace("=2C", ",").replace("=3D", "=") if user else None
        return await self._oauth_login(server, "OAUTHBEARER", user, fields.get("auth", ""))

    @staticmethod
    async def _initial_response(server: Any, args: list[str]) -> str:
        if len(args) > 1:
            return base64.b64decode(args[1]).decode(errors="replace")
        answer = await server.challenge_auth("", encode_to_b64=False)  # decoded from base64 already
        return answer.decode(errors="replace") if isinstance(answer, bytes) else ""

    async def _oauth_login(self, server: Any, mechanism: str, user: str | None, auth: str) -> AuthResult:
        token = auth.removeprefix("Bearer ")
        ok = False
        if user == self._username and token and self._introspection_url:
            async with httpx.AsyncClient(timeout=10) as client:
                found = (await client.post(self._introspection_url, data={"token": token})).json()
            ok = found.get("active") is True and found.get("username") == self._username
        self.oauth_logins.append(ok)
        self.oauth_mechanisms_used.append(mechanism)
        if not ok and mechanism == "OAUTHBEARER":  # RFC 7628 3.2.2: an error status, the client ends it
            status = base64.b64encode(b'{"status":"invalid_token"}').decode()
            ended = await server.challenge_auth(status, encode_to_b64=False)
            self.error_answers.append(ended if isinstance(ended, bytes) else b"")
        return AuthResult(success=ok, handled=False)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        encrypted = server.transport is not None and server.transport.get_extra_info("ssl_object") is not None
        relayed = Relayed(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.original_content), encrypted)
        with self._lock:
            self.received.append(relayed)
        for address in relayed.recipients:
            user = self._mailboxes.get(address.lower())
            if user is not None and self._dovecot is not None:
                await asyncio.to_thread(self._dovecot.append, user, relayed.content)
        if self.before_accept is not None:
            self.before_accept(relayed)
        return "250 Message accepted for delivery"

    def add_mailbox(self, address: str, user: str) -> None:
        self._mailboxes[address.lower()] = user

    def start(self) -> Relay:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
