"""The e-mail connector: one mailbox read over IMAP, answered over SMTP.

Reading: the cursor is `<UIDVALIDITY>:<last UID>`. A poll fetches the mails above the last UID
(at most `batch_size`), turns them into messages, and returns the new cursor, which the runner
stores only after the messages are durable in Redis: a crash in between reads the same mails
again and the ingest dedupe (by Message-ID) drops them, so nothing is lost or doubled. Mail is
left on the server; with `move_to`, mails below the stored cursor (durable, so safe to move)
are moved at the start of the next poll. When the mailbox's UIDVALIDITY changes (it was
recreated), every mail in it is read again and known ones are dropped by the same dedupe. With
nothing new, the poll waits in IMAP IDLE (when the server has it) for up to `idle_seconds`, so
new mail is read within a second of its arrival.

Sending: SMTP has no idempotency key. A reply's Message-ID is derived from its id; the sender
records "sending" before the SMTP transaction, so a crash between the server's acceptance and
the sent record leaves the reply *uncertain*, shown to the agents, never sent twice.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from typing import Any

import aiosmtplib
from starlette.routing import BaseRoute

from helpline.connectors.base import (
    AccountSettings,
    Connector,
    ConnectorContext,
    PollBatch,
    RateLimit,
    SendProgress,
    SendResult,
)
from helpline.connectors.capabilities import Capabilities, TextRules
from helpline.connectors.errors import AuthFailed, ConfigError, Permanent, Transient, Uncertain
from helpline.connectors.files import AttachmentStore
from helpline.connectors.options import ConnectorOptions
from helpline.routing import keys
from helpline.routing.models import InboundMessage, OutboundReply, Visibility

from . import answers, sasl
from .compose import compose, is_automatic, reply_message_id
from .imap import ImapSession
from .inbound import MailReader
from .oauth import AccessTokens, OAuthClient, TokenRefused
from .options import EmailOptions
from .parse import parse_mail
from .threads import MailIndex, SentInfo, ThreadInfo

log = logging.getLogger(__name__)
MAX_MAIL_TEXT = 65536  # an answer's text (OutboundReply's limit): one mail, never split
# aioimaplib logs every server line (mail bodies) at DEBUG: quiet unless configured on purpose.
if logging.getLogger("aioimaplib").level == logging.NOTSET:
    logging.getLogger("aioimaplib").setLevel(logging.WARNING)


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificates checked against the system's authorities, and `ca_file`'s if set (options.ca_file)."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"options.ca_file: cannot read certificate authorities from {ca_file}: {exc}") from None


def parse_cursor(cursor: str | None) -> tuple[int, int] | None:
    if not cursor:
        return None
    validity, _, last = cursor.partition(":")
    try:
        return int(validity), int(last)
    except ValueError:
        return None


class EmailConnector(Connector):
    platform = "email"
    idempotent_send = False
    supports_polling = True
    supports_webhook = False
    options_model = EmailOptions
    options: EmailOptions

    def __init__(self, settings: AccountSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        o = self.options
        self._imap_user = settings.secret("username")
        self._smtp_user = settings.secret("smtp_username") if "smtp_username" in settings.secrets else self._imap_user
        self.tokens: AccessTokens | None = None
        if o.auth == "oauth2":  # IMAP and SMTP log in with access tokens (`sasl`), no password
            self._imap_password = self._smtp_password = ""
            self.tokens = AccessTokens(
                OAuthClient(
                    token_url=o.oauth_token_url or "",
                    client_id=settings.secret("oauth_client_id"),
                    client_secret=(
                        settings.secret("oauth_client_secret") if "oauth_client_secret" in settings.secrets else None
                    ),
                    refresh_token=settings.secret("oauth_refresh_token"),
                    scope=o.oauth_scope,
                ),
                transport=context.http_transport,
                timeout=o.timeout_seconds,
                account=settings.name,
            )
        else:
            self._imap_password = settings.secret("password")
            self._smtp_password = (
                settings.secret("smtp_password") if "smtp_password" in settings.secrets else self._imap_password
            )
        self._link_secret = settings.secret("link_secret").encode() if "link_secret" in settings.secrets else None
        # The thread index lives in Redis; `helpline config check` builds connectors without it.
        self.files: AttachmentStore = o.file_store(context.blobs)
        self.index = MailIndex(context.redis, self.platform, settings.name, ttl_seconds=o.thread_memory_days * 86400)
        self.reader = MailReader(self.platform, settings.name, o.address, self.index, self.files, context.redis)
        self._session: ImapSession | None = None
        self._tls = tls_context(o.ca_file)

    # lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Nothing to open: IMAP is opened by the poller that holds the lease, SMTP per send."""

    async def stop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        if self.tokens is not None:
            await self.tokens.close()

    async def _imap(self) -> ImapSession:
        if self._session is None or self._session.client is None:
            o = self.options
            session = ImapSession(
                o.imap_host,
                o.imap_port,
                self._tls if o.imap_security != "none" else None,
                self._imap_user,
                self._imap_password,
                o.mailbox,
                o.timeout_seconds,
                tokens=self.tokens,
                starttls=o.imap_security == "starttls",
                oauth_mechanism=o.oauth_mechanism,
            )
            await session.open()
            self._session = session
        return self._session

    # pull ------------------------------------------------------------------------------------
    async def fetch(self, cursor: str | None) -> PollBatch:
        """Mails above the cursor, oldest first. Idempotent (see the module docstring)."""
        session = await self._imap()
        stored = parse_cursor(cursor)
        if stored is not None and stored[0] == session.uidvalidity:
            last = stored[1]
            if self.options.move_to and last > 0:
                await self._move_durable(session, last)
        elif stored is None and self.options.first_poll == "new":
            return PollBatch(messages=[], cursor=f"{session.uidvalidity}:{max(0, session.uidnext - 1)}")
        else:
            last = 0  # first poll of everything, or the mailbox was recreated
        await session.select()  # a fresh view: EXISTS, UIDNEXT
        uids = await session.uids_after(last)
        if not uids and self.options.idle and session.can_idle:
            if await session.wait_for_news(self.options.idle_seconds):
                return PollBatch(messages=[], cursor=f"{session.uidvalidity}:{last}", more=True)
            return PollBatch(messages=[], cursor=f"{session.uidvalidity}:{last}")
        chosen = uids[: self.options.batch_size]
        raw = await session.fetch(chosen)
        messages = []
        skipped = 0
        seen: set[str] = set()
        for uid in chosen:
            mail = raw.get(uid)
            if mail is None:  # expunged meanwhile
                skipped += 1
                continue
            try:
                outcome = await self.reader.read(mail)
            except ValueError as exc:  # one unusable mail must not stall the mailbox: it stays on the server
                log.warning("email %s: uid %s skipped, unusable: %s", self.account, uid, str(exc).splitlines()[0])
                skipped += 1
                continue
            if outcome.message is None or outcome.message.dedupe_id in seen:
                log.debug("email %s: uid %s not ingested (%s)", self.account, uid, outcome.why or "duplicate")
                skipped += 1
                continue
            seen.add(outcome.message.dedupe_id)
            messages.append(outcome.message)
        newest = chosen[-1] if chosen else last
        return PollBatch(
            messages=messages, cursor=f"{session.uidvalidity}:{newest}", skipped=skipped, more=len(uids) > len(chosen)
        )

    async def _move_durable(self, session: ImapSession, last: int) -> None:
        uids = [u for u in await session.uids_after(0) if u <= last]
        if uids:
            await session.move(uids, self.options.move_to or "")

    # send ------------------------------------------------------------------------------------
    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        """Send the answer as one mail (see the module docstring for the uncertain window)."""
        o = self.options
        if progress.posted:  # sent by an earlier attempt whose record was cut short
            return SendResult(tuple(progress.posted))
        thread = await self.index.thread(reply.thread_key)
        if thread is None:
            if not reply.recipient_id or "@" not in reply.recipient_id:
                raise Permanent(f"reply {reply.reply_id}: the thread's customer address is unknown")
            thread = ThreadInfo(thread_key=reply.thread_key, customer=reply.recipient_id)
        if reply.answers_to is not None:  # the customer's answer goes back there (`MailReader.read`)
            thread = thread.model_copy(update={"answers_to": reply.answers_to})
        if is_automatic(reply):
            await self._spend_automatic(thread.customer)
        links = None
        if self._link_secret is not None and self.context.public_base_url and reply.buttons:
            links = answers.link_maker(
                self._link_secret, self.context.public_base_url, self.platform, self.account, reply, thread.customer
            )
        message = compose(reply, thread, own_address=o.address, display_name=o.display_name, links=links)
        message_id = reply_message_id(reply, o.address)
        # Known before it leaves: a bounce or the customer's answer may arrive within a second.
        await self.index.remember_sent(
            message_id,
            thread,
            SentInfo(reply_id=reply.reply_id, conversation_id=reply.conversation_id, thread_key=reply.thread_key),
        )
        await self._smtp(message, thread.customer)
        await progress.record(message_id)
        return SendResult((message_id,))

    async def _spend_automatic(self, address: str) -> None:
        """At most `auto_replies_per_hour` automatic mails to one address per hour (a loop breaker
        for auto-responders that do not say they are one)."""
        key = keys.connector_state(self.platform, self.account, f"autocap:{address}")
        async with self.context.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 3600, nx=True)
            count, _ = await pipe.execute()
        if int(count) > self.options.auto_replies_per_hour:
            raise Permanent(
                f"automatic mails to this address are capped at {self.options.auto_replies_per_hour} "
                "per hour (options.auto_replies_per_hour)"
            )

    async def _smtp(self, message: Any, recipient: str) -> None:
        """Hand the mail to the SMTP server. With OAuth, a refused access token (revoked before its
        expiry) is replaced once: the login comes before MAIL FROM, so nothing was sent yet."""
        for last_try in (self.tokens is None, True):
            try:
                await self._smtp_once(message, recipient)
                return
            except TokenRefused:
                if last_try:
                    raise

    async def _smtp_once(self, message: Any, recipient: str) -> None:
        o = self.options
        used: list[str] = []
        password = self.tokens is None  # else the login is `_smtp_oauth`'s, after connecting
        smtp = aiosmtplib.SMTP(
            hostname=o.smtp_host,
            port=o.smtp_port,
            use_tls=o.smtp_security == "tls",
            start_tls=o.smtp_security == "starttls",
            tls_context=self._tls if o.smtp_security != "none" else None,
            timeout=o.timeout_seconds,
            username=self._smtp_user or None if password else None,
            password=self._smtp_password or None if password else None,
        )
        try:
            async with smtp:
                if self.tokens is not None:
                    used.append(await self.tokens.token())
                    await self._smtp_oauth(smtp, used[-1])
                await smtp.send_message(message, sender=o.address, recipients=[recipient])
        except aiosmtplib.SMTPAuthenticationError:
            if self.tokens is not None and used:
                self.tokens.forget(used[-1])
                raise TokenRefused(
                    f"smtp {o.smtp_host}:{o.smtp_port}: the access token was refused for the configured username"
                ) from None
            raise AuthFailed(f"smtp {o.smtp_host}:{o.smtp_port}: login refused for the configured username") from None
        except (
            aiosmtplib.SMTPConnectError,
            aiosmtplib.SMTPConnectTimeoutError,
            aiosmtplib.SMTPHeloError,
            aiosmtplib.SMTPNotSupported,
        ) as exc:
            raise Transient(f"smtp {o.smtp_host}:{o.smtp_port}: {type(exc).__name__}: {exc}") from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients]
            if all(c >= 500 for c in codes):
                raise Permanent(f"smtp refused the recipient: {exc.recipients[0].message}"[:300]) from None
            raise Transient(f"smtp deferred the recipient: {exc.recipients[0].message}"[:300]) from None
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                raise Permanent(f"smtp refused the mail: {exc.code} {exc.message}"[:300]) from None
            raise Transient(f"smtp deferred the mail: {exc.code} {exc.message}"[:300]) from None
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError) as exc:
            # The mail may have been accepted just before the line went down.
            raise Uncertain(f"smtp {o.smtp_host}:{o.smtp_port}: {type(exc).__name__}: {exc}") from None
        except (OSError, aiosmtplib.SMTPException) as exc:
            raise Transient(f"smtp {o.smtp_host}:{o.smtp_port}: {type(exc).__name__}: {exc}") from None

    async def _smtp_oauth(self, smtp: aiosmtplib.SMTP, token: str) -> None:
        """AUTH with the access token by `sasl.choose`'s mechanism (aiosmtplib knows only
        XOAUTH2). An error challenge is answered so that the server ends with its refusal."""
        o = self.options
        if smtp.is_ehlo_or_helo_needed:  # after STARTTLS the extensions are asked again
            await smtp.ehlo()
        mechanism = sasl.choose(o.oauth_mechanism, smtp.server_auth_methods)
        first = sasl.initial_response(mechanism, self._smtp_user, token, o.smtp_host, o.smtp_port)
        answer = await smtp.execute_command(b"AUTH", mechanism.encode(), first.encode())
        if answer.code == aiosmtplib.SMTPStatus.auth_continue:
            answer = await smtp.execute_command(sasl.after_error(mechanism).encode())
        if answer.code != aiosmtplib.SMTPStatus.auth_successful:
            raise aiosmtplib.SMTPAuthenticationError(answer.code, answer.message)

    def rate_limits(self, reply: OutboundReply) -> Sequence[RateLimit]:
        per_minute = self.options.sends_per_minute
        return (RateLimit("smtp", per_minute, 60.0, burst=max(1, per_minute // 6)),)

    # capabilities ----------------------------------------------------------------------------
    @classmethod
    def declared_capabilities(cls, options: ConnectorOptions) -> Capabilities:
        """Mail is private, one message per answer however long; choices become links or text."""
        whole = TextRules(limit=MAX_MAIL_TEXT, counting="characters (one mail)")
        return Capabilities(
            public=whole, direct=whole, visibilities=frozenset({Visibility.PRIVATE}), split_threads=True
        )

    # push: the signed answer links of mails (survey ratings, bot questions) ---------------------
    def webhook_routes(self) -> Sequence[BaseRoute]:
        if self._link_secret is None:
            return ()
        return answers.routes(self._link_secret, self.platform, self.account, self.context.ingest)

    # split -----------------------------------------------------------------------------------
    async def split_thread(self, thread_key: str, messages: Sequence[InboundMessage]) -> str | None:
        """The mails' own Message-IDs (read from their kept originals) now thread into a new
        thread (see `MailIndex.split`). Idempotent: the same mails give the same thread."""
        mails = []
        for message in messages:
            original = next((a for a in message.attachments if a.kind == "original"), None)
            raw = await self.files.read(original.platform_file_id) if original is not None else None
            if raw is None:
                raise Permanent(f"message {message.message_id}: its original mail is no longer stored")
            mails.append(parse_mail(raw))
        return await self.index.split(thread_key, mails) if mails else None

    # files -----------------------------------------------------------------------------------
