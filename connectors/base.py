"""The contract every connector implements.

A connector is one platform account. It can pull (a polling loop driven by the runner) and/or be
pushed to (webhook routes mounted on the web app), and it sends replies. The runner, not the
connector, owns leases, cursors in Redis and retry scheduling; the connector only talks to its
platform and maps the platform's payloads to wire models and its failures to `connectors.errors`.
"""

from __future__ import annotations

import abc
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Literal, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import BaseRoute

from helpline.routing.models import Attachment, InboundMessage, OutboundReply, Wire
from helpline.routing.posting import RateLimit as RateLimit
from helpline.routing.posting import SendProgress as SendProgress
from helpline.routing.posting import SendResult as SendResult

from .capabilities import Capabilities
from .errors import ConfigError, Permanent
from .files import AttachmentStore, Blobs, Refused
from .options import ConnectorOptions, parse_options
from .publishing import OutboundPost

log = logging.getLogger(__name__)

#: Durably ingests messages; returns, per message, whether it was new. Raises if Redis fails.
Ingest = Callable[[Sequence[InboundMessage]], Awaitable[list[bool]]]
#: Dead-letters an unusable update: (platform, account, raw payload, reason); raises if not stored.
Reject = Callable[[str, str, bytes, str], Awaitable[None]]
#: The customer is typing in a thread: (platform, account, thread_key); shown to the agents.
CustomerTyping = Callable[[str, str, str], Awaitable[None]]
#: Another account's file store, found when asked: (platform, account) -> its files, or None.
FileStores = Callable[[str, str], AttachmentStore | None]


def as_payload(value: Any) -> bytes:
    """A received item as bytes for a dead letter, whatever it holds (nesting too deep for JSON
    becomes a note, not an error)."""
    try:
        return json.dumps(value, default=str).encode()
    except (ValueError, TypeError, RecursionError):
        return b"(not representable as JSON)"


class AccountSettings(BaseModel):
    """One platform account as configured in `[[accounts]]` of helpline.toml."""

    model_config = ConfigDict(extra="forbid")

    platform: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    base_url: str | None = None  # scheme, host, port and path prefix of the platform API
    mode: Literal["polling", "webhook"] = "polling"
    poll_interval: float = Field(default=2.0, gt=0, le=3600)
    language: str = "en"  # the account's default language
    # credential name -> name of the environment variable that holds it (secrets never in files)
    secrets: dict[str, str] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)

    def secret(self, name: str, environ: dict[str, str] | None = None) -> str:
        import os

        env = os.environ if environ is None else environ
        var = self.secrets.get(name)
        if var is None:
            raise ConfigError(f"accounts.{self.name}.secrets.{name}: not configured")
        value = env.get(var)
        if not value:
            raise ConfigError(f"accounts.{self.name}.secrets.{name}: environment variable {var} is not set")
        return value


@dataclass(frozen=True)
class PollBatch:
    """What one poll returned: messages to ingest, and the cursor to store once they are durable.

    `skipped` counts platform items the connector saw and deliberately ignored (its own posts,
    other bots, unsupported updates); the cursor still moves past them.
    """

    messages: Sequence[InboundMessage]
    cursor: str | None
    skipped: int = 0
    more: bool = False  # the platform has more right now: poll again without waiting
    warning: str | None = None  # the poll worked but something is wrong (a cursor ahead): health says so


class ConnectorHealth(Wire):
    platform: str
    account: str
    mode: str
    status: Literal["starting", "ok", "degraded", "down"] = "starting"
    last_poll_at: datetime | None = None
    lag_seconds: float | None = None
    last_error: str | None = None
    rate_limit_remaining: int | None = None
    pending_updates: int | None = None


@dataclass
class ConnectorContext:
    """What the runner hands a connector: nothing global, everything passed in."""

    ingest: Ingest
    #: For small connector-owned maps (thread roots, chat migrations) under
    #: `routing.keys.connector_state`; None when the connector runs without Redis (tests).
    redis: Any = None
    http_transport: httpx.AsyncBaseTransport | None = None  # tests inject one; None = the network
    public_base_url: str | None = None  # where the platform reaches our webhooks
    reject: Reject | None = None  # `StreamBus.reject`; None: unusable updates are only logged
    customer_typing: CustomerTyping | None = None  # None: nobody is told (no console in this process)
    blobs: Blobs | None = None  # the `[files]` backend; None: each account's attachments_dir
    #: Where another account keeps its files (a web chat hands its visitor the files of their
    #: answer by e-mail, which the e-mail account stored); None: no other account's.
    file_stores: FileStores | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Connector(abc.ABC):
    """One platform account. Subclasses set `platform` and implement the abstract methods."""

    platform: ClassVar[str]
    #: The platform dedupes posts by a key we send (e.g. Mastodon's Idempotency-Key), so a post
    #: whose outcome is unknown may be retried safely.
    idempotent_send: ClassVar[bool] = False
    supports_polling: ClassVar[bool] = True
    supports_webhook: ClassVar[bool] = False
    #: The model of the `[accounts.options]` this connector reads (see `connectors.options`): any
    #: other key, or a value out of its range, is a configuration error naming it.
    options_model: ClassVar[type[ConnectorOptions]] = ConnectorOptions

    def __init__(self, settings: AccountSettings, context: ConnectorContext) -> None:
        if settings.platform != self.platform:
            raise ConfigError(f"accounts.{settings.name}.platform: expected {self.platform!r}")
        self.options = parse_options(self.options_model, self.platform, settings.name, settings.options)
        if settings.mode == "webhook" and not self.supports_webhook:
            raise ConfigError(f"accounts.{settings.name}.mode: {self.platform} has no webhook mode")
        if settings.mode == "polling" and not self.supports_polling:
            raise ConfigError(f"accounts.{settings.name}.mode: {self.platform} has no polling mode")
        self.settings = settings
        self.context = context
        self._health = ConnectorHealth(platform=self.platform, account=settings.name, mode=settings.mode)

    @property
    def account(self) -> str:
        return self.settings.name

    async def reject_update(self, payload: bytes, reason: str) -> None:
        """Set aside an update this account received but cannot use, with the reason (never its
        body in the log). Raises if it could not be stored: then it must not be acknowledged."""
        log.warning("%s/%s: unusable update dead-lettered: %s", self.platform, self.account, reason[:200])
        if self.context.reject is not None:
            await self.context.reject(self.platform, self.account, payload, reason)

    # lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open clients; for webhook mode, register the webhook with the platform."""

    async def stop(self) -> None:
        """Close clients. Safe to call twice."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # pull ------------------------------------------------------------------------------------
    async def fetch(self, cursor: str | None) -> PollBatch:
        """Fetch what arrived after `cursor`. Must not acknowledge anything to the platform that
        is not yet durable: the runner stores the returned cursor only after ingest succeeded."""
        raise NotImplementedError(f"{self.platform} connector does not poll")

    # push ------------------------------------------------------------------------------------
    def webhook_routes(self) -> Sequence[BaseRoute]:
        """Routes mounted under /webhooks/<platform>/<account>; they verify, ingest, then 200."""
        return ()

    # send ------------------------------------------------------------------------------------
    @abc.abstractmethod
    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        """Post a reply into its thread with its visibility. Raises a `ConnectorError`.

        Parts listed in `progress.posted` were posted by an earlier attempt: skip them, and
        `await progress.record(id)` after each new part is accepted by the platform."""

    async def split_thread(self, thread_key: str, messages: Sequence[InboundMessage]) -> str | None:
        """Give these messages of `thread_key` a thread of their own, so what answers them later
        threads there (e-mail: by their Message-IDs); returns that thread's key, the same for the
        same messages (idempotent). None (the default): this platform's threads cannot be split."""
        return None

    async def arrived_elsewhere(self, message: InboundMessage, via: str) -> None:
        """A customer's message for one of this account's threads that came in through another
        channel, the platform `via` (the answer to the mailed copy of a web chat reply; see
        `connectors.crossings`), already durable: show it where the customer follows the thread.
        Called again for the same message after a crash or a re-read, so it must be idempotent.
        Default: nothing to show."""

    async def typing(self, thread_key: str) -> None:
        """Show the customer that an agent is writing a reply in `thread_key`, where the platform
        can (the web chat's indicator). A hint: best effort, never queued or retried. Default: none."""

    def rate_limits(self, reply: OutboundReply) -> Sequence[RateLimit]:
        """Shared budgets this reply spends before it is posted (checked by the sender)."""
        return ()

    def poll_rate_limits(self) -> Sequence[RateLimit]:
        """Shared budgets one `fetch` spends before it runs (checked by the poll runner); a budget
        with the same key as a reply's is shared with the replies (Mastodon's API calls)."""
        return ()

    # publish ---------------------------------------------------------------------------------
    async def publish(self, post: OutboundPost, progress: SendProgress) -> SendResult:
        """Post an announcement (`post.parts`, in order) to a timeline, channel or subscriber.
        Same contract as `send`: skip `progress.posted`, record each accepted part."""
        raise Permanent(f"{self.platform} connector does not publish announcements")

    def publish_rate_limits(self, post: OutboundPost) -> Sequence[RateLimit]:
        """Shared budgets this post spends before it is posted (checked by the publisher)."""
        return ()

    # files -----------------------------------------------------------------------------------
    #: The files this account stored (attachments it downloaded, images agents attached), by
    #: their `platform_file_id`; None when it stores none.
    files: AttachmentStore | None = None

    async def keep_file(self, data: bytes, file_name: str, mime_type: str) -> Attachment | Refused:
        """Store a file an agent attaches to a reply (see `Capabilities.reply_files`). Idempotent."""
        return Refused(file_name, mime_type, f"{self.platform} replies carry no files")

    # capabilities ----------------------------------------------------------------------------
    @classmethod
    def declared_capabilities(cls, options: ConnectorOptions) -> Capabilities:
        """What the platform allows (lengths and counting, splitting, buttons, visibilities, where
        announcements go), from the class and its options alone: no network, no secrets."""
        return Capabilities()

    def capabilities(self) -> Capabilities:
        """What this account allows now; a connector that learns a limit at start (Mastodon: the
        instance's) answers with it."""
        return self.declared_capabilities(self.options)

    # health ----------------------------------------------------------------------------------
    def health(self) -> ConnectorHealth:
        return self._health

    def _set_health(self, **changes: Any) -> None:
        self._health = self._health.model_copy(update=changes)

    def report_credentials(self, problem: str | None) -> None:
        """A sender or publisher found the credentials refused at run time (`problem`, the
        reason) or accepted again (None): the account's health says so while it lasts."""
        if problem is not None:
            self._set_health(status="down", last_error=problem)
        elif self._health.status == "down":
            self._set_health(status="ok", last_error=None)


def buttons_as_text(reply: OutboundReply) -> str:
    """Capability fallback: a platform without buttons gets the choices as a numbered list."""
    if not reply.buttons:
        return reply.text
    if all(b.label == b.data for b in reply.buttons):  # e.g. a 1-5 rating: the label is the answer
        return f"{reply.text}\n\n" + "  ".join(f"[{b.label}]" for b in reply.buttons)
    choices = "\n".join(f"{b.data} — {b.label}" for b in reply.buttons)
    return f"{reply.text}\n\n{choices}"
