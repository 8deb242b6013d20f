"""The emulator's customer side (`/_emulator/...`) and its webhook delivery loop.

The control API plays the customers: it writes messages, edits, button presses, migrates groups
and blocks the bot; tests and the demo read back what the bot sent. Shapes:

    POST /_emulator/customer-messages  {"user": {"id", "handle", "name"}, "text", "kind": "direct"|"group",
                                        "chat_id"?, "reply_to_bot"?, "mention"?, "photo"?: base64,
                                        "document"?: {"data": base64, "file_name", "mime_type"},
                                        "voice"?: {"data": base64, "duration"},
                                        "audio"?: {"data": base64, "duration", "file_name", "mime_type"}}
                                       (with a file the text is its caption, optional)
                                       -> {"message_id", "chat_id", "update_id"}
    POST /_emulator/edits              {"chat_id", "message_id", "text"} -> {"update_id", "edit_date"}
    POST /_emulator/button-presses     {"user", "chat_id", "message_id", "data"}
                                       -> {"callback_query_id", "update_id"}
    POST /_emulator/updates            {"update": <raw Update without update_id>} -> {"update_id"}
    POST /_emulator/migrations         {"chat_id"} -> {"new_chat_id"}
    POST /_emulator/blocks             {"user_id"} -> {}
    POST /_emulator/config             {<Limits field>: value, ...} -> the limits
    POST /_emulator/chats              {"chats": [{"id", "type": "private"|"group"|"supergroup"|"channel",
                                        "title"?, "username"?}]} -> {"created"} (channels the bot
                                        posts in; private chats of users who started the bot)
    GET  /_emulator/sent               -> {"messages": [{"id", "chat_id", "chat_type", "kind", "visibility",
                                                         "text", "in_reply_to", "reply_markup",
                                                         "photo"? (file_id), "photo_bytes"?}]}
    GET  /_emulator/stats              -> counters, including rate_limited_responses
    GET  /_emulator/callback-answers   -> {"answered": [query ids]}
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from .emulator_state import BotApiError, EmulatorState, Json, bad_request
from .text import utf16_len
from .webhook import SECRET_HEADER

Control = Callable[[EmulatorState, Json], Any]


def customer_message(state: EmulatorState, body: Json) -> Json:
    user = state.user(body.get("user") or {})
    text = str(body.get("text") or "")
    media = _media(state, body)
    if not text and not media:
        raise bad_request("text, photo, document, voice or audio is required")
    fields: Json = {**media, "caption": text} if media and text else media or {"text": text}
    if body.get("kind", "direct") == "direct":
        chat = state.private_chat(user)
    elif body.get("kind") == "group":
        chat = state.group_chat(body.get("chat_id"))
        reply_to_bot = bool(body.get("reply_to_bot", False))
        if body.get("mention", not reply_to_bot):
            handle = f"@{state.bot_user['username']}"
            if handle not in text:
                text = f"{handle} {text}"
                fields["caption" if media else "text"] = text
            prefix = text[: text.index(handle)]
            fields["caption_entities" if media else "entities"] = [
                {"type": "mention", "offset": utf16_len(prefix), "length": utf16_len(handle)}
            ]
    else:
        raise bad_request('kind must be "direct" or "group"')
    if text.startswith("/"):  # Telegram marks a leading /command (with its @bot suffix) as an entity
        command = text.split()[0]
        fields["entities"] = [
            {"type": "bot_command", "offset": 0, "length": utf16_len(command)},
            *fields.get("entities", []),
        ]
    if body.get("reply_to_bot"):
        replied = state.last_bot_message(chat)
        fields["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
    message = state.new_message(chat, user, **fields)
    update_id = state.push_update("message", message)
    return {"message_id": message["message_id"], "chat_id": chat["id"], "update_id": update_id}


def _media(state: EmulatorState, body: Json) -> Json:
    """A photo (`"photo": base64`), a document (`"document": {"data", "file_name", "mime_type"}`),
    a voice note (`"voice": {"data", "duration"}`, Ogg/Opus as Telegram records it) or an audio
    file (`"audio": {"data", "duration", "file_name", "mime_type"}`), kept by the emulator for
    getFile and the file download; the message carries them as the Bot API does."""
    try:
        if body.get("photo"):
            file = state.add_file(base64.b64decode(str(body["photo"]), validate=True), "photos")
            small = {
                "file_id": file.file_id + "s",
                "file_unique_id": file.unique_id + "s",
                "file_size": 100,
                "width": 90,
                "height": 90,
            }
            return {
                "photo": [
                    small,
                    {
                        "file_id": file.file_id,
                        "file_unique_id": file.unique_id,
                        "file_size": len(file.data),
                        "width": 800,
                        "height": 600,
                    },
                ]
            }
        for kind, folder, default_type in (
            ("document", "documents", "application/octet-stream"),
            ("voice", "voice", "audio/ogg"),
            ("audio", "music", "audio/mpeg"),
        ):
            spec = body.get(kind)
            if not isinstance(spec, dict):
                continue
            file = state.add_file(base64.b64decode(str(spec["data"]), validate=True), folder)
            media: Json = {
                "file_id": file.file_id,
                "file_unique_id": file.unique_id,
                "file_size": len(file.data),
                "mime_type": str(spec.get("mime_type") or default_type),
            }
            if kind != "voice":  # a voice note has no name
                media["file_name"] = str(spec.get("file_name") or "file")
            if kind != "document":
                media["duration"] = int(spec.get("duration") or 1)
            return {kind: media}
    except (ValueError, KeyError) as exc:
        raise bad_request(f"media: {exc}") from None
    return {}


def edit(state: EmulatorState, body: Json) -> Json:
    key = (int(body["chat_id"]), int(body["message_id"]))
    original = state.messages.get(key)
    if original is None:
        raise bad_request("message to edit not found")
    # Telegram's edit_date has one-second resolution; keep successive edits distinct.
    edit_date = max(state.now_unix(), int(original.get("edit_date", 0)) + 1)
    edited = {**original, "text": str(body["text"]), "edit_date": edit_date}
    state.messages[key] = edited
    return {"update_id": state.push_update("edited_message", edited), "edit_date": edit_date}


def button_press(state: EmulatorState, body: Json) -> Json:
    carrier = state.messages.get((int(body["chat_id"]), int(body["message_id"])))
    if carrier is None or carrier["from"]["id"] != state.bot_user["id"]:
        raise bad_request("no bot message with a keyboard there")
    user = state.user(body.get("user") or {})
    query_id = f"{state.stats['updates_total'] + 1}{user['id']}"
    state.callbacks[query_id] = False
    query = {
        "id": query_id,
        "from": user,
        "message": carrier,
        "chat_instance": str(carrier["chat"]["id"]),
        "data": str(body["data"]),
    }
    return {"callback_query_id": query_id, "update_id": state.push_update("callback_query", query)}


def raw_update(state: EmulatorState, body: Json) -> Json:
    update = body.get("update")
    if not isinstance(update, dict):
        raise bad_request('"update" must be an object')
    query = update.get("callback_query")
    if isinstance(query, dict) and "id" in query:
        state.callbacks.setdefault(str(query["id"]), False)
    return {"update_id": state.push_raw({k: v for k, v in update.items() if k != "update_id"})}


def migrate(state: EmulatorState, body: Json) -> Json:
    old = state.chats.get(int(body["chat_id"]))
    if old is None or old["type"] != "group":
        raise bad_request("only a basic group can be upgraded to a supergroup")
    new_id = int(f"-100{abs(old['id'])}")
    state.chats[new_id] = {**old, "id": new_id, "type": "supergroup"}
    state.migrated[old["id"]] = new_id
    return {"new_chat_id": new_id}


def block(state: EmulatorState, body: Json) -> Json:
    state.blocked.add(int(body["user_id"]))
    return {}


def configure(state: EmulatorState, body: Json) -> Json:
    return state.configure(body)


def chats(state: EmulatorState, body: Json) -> Json:
    specs = body.get("chats")
    if not isinstance(specs, list):
        raise bad_request('"chats" must be a list')
    return {"created": sum(state.add_chat(spec) for spec in specs)}


def control_routes(state: EmulatorState) -> list[BaseRoute]:
    def post(action: Control) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def endpoint(request: Request) -> JSONResponse:
            try:
                body = await request.json()
                return JSONResponse(action(state, body if isinstance(body, dict) else {}))
            except BotApiError as exc:
                return JSONResponse(exc.body(), exc.code)
            except (KeyError, TypeError, ValueError) as exc:
                return JSONResponse({"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"}, 400)

        return endpoint

    async def sent(request: Request) -> JSONResponse:
        return JSONResponse({"messages": state.sent})

    async def stats(request: Request) -> JSONResponse:
        counters = {
            name: state.stats[name]
            for name in (
                "updates_total",
                "get_updates_calls",
                "sent_messages",
                "rate_limited_responses",
                "conflicts",
                "webhook_deliveries",
                "webhook_failures",
                "callback_answers",
            )
        }
        return JSONResponse({**counters, "updates_pending": len(state.updates), **dict(state.stats)})

    async def answers(request: Request) -> JSONResponse:
        return JSONResponse({"answered": [q for q, done in state.callbacks.items() if done]})

    posts = {
        "customer-messages": customer_message,
        "edits": edit,
        "button-presses": button_press,
        "updates": raw_update,
        "migrations": migrate,
        "blocks": block,
        "config": configure,
        "chats": chats,
    }
    return [
        *(Route(f"/_emulator/{path}", post(action), methods=["POST"]) for path, action in posts.items()),
        Route("/_emulator/sent", sent, methods=["GET"]),
        Route("/_emulator/stats", stats, methods=["GET"]),
        Route("/_emulator/callback-answers", answers, methods=["GET"]),
    ]


async def deliver_webhooks(state: EmulatorState, client: httpx.AsyncClient) -> None:
    """While a webhook is set, POST pending updates to it in order, each until it answers 2xx."""
    while True:
        url = state.webhook["url"]
        pending = state.pending(1) if url else []
        if not pending:
            await state.wait_for_change(1.0)
            continue
        update = pending[0]
        headers = {}
        if state.webhook.get("secret_token"):
            headers[SECRET_HEADER] = str(state.webhook["secret_token"])
        try:
            response = await client.post(url, json=update, headers=headers)
            error = (
                None
                if 200 <= response.status_code < 300
                else f"Wrong response from the webhook: {response.status_code} {response.reason_phrase}"
            )
        except httpx.HTTPError as exc:
            error = f"Connection failed: {type(exc).__name__}"
        if error is None:
            state.stats["webhook_deliveries"] += 1
            state.confirm(int(update["update_id"]) + 1)
            continue
        state.stats["webhook_failures"] += 1
        state.webhook.update(last_error_date=state.now_unix(), last_error_message=error)
        await asyncio.sleep(state.limits.webhook_retry_interval)
