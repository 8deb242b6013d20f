"""A Telegram Bot API emulator: the real wire format on loopback, for tests and the demo.

    app = create_app(token="123:abc", bot_username="helpline_bot")

Bot API at ``/bot<token>/<method>`` (GET or POST; JSON, urlencoded or multipart bodies as PTB
sends them): getMe, getUpdates (offset confirms, long poll bounded, 409 for a second poller or
while a webhook is set), setWebhook/deleteWebhook/getWebhookInfo, sendMessage (reply_parameters,
reply_markup, 4096 limit, parse_mode checks, flood control with real 429s, chat migration),
answerCallbackQuery, sendPhoto (an uploaded photo), getFile and the file download at
``/file/bot<token>/<file_path>`` (the files customers sent; over 20 MB refused). A slow or failing
platform on demand (`send_latency_min/max`, `outage_status` in the config). With a webhook set,
updates are POSTed to it (with the secret token header) and retried until it answers 2xx.

Control API under ``/_emulator/`` (customer side): customer-messages, edits, button-presses,
updates (raw), migrations, blocks, config, and GET sent, stats, callback-answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .emulator_control import control_routes, deliver_webhooks
from .emulator_state import BotApiError, EmulatorState, Json, bad_request

Method = Callable[[EmulatorState, Json], Awaitable[Any]]


# --- request parameters: PTB posts form fields whose objects are JSON-encoded strings ---------------
def _int(params: Json, name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f'field "{name}" must be an integer') from None


def _obj(params: Json, name: str) -> Any:
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None
    return value


def _bool(params: Json, name: str) -> bool:
    return params.get(name) in (True, "true", "True", "1", 1)


async def _params(request: Request) -> Json:
    params: Json = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if "application/json" in content_type:
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
    elif "form" in content_type:
        form = await request.form()
        for k, v in form.items():  # an uploaded file (sendPhoto with bytes) is kept as its bytes
            params[k] = v if isinstance(v, str) else await v.read()
    return params


# --- parse_mode: reject what Telegram rejects, so escaping helpers can be tested end to end ----------
_HTML_TAG = re.compile(
    r"</?(b|strong|i|em|u|ins|s|strike|del|span|tg-spoiler|a|code|pre|blockquote)"
    r"(\s+[a-z-]+=\"[^\"<>]*\")*\s*>"
)
_HTML_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_MD2_ESCAPED = re.compile(r"\\[\x01-\x7e]")
_MD2_MUST_ESCAPE = re.compile(r"[#+\-=|{}.!>]")


def visible_text(text: str, parse_mode: str | None) -> str | None:
    """The text Telegram counts against 4096 after parsing HTML; None for other modes."""
    if parse_mode != "HTML":
        return None
    return html.unescape(_HTML_TAG.sub("", text))


def check_formatting(text: str, parse_mode: str | None) -> None:
    if parse_mode is None or parse_mode == "":
        return
    if parse_mode == "HTML":
        rest = _HTML_ENTITY.sub("", _HTML_TAG.sub("", text))
        for ch in "<>&":
            if ch in rest:
                raise bad_request(f'can\'t parse entities: unsupported start tag or unescaped "{ch}"')
    elif parse_mode == "MarkdownV2":
        bare = _MD2_ESCAPED.sub("", text)
        found = _MD2_MUST_ESCAPE.search(bare)
        if found:
            raise bad_request(
                f"can't parse entities: Character '{found.group()}' is reserved and must be "
                "escaped with the preceding '\\'"
            )
    elif parse_mode != "Markdown":
        raise bad_request("unsupported parse_mode")


# --- Bot API methods ----------------------------------------------------------------------------------
async def get_me(state: EmulatorState, params: Json) -> Json:
    return {
        **state.bot_user,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


async def get_updates(state: EmulatorState, params: Json) -> list[Json]:
    allowed = _obj(params, "allowed_updates")
    if isinstance(allowed, list):
        state.allowed_updates = [str(a) for a in allowed]
    limit = min(100, max(1, _int(params, "limit", 100) or 100))
    return await state.get_updates(_int(params, "offset"), limit, float(_int(params, "timeout", 0) or 0))


async def set_webhook(state: EmulatorState, params: Json) -> bool:
    url = str(params.get("url") or "")
    secret = params.get("secret_token")
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
        raise bad_request("secret token contains unallowed characters")
    if url and not url.startswith(("http://", "https://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    allowed = _obj(params, "allowed_updates")
    if isinstance(allowed, list):
        state.allowed_updates = [str(a) for a in allowed]
    if _bool(params, "drop_pending_updates"):
        state.updates.clear()
    state.webhook = {"url": url, "secret_token": secret}
    state.notify()
    return True


async def delete_webhook(state: EmulatorState, params: Json) -> bool:
    return await set_webhook(state, {"url": "", "drop_pending_updates": params.get("drop_pending_updates")})


async def get_webhook_info(state: EmulatorState, params: Json) -> Json:
    info: Json = {
        "url": state.webhook["url"],
        "has_custom_certificate": False,
        "pending_update_count": len(state.pending()),
    }
    if state.webhook["url"]:
        info["max_connections"] = 40
        for field in ("last_error_date", "last_error_message"):
            if field in state.webhook:
                info[field] = state.webhook[field]
    if state.allowed_updates:
        info["allowed_updates"] = state.allowed_updates
    return info


def _markup(params: Json) -> Json | None:
    markup = _obj(params, "reply_markup")
    if markup is None:
        return None
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if rows is not None:
        for row in rows:
            for button in row:
                if not button.get("text"):
                    raise bad_request("text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
    return dict(markup) if isinstance(markup, dict) else None


async def send_message(state: EmulatorState, params: Json) -> Json:
    chat = state.chat_for_send(params.get("chat_id"))
    text = str(params.get("text") or "")
    parse_mode = params.get("parse_mode")
    check_formatting(text, parse_mode)
    state.check_text(text, visible_text(text, parse_mode))
    markup = _markup(params)
    reply = _obj(params, "reply_parameters") or {}
    reply_id = reply.get("message_id") if isinstance(reply, dict) else None
    reply_id = reply_id or _int(params, "reply_to_message_id")
    target = state.messages.get((chat["id"], int(reply_id))) if reply_id else None
    if (
        reply_id
        and target is None
        and not (reply.get("allow_sending_without_reply") or _bool(params, "allow_sending_without_reply"))
    ):
        raise bad_request("message to be replied not found")
    state.spend(chat)
    fields: Json = {"text": text}
    if target is not None:
        fields["reply_to_message"] = {k: v for k, v in target.items() if k != "reply_to_message"}
    if markup is not None:
        fields["reply_markup"] = markup
    message = state.new_message(chat, state.bot_user, **fields)
    private = chat["type"] == "private"
    kind = "direct" if private else "channel" if chat["type"] == "channel" else "group"
    state.sent.append(
        {
            "id": message["message_id"],
            "chat_id": chat["id"],
            "chat_type": chat["type"],
            "kind": kind,
            "visibility": "private" if private else "public",
            "text": text,
            "in_reply_to": target["message_id"] if target is not None else None,
            "reply_markup": markup,
            "parse_mode": parse_mode,
        }
    )
    state.stats["sent_messages"] += 1
    return message


async def send_photo(state: EmulatorState, params: Json) -> Json:
    """A photo upload (multipart bytes) or a known file_id; the caption is optional."""
    chat = state.chat_for_send(params.get("chat_id"))
    photo = params.get("photo")
    if isinstance(photo, bytes):
        if not photo:
            raise bad_request("file must be non-empty")
        file = state.add_file(photo, "photos")
    elif isinstance(photo, str) and photo in state.files:
        file = state.files[photo]
    else:
        raise bad_request("wrong remote file identifier specified: can't unserialize it")
    caption = str(params.get("caption") or "")
    state.spend(chat)
    sizes = [
        {
            "file_id": file.file_id,
            "file_unique_id": file.unique_id,
            "file_size": len(file.data),
            "width": 1,
            "height": 1,
        }
    ]
    message = state.new_message(chat, state.bot_user, photo=sizes, **({"caption": caption} if caption else {}))
    private = chat["type"] == "private"
    state.sent.append(
        {
            "id": message["message_id"],
            "chat_id": chat["id"],
            "chat_type": chat["type"],
            "kind": "direct" if private else "group",
            "visibility": "private" if private else "public",
            "text": caption,
            "photo": file.file_id,
            "photo_bytes": len(file.data),
            "in_reply_to": None,
            "reply_markup": None,
            "parse_mode": None,
        }
    )
    state.stats["sent_messages"] += 1
    return message


async def get_file(state: EmulatorState, params: Json) -> Json:
    """As the Bot API: the file's path for the download URL; files above 20 MB are refused."""
    file = state.files.get(str(params.get("file_id") or ""))
    if file is None:
        raise bad_request("invalid file_id")
    if len(file.data) > 20 * 1024 * 1024:
        raise bad_request("file is too big")
    return {
        "file_id": file.file_id,
        "file_unique_id": file.unique_id,
        "file_size": len(file.data),
        "file_path": file.path,
    }


async def answer_callback_query(state: EmulatorState, params: Json) -> bool:
    query_id = str(params.get("callback_query_id") or "")
    if query_id not in state.callbacks:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    state.callbacks[query_id] = True
    state.stats["callback_answers"] += 1
    return True


async def _true(state: EmulatorState, params: Json) -> bool:
    return True


METHODS: dict[str, Method] = {
    "getme": get_me,
    "getupdates": get_updates,
    "setwebhook": set_webhook,
    "deletewebhook": delete_webhook,
    "getwebhookinfo": get_webhook_info,
    "sendmessage": send_message,
    "sendphoto": send_photo,
    "getfile": get_file,
    "answercallbackquery": answer_callback_query,
    "close": _true,
    "logout": _true,
}
_WEBHOOK_DESCRIPTIONS = {"setwebhook": "Webhook was set", "deletewebhook": "Webhook was deleted"}


def create_app(
    token: str = "123456:TEST-token",  # noqa: S107 (a test token)
    bot_username: str = "helpline_bot",
    bot_id: int | None = None,
    bot_name: str = "Helpline",
    limits: dict[str, Any] | None = None,
) -> Starlette:
    """The emulator as an ASGI app; `app.state.emulator` is its `EmulatorState`. `limits` overrides
    `Limits` fields (e.g. {"global_per_second": 300}), as POST /_emulator/config does."""
    state = EmulatorState(token, bot_id or int(token.split(":")[0]), bot_username, bot_name)
    if limits:
        state.configure(limits)

    async def bot_api(request: Request) -> JSONResponse:
        if request.path_params["token"] != state.token:
            state.stats["errors_401"] += 1
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        method = request.path_params["method"].lower()
        handler = METHODS.get(method)
        if handler is None:
            return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        limits = state.limits
        if limits.outage_status:
            state.stats[f"errors_{limits.outage_status}"] += 1
            return JSONResponse(
                {"ok": False, "error_code": limits.outage_status, "description": "Bad Gateway"}, limits.outage_status
            )
        if method == "sendmessage" and limits.send_latency_max > 0:
            await asyncio.sleep(random.uniform(limits.send_latency_min, limits.send_latency_max))
        try:
            result = await handler(state, await _params(request))
        except BotApiError as exc:
            state.stats[f"errors_{exc.code}"] += 1
            return JSONResponse(exc.body(), exc.code)
        body: Json = {"ok": True, "result": result}
        if method in _WEBHOOK_DESCRIPTIONS:
            body["description"] = _WEBHOOK_DESCRIPTIONS[method]
        return JSONResponse(body)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=10) as client, _background(deliver_webhooks(state, client)):
            yield

    async def download(request: Request) -> Response:
        """GET /file/bot<token>/<file_path>: the file's bytes, as the Bot API's file server."""
        if request.path_params["token"] != state.token:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        file = state.file_at(request.path_params["path"])
        if file is None:
            return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        state.stats["file_downloads"] += 1
        return Response(file.data, media_type="application/octet-stream")

    routes = [
        Route("/bot{token}/{method}", bot_api, methods=["GET", "POST"]),
        Route("/file/bot{token}/{path:path}", download),
        *control_routes(state),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.emulator = state
    return app


@contextlib.asynccontextmanager
async def _background(job: Awaitable[None]) -> AsyncIterator[None]:
    task = asyncio.ensure_future(job)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
