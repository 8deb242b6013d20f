"""The web chat connector: visitors write through the widget's endpoints (mounted like webhooks),
replies are appended to the chat's event stream, which the widget reads live.

`send` is idempotent: a reply is appended once per reply id, so the sender may retry freely.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import ClassVar

from starlette.routing import BaseRoute

from helpline.connectors.base import AccountSettings, Connector, ConnectorContext, SendProgress, SendResult
from helpline.connectors.capabilities import Capabilities, TextRules
from helpline.connectors.errors import ConfigError, Permanent
from helpline.connectors.files import AttachmentStore
from helpline.connectors.options import ConnectorOptions
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.routing.models import InboundMessage, OutboundReply, Visibility

from .chats import Chats
from .options import WebchatOptions
from .web import Desk, routes

REPLY_LIMIT = 8000


class WebchatConnector(Connector):
    platform = "webchat"
    idempotent_send = True  # appended once per reply id (chats.Chats.append)
    supports_polling = False
    supports_webhook = True
    options_model: ClassVar[type[ConnectorOptions]] = WebchatOptions

    def __init__(self, settings: AccountSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        assert isinstance(self.options, WebchatOptions)
        self.web_options = self.options
        # read now, so that `helpline config check` names a missing secret
        self.secret = settings.secret("identity_secret") if self.options.identity != "off" else None
        self._desk: Desk | None = None
        self._set_health(status="ok")

    @property
    def desk(self) -> Desk:
        """The endpoints' state; built on first use (a configuration check runs without Redis)."""
        if self._desk is None:
            client = self.context.redis
            if client is None:
                raise ConfigError(f"accounts.{self.account}: the web chat keeps its chats in Redis")
            o = self.web_options
            self._desk = Desk(
                self.account,
                o,
                self.secret,
                Chats(client, self.account, o.history, o.keep_days),
                SharedRateLimiter(client),
                self.context.ingest,
                self.context.customer_typing,
                self._mailed_files,
            )
        return self._desk

    def _mailed_files(self) -> AttachmentStore | None:
        """Where the files of the visitor's answers by e-mail are: the store of the e-mail account
        that mails this chat's answers (and reads the visitor's)."""
        via = self.web_options.email_account
        stores = self.context.file_stores
        return stores("email", via) if via is not None and stores is not None else None

    @property
    def chats(self) -> Chats:
        return self.desk.chats

    def webhook_routes(self) -> Sequence[BaseRoute]:
        return routes(self.desk)

    async def send(self, reply: OutboundReply, progress: SendProgress) -> SendResult:
        """Append the reply to its chat (once per reply id); the widget shows it live."""
        if await self.chats.owner(reply.thread_key) is None:
            raise Permanent("the chat has expired or never existed")
        fields = {
            "type": "message",
            "from": "agent" if reply.sender.startswith("agent:") else "bot",
            "text": reply.text,
        }
        if reply.notice:  # the widget shows more: off hours, a form for an e-mail address
            fields["notice"] = reply.notice
        if reply.buttons:
            fields["buttons"] = json.dumps(
                [{"label": b.label, "data": b.data} for b in reply.buttons], ensure_ascii=False
            )
        event_id = await self.chats.append(reply.thread_key, f"out:{reply.reply_id}", fields)
        return SendResult((event_id,))

    async def arrived_elsewhere(self, message: InboundMessage, via: str) -> None:
        """The visitor answered by another channel (the mailed copy of a reply): the widget shows
        it as theirs, with the files it carried (theirs to download). Appended once per message. Not an
        automatic mail (their mailbox's out-of-office notice): the agents see it, the chat does not."""
        if message.auto_submitted:
            return
        visitor = await self.chats.owner(message.thread_key)
        if visitor is None:
            return  # the chat expired: the conversation has it, the widget has nothing left to show
        fields = {"type": "message", "from": "visitor", "text": message.text, "via": via}
        files = [
            {"name": a.file_name or a.kind, "size": a.size_bytes, "id": a.platform_file_id, "type": a.mime_type}
            for a in message.attachments
            if a.kind != "original"
        ]
        if files:  # the visitor downloads them (`POST /file`) from where the e-mail account keeps them
            fields["files"] = json.dumps(files, ensure_ascii=False)
        posted = f"elsewhere:{hashlib.sha256(message.dedupe_id.encode()).hexdigest()[:32]}"
        await self.chats.append(message.thread_key, posted, fields, visitor=visitor)

    async def typing(self, thread_key: str) -> None:
        """The visitor sees "Support is typing…" for a few seconds (if connected now)."""
        if await self.chats.owner(thread_key) is not None:
            await self.chats.signal(thread_key, {"type": "typing", "from": "agent"})

    @classmethod
    def declared_capabilities(cls, options: ConnectorOptions) -> Capabilities:
        rules = TextRules(limit=REPLY_LIMIT)
        return Capabilities(
            public=rules,
            direct=rules,
            buttons=True,
            visibilities=frozenset({Visibility.PRIVATE}),
            waiting_notice=True,
            email_copies=options.email_account if isinstance(options, WebchatOptions) else None,
        )
