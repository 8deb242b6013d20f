"""The widget's endpoints, mounted under /webhooks/webchat/<account>.

- `GET  /webchat.js`  the widget (no dependency, shadow root).
- `POST /session`     {token?, user_id?, user_hash?} → {token, chats}: a visitor token (new, or the
  one given when it still identifies the same visitor) and the visitor's chats, latest first
  ([{chat, title, updated}]: the history list).
- `POST /messages`    {token, chat?, id, text} → {chat, event}: ingest one visitor message (a new
  chat when `chat` is absent). `id` is the widget's own message id: a resend is ingested once.
- `POST /events`      {token, chat, after} → server-sent events from the event id `after`.
- `POST /typing`      {token, chat}: the visitor is typing (the agents see it).
- `POST /email`       {token, chat, email} → {event}: an address for the answer (asked off hours),
  stored on the visitor's contact; the chat shows it on every device.
- `POST /file`        {token, chat, event, file} → the bytes of the `file`th file (from 0) listed
  by the event `event` of the chat (the visitor's answer by e-mail), as a download of opaque bytes
  (`application/octet-stream`, `Content-Disposition: attachment`): only for the chat's owner.
- `WS   /ws`          first frame {type: "hello", token, chat, after}; then the same events pushed,
  and {type: "message", id, text} and {type: "typing"} frames from the widget.

Bodies are JSON sent as text/plain (a "simple" cross-origin request: no preflight). Every call
must come from an allowed origin; tokens travel in bodies and frames, never in URLs (which end up
in access logs). A chat is found by the token that owns it: another visitor's chat id alone
answers 404, as a chat that does not exist does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from helpline.connectors.base import CustomerTyping, Ingest, RateLimit
from helpline.connectors.errors import Transient
from helpline.connectors.files import AttachmentStore
from helpline.connectors.ratelimit import SharedRateLimiter
from helpline.routing.models import Author, InboundMessage, MessageKind
from helpline.routing.store import contact_id_of

from .chats import Chats, Event, valid_event_id
from .identity import IdentityRefused, new_chat_id, new_token, token_hash, verified_visitor
from .options import WebchatOptions

log = logging.getLogger(__name__)

SCRIPT = (Path(__file__).parent / "static" / "webchat.js").read_bytes()
MAX_BODY = 16 * 1024
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_CHAT_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
# A plain address (local@domain.tld): the mail server is the final judge, this keeps out what is
# surely not one (spaces, several @, no dot in the domain, control characters, display names).
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)
BLOCK_MS = 10_000  # how long one read waits for new events before a keep-alive
# An SSE response ends after this and the widget reconnects from its last id: a server shutting
# down waits for open responses, so this bounds how long an open chat can hold it up.
STREAM_SECONDS = 25.0
MAX_FILES = 100  # files one event may list (a mail's attachments)
FILES_PER_MINUTE = 30  # downloads, per visitor
MAX_STREAMS_PER_ADDRESS = 20  # live connections (WebSocket or SSE) one address holds open at once


class Refused(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass
class Desk:
    """What the endpoints need from the connector."""

    account: str
    options: WebchatOptions
    secret: str | None
    chats: Chats
    limiter: SharedRateLimiter
    ingest: Ingest
    report_typing: CustomerTyping | None = None
    #: Where the files of the visitor's answers by e-mail are kept (None: nowhere this desk knows).
    mailed_files: Callable[[], AttachmentStore | None] | None = None
    open_streams: Counter[str] = field(default_factory=Counter)  # per client address, in this process

    @contextlib.contextmanager
    def stream_slot(self, address: str) -> Iterator[None]:
        """Hold one of the address's live connections (each waits on Redis): a few tabs, not a flood."""
        if self.open_streams[address] >= MAX_STREAMS_PER_ADDRESS:
            raise Refused(429, "too many open chats from this address")
        self.open_streams[address] += 1
        try:
            yield
        finally:
            self.open_streams[address] -= 1
            if not self.open_streams[address]:
                del self.open_streams[address]

    # --- checks ------------------------------------------------------------------------------
    def origin(self, conn: HTTPConnection) -> str:
        origin = conn.headers.get("origin", "")
        if origin not in self.options.allowed_origins:
            raise Refused(403, "this site may not use the chat (origin not allowed)")
        return origin

    async def visitor(self, token: Any) -> str:
        hashed = token_hash(token) if isinstance(token, str) else None
        visitor = await self.chats.session(hashed) if hashed else None
        if visitor is None:
            raise Refused(401, "unknown or expired visitor token: start a new session")
        if self.options.identity == "enforce" and not visitor.startswith("user:"):
            raise Refused(403, "this chat needs a verified identity")  # a token from before enforce mode
        return visitor

    async def owned(self, visitor: str, chat: Any) -> str:
        if not isinstance(chat, str) or not _CHAT_ID.match(chat) or await self.chats.owner(chat) != visitor:
            raise Refused(404, "no such chat")
        return chat

    # --- actions -----------------------------------------------------------------------------
    async def session(self, body: dict[str, Any]) -> dict[str, Any]:
        """Idempotent for a known token and the same identity: the same token comes back."""
        given = body.get("token")
        hashed = token_hash(given) if isinstance(given, str) else None
        current = await self.chats.session(hashed) if hashed else None
        user_id, signature = body.get("user_id"), body.get("user_hash")
        if not isinstance(user_id, str | None) or not isinstance(signature, str | None):
            raise Refused(400, "user_id and user_hash must be strings")
        anonymous = current if current and current.startswith("anon:") else None
        try:
            visitor = verified_visitor(self.options.identity, self.secret, user_id, signature, anonymous or "anon:new")
        except IdentityRefused as exc:
            raise Refused(403, str(exc)) from None
        token = given if isinstance(given, str) and current is not None and current == visitor else new_token()
        hashed = str(token_hash(token))
        if visitor == "anon:new":
            visitor = f"anon:{hashed[:24]}"  # the contact's id: derived from, never revealing, the token
        await self.chats.open_session(hashed, visitor)
        return {"token": token, "chats": await self.chats.of_visitor(visitor)}

    async def message(self, body: dict[str, Any], address: str) -> dict[str, Any]:
        """Ingest one visitor message. Idempotent per message `id`: a resend is one message."""
        visitor = await self.visitor(body.get("token"))
        if body.get("attachments") or body.get("files"):
            raise Refused(415, "attachments are not supported in this chat: please describe it in text")
        text, message_id = body.get("text"), body.get("id")
        if not isinstance(text, str) or not text.strip():
            raise Refused(400, "text: a message needs some text")
        if len(text) > self.options.max_length:
            raise Refused(413, f"text: at most {self.options.max_length} characters")
        if not isinstance(message_id, str) or not _MESSAGE_ID.match(message_id):
            raise Refused(400, "id: 8-64 letters, digits, - or _")
        chat = None if body.get("chat") is None else await self.owned(visitor, body.get("chat"))
        per_minute = [
            RateLimit(f"visitor:{visitor}", self.options.visitor_per_minute, 60.0, 5),
            RateLimit(f"ip:{address}", self.options.ip_per_minute, 60.0, 10),
        ]
        wait = await self.limiter.acquire("webchat", self.account, per_minute)
        if wait:  # before anything is stored: a refused message creates no chat either
            raise Refused(429, "too many messages: please wait a moment", retry_after=max(1, round(wait)))
        if chat is None:
            chat = new_chat_id()
            await self.chats.create(chat, visitor, text)
        user = visitor.removeprefix("user:") if visitor.startswith("user:") else ""
        await self.ingest(
            [
                InboundMessage(
                    platform="webchat",
                    account=self.account,
                    kind=MessageKind.DIRECT,
                    message_id=f"{chat}:{message_id}",
                    thread_key=chat,
                    author=Author(user_id=visitor, handle=user, display_name=user or "Web visitor"),
                    text=text.strip(),
                    platform_time=datetime.now(UTC),
                )
            ]
        )
        event = await self.chats.append(
            chat,
            f"in:{message_id}",
            {"type": "message", "from": "visitor", "text": text.strip(), "client_id": message_id},
            visitor=visitor,
        )
        return {"chat": chat, "event": event}

    async def email(self, body: dict[str, Any]) -> dict[str, Any]:
        """The visitor leaves an address for our answer: stored on their contact, shown in the chat.
        Idempotent: the same address again is one event."""
        visitor = await self.visitor(body.get("token"))
        chat = await self.owned(visitor, body.get("chat"))
        address = body.get("email")
        if not isinstance(address, str) or len(address) > 254 or not _EMAIL.match(address.strip()):
            raise Refused(400, "email: an e-mail address such as name@example.com")
        address = address.strip()
        wait = await self.limiter.acquire("webchat", self.account, [RateLimit(f"email:{visitor}", 5, 3600.0, 3)])
        if wait:
            raise Refused(429, "too many e-mail addresses: please wait", retry_after=max(1, round(wait)))
        await self.chats.leave_email(contact_id_of("webchat", self.account, visitor), address)
        posted = "email:" + hashlib.sha256(address.lower().encode()).hexdigest()[:24]
        event = await self.chats.append(chat, posted, {"type": "email", "email": address}, visitor=visitor)
        return {"event": event}

    async def file(self, body: dict[str, Any]) -> tuple[bytes, str]:
        """A file the visitor's answer by e-mail carried, and its name, for the visitor (the
        chat's owner) only: another visitor, or a file the chat does not list, gets 404."""
        visitor = await self.visitor(body.get("token"))
        chat = await self.owned(visitor, body.get("chat"))
        event, index = body.get("event"), body.get("file")
        if not isinstance(event, str) or not valid_event_id(event):
            raise Refused(400, "event: an event id")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < MAX_FILES:
            raise Refused(400, "file: the file's place in the event's list, from 0")
        budget = [RateLimit(f"file:{visitor}", FILES_PER_MINUTE, 60.0, 10)]
        wait = await self.limiter.acquire("webchat", self.account, budget)
        if wait:
            raise Refused(429, "too many downloads: please wait a moment", retry_after=max(1, round(wait)))
        listed = await self.chats.listed_file(chat, event, index)
        store = self.mailed_files() if self.mailed_files is not None and listed is not None else None
        try:
            data = await store.read(listed["id"]) if listed is not None and store is not None else None
        except Transient as exc:
            log.warning("file store unreachable: %s", exc)
            raise Refused(503, "the file cannot be fetched now: try again shortly", retry_after=30) from None
        if data is None or listed is None:
            raise Refused(404, "no such file")
        return data, str(listed.get("name") or "file")

    async def typing(self, body: dict[str, Any]) -> dict[str, Any]:
        """The visitor is typing: the agents see it. At most one report every 2 s per visitor
        (others are dropped, not refused: the next keystroke reports again)."""
        visitor = await self.visitor(body.get("token"))
        chat = await self.owned(visitor, body.get("chat"))
        typing_budget = [RateLimit(f"typing:{visitor}", 1, 2.0, 1)]
        if self.report_typing is not None and not await self.limiter.acquire("webchat", self.account, typing_budget):
            await self.report_typing("webchat", self.account, chat)
        return {}

    async def events(self, chat: str, after: str, stop: Callable[[], Awaitable[bool]]) -> AsyncIterator[list[Event]]:
        """Batches of events after `after` and of the signals sent meanwhile (typing), waiting for
        new ones, until `stop()`; [] = keep-alive. Only events have ids the widget resumes from."""
        signals_after = "$"
        while not await stop():
            events, signals = await self.chats.read(chat, after, block_ms=BLOCK_MS, signals_after=signals_after)
            if events:
                after = events[-1].id
            if signals:
                signals_after = signals[-1].id
            yield events + signals


def _json(status: int, body: dict[str, Any], origin: str | None, retry_after: int | None = None) -> JSONResponse:
    headers = {"cache-control": "no-store", "vary": "Origin"}
    if origin:
        headers["access-control-allow-origin"] = origin
    if retry_after:
        headers["retry-after"] = str(retry_after)
    return JSONResponse(body, status_code=status, headers=headers)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise Refused(413, f"body: at most {MAX_BODY} bytes")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise Refused(400, "body: not JSON") from None
    if not isinstance(body, dict):
        raise Refused(400, "body: a JSON object")
    return body


def _address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


def routes(desk: Desk) -> list[BaseRoute]:
    def endpoint(
        action: Callable[[Request, dict[str, Any]], Awaitable[Response | dict[str, Any]]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            origin = request.headers.get("origin")
            try:
                origin = desk.origin(request)
                result = await action(request, await _body(request))
            except Refused as exc:
                allowed = origin if origin in desk.options.allowed_origins else None
                return _json(exc.status, {"error": exc.message}, allowed, exc.retry_after)
            return result if isinstance(result, Response) else _json(200, result, origin)

        return handle

    async def session(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return await desk.session(body)

    async def message(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return await desk.message(body, _address(request))

    async def typing(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return await desk.typing(body)

    async def email(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return await desk.email(body)

    async def file(request: Request, body: dict[str, Any]) -> Response:
        """Opaque bytes to save, never shown: whatever the file holds cannot run in a page."""
        data, name = await desk.file(body)
        fallback = "".join(c if " " <= c < "\x7f" and c not in '"\\' else "_" for c in name)
        return Response(
            data,
            media_type="application/octet-stream",
            headers={
                "content-disposition": f"attachment; filename=\"{fallback}\"; filename*=utf-8''{quote(name, safe='')}",
                "x-content-type-options": "nosniff",
                "content-security-policy": "default-src 'none'; sandbox",
                "cache-control": "private, no-store",
                "access-control-allow-origin": request.headers["origin"],  # checked: an allowed one
                "vary": "Origin",
            },
        )

    async def events(request: Request, body: dict[str, Any]) -> Response:
        chat = await desk.owned(await desk.visitor(body.get("token")), body.get("chat"))
        after = body.get("after") or "0"
        if not isinstance(after, str) or not (after == "0" or valid_event_id(after)):
            raise Refused(400, "after: an event id")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_SECONDS

        async def done() -> bool:
            return loop.time() > deadline or await request.is_disconnected()

        address = _address(request)
        with desk.stream_slot(address):
            pass  # refused (429) now, before the response starts; held while the stream runs

        async def stream() -> AsyncIterator[str]:
            with desk.stream_slot(address):
                yield ": connected\n\n"
                async for batch in desk.events(chat, after, done):
                    for e in batch:
                        yield f"id: {e.id}\ndata: {json.dumps(e.as_json(), ensure_ascii=False)}\n\n"
                    if not batch:
                        yield ": keep-alive\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={
                "cache-control": "no-store",
                "access-control-allow-origin": request.headers["origin"],
                "vary": "Origin",
                "x-accel-buffering": "no",
            },
        )

    async def script(request: Request) -> Response:
        return Response(
            SCRIPT,
            media_type="text/javascript; charset=utf-8",
            headers={"cache-control": "public, max-age=300", "cross-origin-resource-policy": "cross-origin"},
        )

    async def preflight(request: Request) -> Response:
        origin = request.headers.get("origin", "")
        if origin not in desk.options.allowed_origins:
            return Response(status_code=403)
        return Response(
            status_code=204,
            headers={
                "access-control-allow-origin": origin,
                "access-control-allow-methods": "POST",
                "access-control-allow-headers": "content-type",
                "access-control-max-age": "600",
                "vary": "Origin",
            },
        )

    async def socket(ws: WebSocket) -> None:
        try:
            desk.origin(ws)
        except Refused:
            await ws.close(code=4403)
            return
        await ws.accept()
        try:
            hello = await asyncio.wait_for(ws.receive_json(), timeout=10)
            if not isinstance(hello, dict) or hello.get("type") != "hello":
                raise Refused(400, "the first frame is a hello")
            visitor = await desk.visitor(hello.get("token"))
            chat = await desk.owned(visitor, hello.get("chat"))
            after = hello.get("after") or "0"
            if not isinstance(after, str) or not (after == "0" or valid_event_id(after)):
                raise Refused(400, "after: an event id")
        except Refused as exc:
            await ws.send_json({"type": "error", "status": exc.status, "error": exc.message})
            await ws.close(code=4000 + exc.status)
            return
        except (TimeoutError, ValueError, KeyError, WebSocketDisconnect):  # KeyError: a binary frame
            with contextlib.suppress(Exception):
                await ws.close(code=4400)
            return
        try:
            with desk.stream_slot(_address(ws)):
                await converse(ws, hello, chat, after)
        except Refused as exc:
            await ws.send_json({"type": "error", "status": exc.status, "error": exc.message})
            await ws.close(code=4000 + exc.status)

    async def converse(ws: WebSocket, hello: dict[str, Any], chat: str, after: str) -> None:
        """Push the chat's events and take the visitor's messages until the socket closes."""
        closed = asyncio.Event()

        async def push() -> None:
            async def stop() -> bool:
                return closed.is_set()

            async for batch in desk.events(chat, after, stop):
                for e in batch:
                    await ws.send_json(e.as_json())

        pusher = asyncio.create_task(push())
        try:
            while True:
                frame = await ws.receive_json()
                if isinstance(frame, dict) and frame.get("type") == "typing":
                    with contextlib.suppress(Refused):
                        await desk.typing({"token": hello.get("token"), "chat": chat})
                elif isinstance(frame, dict) and frame.get("type") == "message":
                    try:
                        await desk.message({**frame, "token": hello.get("token"), "chat": chat}, _address(ws))
                    except Refused as exc:
                        await ws.send_json(
                            {"type": "error", "status": exc.status, "error": exc.message, "id": frame.get("id")}
                        )
        except (WebSocketDisconnect, ValueError, KeyError, RuntimeError):
            pass
        finally:
            closed.set()
            pusher.cancel()
            with contextlib.suppress(BaseException):
                await pusher

    return [
        Route("/webchat.js", script, methods=["GET"]),
        Route("/session", endpoint(session), methods=["POST"]),
        Route("/messages", endpoint(message), methods=["POST"]),
        Route("/events", endpoint(events), methods=["POST"]),
        Route("/typing", endpoint(typing), methods=["POST"]),
        Route("/email", endpoint(email), methods=["POST"]),
        Route("/file", endpoint(file), methods=["POST"]),
        Route("/{path:path}", preflight, methods=["OPTIONS"]),
        WebSocketRoute("/ws", socket),
    ]
