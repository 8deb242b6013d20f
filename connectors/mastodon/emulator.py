"""A Mastodon instance for tests and the demo, speaking the REST wire format.

    GET  /api/v1/accounts/verify_credentials, /api/v1/accounts/:id
    GET  /api/v1/notifications        types[], exclude_types[], max_id, since_id, min_id, limit, Link
    GET  /api/v1/statuses/:id, /api/v1/statuses/:id/context
    POST /api/v1/statuses             Idempotency-Key honoured for an hour, 422 over the limit
    GET  /api/v2/instance             configuration.statuses.max_characters

Every /api call needs `Authorization: Bearer <token>` (401 otherwise), spends the account's
budget (X-RateLimit-Limit/Remaining/Reset, reset in ISO 8601; 429 `{"error":"Too many requests"}`
when spent). Control API, no auth: POST /_emulator/customer-messages, GET /_emulator/sent,
GET /_emulator/stats, POST /_emulator/config.
"""

from __future__ import annotations

import base64
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from .emulator_state import Account, EmulatorConfig, MastodonState, StoredStatus, iso

Handler = Callable[[Request, MastodonState], Awaitable[Response]]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _api(handler: Handler, *, posting: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """Authentication, injected failures and rate limits around one API endpoint."""

    async def endpoint(request: Request) -> Response:
        state: MastodonState = request.app.state.mastodon
        cfg = state.config
        state.stats["requests"] += 1
        auth = request.headers.get("authorization", "")
        if not hmac.compare_digest(auth.encode(), f"Bearer {cfg.token}".encode()):
            state.stats["unauthorized_responses"] += 1
            return _error(401, "The access token is invalid")
        if cfg.fail_next:
            return _error(cfg.fail_next.pop(0), "Injected failure")
        now = time.time()
        ok, remaining, reset = state.spend("api", cfg.rate_limit, cfg.rate_period, now)
        limit = cfg.rate_limit
        if ok and posting:
            ok, s_remaining, s_reset = state.spend("statuses", cfg.status_limit, cfg.status_period, now)
            if s_remaining < remaining or not ok:  # headers describe the limit closest to exceeding
                remaining, reset, limit = s_remaining, s_reset, cfg.status_limit
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": iso(reset),
        }
        if not ok:
            state.stats["rate_limited_responses"] += 1
            return _error(429, "Too many requests", headers)
        response = await handler(request, state)
        response.headers.update(headers)
        return response

    return endpoint


async def _verify_credentials(request: Request, state: MastodonState) -> Response:
    body = state.account_json(state.own)
    body["source"] = {"privacy": "public", "sensitive": False, "language": "en", "note": "", "fields": []}
    return JSONResponse(body)


async def _account(request: Request, state: MastodonState) -> Response:
    account = state.accounts.get(request.path_params["id"])
    return JSONResponse(state.account_json(account)) if account else _error(404, "Record not found")


async def _notifications(request: Request, state: MastodonState) -> Response:
    q = request.query_params
    try:
        limit = min(80, max(1, int(q.get("limit", "40"))))
    except ValueError:
        limit = 40
    page = state.notifications_page(
        types=q.getlist("types[]"),
        exclude=q.getlist("exclude_types[]"),
        max_id=q.get("max_id"),
        since_id=q.get("since_id"),
        min_id=q.get("min_id"),
        limit=limit,
    )
    headers = {}
    if page:
        keep = [(k, v) for k, v in q.multi_items() if k in ("limit", "types[]", "exclude_types[]")]

        def url(param: str, value: str) -> str:
            return str(request.url.replace(query=urlencode([*keep, (param, value)])))

        headers["Link"] = f'<{url("max_id", page[-1][0])}>; rel="next", <{url("min_id", page[0][0])}>; rel="prev"'
    body = [state.notification_json(nid, sid) for nid, sid in page]
    return JSONResponse(body, headers=headers)


async def _status(request: Request, state: MastodonState) -> Response:
    status = state.statuses.get(request.path_params["id"])
    if status is None or not state.visible(status):
        return _error(404, "Record not found")
    return JSONResponse(state.status_json(status))


async def _context(request: Request, state: MastodonState) -> Response:
    status = state.statuses.get(request.path_params["id"])
    if status is None or not state.visible(status):
        return _error(404, "Record not found")
    ancestors: list[StoredStatus] = []
    parent = state.statuses.get(status.in_reply_to_id or "")
    while parent is not None:
        if state.visible(parent):
            ancestors.insert(0, parent)
        parent = state.statuses.get(parent.in_reply_to_id or "")
    descendants, frontier = [], [status.id]
    while frontier:
        children = sorted(
            (s for s in state.statuses.values() if s.in_reply_to_id in frontier), key=lambda s: (len(s.id), s.id)
        )
        descendants += [c for c in children if state.visible(c)]
        frontier = [c.id for c in children]
    return JSONResponse(
        {
            "ancestors": [state.status_json(s) for s in ancestors],
            "descendants": [state.status_json(s) for s in descendants],
        }
    )


async def _post_status(request: Request, state: MastodonState) -> Response:
    if request.headers.get("content-type", "").startswith("application/json"):
        params: dict[str, Any] = await request.json()
    else:
        params = dict(await request.form())
    key = request.headers.get("idempotency-key")
    now = time.time()
    if key:
        known = state.idempotency.get((state.own.id, key))
        if known is not None and known[1] > now and known[0] in state.statuses:
            state.stats["idempotent_replays"] += 1
            return JSONResponse(state.status_json(state.statuses[known[0]]))
    in_reply_to = params.get("in_reply_to_id") or None
    if in_reply_to is not None:
        parent = state.statuses.get(str(in_reply_to))
        if parent is None or not state.visible(parent):
            return _error(404, "The post you are trying to reply to does not appear to exist.")
    text = str(params.get("status") or "")
    visibility = str(params.get("visibility") or "public")
    if visibility not in ("public", "unlisted", "private", "direct"):
        return _error(422, "Validation failed: Visibility is not included in the list")
    if not text.strip():
        return _error(422, "Validation failed: Text can't be blank")
    if state.text_length(text) > state.config.max_characters:
        return _error(422, f"Validation failed: Text character limit of {state.config.max_characters} exceeded")
    status = state.add_status(
        state.own.id,
        text,
        visibility,
        str(in_reply_to) if in_reply_to else None,
        language=str(params.get("language") or "") or None,
    )
    state.stats["statuses_created"] += 1
    if key:
        state.idempotency[(state.own.id, key)] = (status.id, now + state.config.idempotency_window)
    return JSONResponse(state.status_json(status))


async def _instance(request: Request, state: MastodonState) -> Response:
    return JSONResponse(
        {
            "domain": state.domain,
            "title": "Helpline Mastodon emulator",
            "version": "4.3.0",
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "",
            "languages": ["en"],
            "usage": {"users": {"active_month": len(state.accounts)}},
            "configuration": {
                "urls": {"streaming": f"wss://{state.domain}"},
                "accounts": {"max_featured_tags": 10},
                "statuses": {
                    "max_characters": state.config.max_characters,
                    "max_media_attachments": 4,
                    "characters_reserved_per_url": 23,
                },
            },
            "registrations": {"enabled": False, "approval_required": False, "message": None},
            "contact": {"email": "", "account": state.account_json(state.own)},
            "rules": [],
        }
    )


# control API -----------------------------------------------------------------------------------
async def _customer_message(request: Request) -> Response:
    """A customer mentions or DMs our account. `user.bot` marks a bot account; `visibility`
    ("public"/"unlisted"/"private"), `attachments` ([{type, url, description}], or {type, data (base64),
    mime_type, name} for a file the emulator then serves as the instance's media) and `language`
    (the ISO 639 tag the customer's client put on the status; untagged, null, by default) are optional."""
    state: MastodonState = request.app.state.mastodon
    body = await request.json()
    user = body["user"]
    handle = str(user.get("handle") or user["id"]).lstrip("@")
    account = state.accounts.get(str(user["id"]))
    if account is None:
        account = Account(
            id=str(user["id"]),
            username=handle.partition("@")[0],
            acct=handle,
            display_name=str(user.get("name") or handle),
        )
        state.accounts[account.id] = account
    account.bot = bool(user.get("bot", account.bot))
    kind = body.get("kind", "mention")
    visibility = "direct" if kind == "direct" else str(body.get("visibility") or "public")
    reply_to = body.get("reply_to")
    if reply_to is not None and str(reply_to) not in state.statuses:
        return _error(404, "Record not found")
    media = []
    for a in body.get("attachments", []):
        media_id = state.new_id()
        url = a.get("url")
        if "data" in a:  # uploaded: served by the emulator as the instance serves its media
            state.media_files[media_id] = (
                str(a.get("mime_type") or "application/octet-stream"),
                base64.b64decode(a["data"]),
            )
            url = f"{str(request.base_url).rstrip('/')}/system/media_attachments/{media_id}/{a.get('name') or 'file'}"
        media.append(
            {
                "id": media_id,
                "type": a.get("type", "image"),
                "url": url,
                "preview_url": url,
                "remote_url": a.get("remote_url"),
                "text_url": None,
                "meta": {},
                "description": a.get("description"),
                "blurhash": None,
            }
        )
    status = state.add_status(
        account.id,
        f"@{state.own.acct} {body['text']}",
        visibility,
        str(reply_to) if reply_to else None,
        media,
        language=body.get("language"),
    )
    thread = f"direct:{account.id}" if visibility == "direct" else f"status:{state.root_of(status.id)}"
    return JSONResponse({"message_id": status.id, "thread": thread})


async def _media_file(request: Request) -> Response:
    """A media file as the instance serves it (no token needed)."""
    state: MastodonState = request.app.state.mastodon
    found = state.media_files.get(request.path_params["id"])
    if found is None:
        return Response(status_code=404)
    mime, data = found
    return Response(data, media_type=mime)


async def _sent(request: Request) -> Response:
    state: MastodonState = request.app.state.mastodon
    return JSONResponse(
        {
            "messages": [
                {
                    "id": s.id,
                    "kind": "status",
                    "visibility": s.visibility,
                    "text": s.text,
                    "in_reply_to": s.in_reply_to_id,
                }
                for s in state.statuses.values()
                if s.account_id == state.own.id
            ]
        }
    )


async def _stats(request: Request) -> Response:
    state: MastodonState = request.app.state.mastodon
    return JSONResponse({**state.stats, "notifications": len(state.notifications), "statuses": len(state.statuses)})


async def _config(request: Request) -> Response:
    state: MastodonState = request.app.state.mastodon
    body = await request.json()
    for name, value in body.items():
        if not hasattr(state.config, name):
            return _error(422, f"unknown setting {name!r}")
        setattr(state.config, name, value)
    state.windows.clear()  # new limits start a fresh window
    return JSONResponse(vars(state.config))


def routes() -> list[BaseRoute]:
    return [
        Route("/api/v1/accounts/verify_credentials", _api(_verify_credentials)),
        Route("/api/v1/accounts/{id}", _api(_account)),
        Route("/api/v1/notifications", _api(_notifications)),
        Route("/api/v1/statuses", _api(_post_status, posting=True), methods=["POST"]),
        Route("/api/v1/statuses/{id}", _api(_status)),
        Route("/api/v1/statuses/{id}/context", _api(_context)),
        Route("/api/v2/instance", _api(_instance)),
        Route("/system/media_attachments/{id}/{name}", _media_file),
        Route("/_emulator/customer-messages", _customer_message, methods=["POST"]),
        Route("/_emulator/sent", _sent),
        Route("/_emulator/stats", _stats),
        Route("/_emulator/config", _config, methods=["POST"]),
    ]


def create_app(
    *,
    username: str = "support",
    domain: str = "mastodon.example",
    prefix: str = "",
    config: EmulatorConfig | None = None,
) -> Starlette:
    """The emulator app; its state is `app.state.mastodon`. `prefix` mounts it under a path."""
    app = Starlette(routes=[Mount(prefix, routes=routes())] if prefix else routes())
    app.state.mastodon = MastodonState(domain, username, config or EmulatorConfig())
    return app
