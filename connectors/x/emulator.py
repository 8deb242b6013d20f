"""An X API v2 emulator speaking X's wire format, for tests and the demo.

API (`/2/...`): users/me, users/:id/mentions, tweets/:id, dm_events, POST tweets, POST
dm_conversations/with/:id/messages; files attached to DMs at `/1.1/ton/data/dm/...` as
ton.twitter.com serves them, their videos and GIFs at `/dm_video/...` and `/dm_gif/...` as
video.twimg.com does (OAuth 1.0a-signed GETs of a participant only, 401 otherwise); photos of
public tweets at `/media/...` as pbs.twimg.com serves them, their videos and GIFs (the MP4
variant) at `/ext_tw_video/...` and `/tweet_video/...` as video.twimg.com does (to anyone);
OAuth 1.0a HMAC-SHA1 signatures verified (bearer accepted where X accepts app-only auth);
per-endpoint fixed windows with x-rate-limit-* headers and real 429s; errors in X's problem
shapes. Account Activity webhooks are delivered (CRC-checked at registration, signed with
x-twitter-webhooks-signature) to a registered URL.

Control (`/_emulator/...`): POST customer-messages (a DM or a mention may carry `"media": {"data":
base64, "mime_type"}`), GET sent, GET stats, POST config, POST webhook.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .emulator_state import Credentials, DmEvent, EmulatorState, Media, Tweet, User, iso
from .parse import id_key
from .text import MAX_DM, weighted_length
from .webhook import SIGNATURE_HEADER, crc_response, sign

_MENTION = re.compile(r"@(\w{1,15})")


def _problem(
    status: int,
    title: str,
    detail: str,
    kind: str = "about:blank",
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"title": title, "detail": detail, "type": kind, "status": status}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


def _invalid(message: str, parameter: str) -> JSONResponse:
    return _problem(
        400,
        "Invalid Request",
        "One or more parameters to your request was invalid.",
        "https://api.twitter.com/2/problems/invalid-request",
        errors=[{"parameters": {parameter: []}, "message": message}],
    )


def _fields(request: Request, name: str) -> set[str]:
    return {f for f in request.query_params.get(name, "").split(",") if f}


class XEmulator:
    """The emulator: `app` is the ASGI app, `state` what it knows (tests may read it)."""

    def __init__(
        self,
        *,
        user_id: str = "1000",
        handle: str = "helpline",
        name: str = "Helpline Support",
        credentials: Credentials | None = None,
    ) -> None:
        self.state = EmulatorState(User(user_id, handle, name), credentials or Credentials())
        self.app = Starlette(
            routes=[
                Route("/2/users/me", self._me),
                Route("/2/users/{id}/mentions", self._mentions),
                Route("/2/tweets/{id}", self._tweet),
                Route("/2/tweets", self._create_tweet, methods=["POST"]),
                Route("/2/dm_events", self._dm_events),
                Route("/2/dm_conversations/with/{participant_id}/messages", self._create_dm, methods=["POST"]),
                Route("/1.1/ton/data/dm/{event_id}/{media_id}/{name}", self._dm_media),
                Route("/dm_video/{event_id}/{media_id}/{name}", self._dm_media),
                Route("/dm_gif/{event_id}/{media_id}/{name}", self._dm_media),
                Route("/media/{name}", self._tweet_media),
                Route("/ext_tw_video/{media_id}/pu/vid/{name}", self._tweet_media),
                Route("/tweet_video/{name}", self._tweet_media),
                Route("/_emulator/customer-messages", self._customer_message, methods=["POST"]),
                Route("/_emulator/sent", self._sent),
                Route("/_emulator/stats", self._stats),
                Route("/_emulator/config", self._config, methods=["POST"]),
                Route("/_emulator/webhook", self._register_webhook, methods=["POST"]),
            ]
        )

    # --- plumbing ---------------------------------------------------------------------------
    async def _guard(self, request: Request, endpoint: str, *, bearer_ok: bool) -> Response | dict[str, str]:
        """Authorise, inject configured failures, spend the rate limit. Returns headers or an error."""
        st = self.state
        problem = st.check_auth(
            request.method, str(request.url), request.headers.get("authorization"), bearer_ok=bearer_ok
        )
        if problem == "unauthorized":
            st.stats["auth_failures"] += 1
            return _problem(401, "Unauthorized", "Unauthorized")
        if problem is not None:
            st.stats["auth_failures"] += 1
            return _problem(
                403,
                "Unsupported Authentication",
                "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.",
                "https://api.twitter.com/2/problems/unsupported-authentication",
            )
        allowed, headers = st.hit(endpoint)
        if not allowed:
            return _problem(429, "Too Many Requests", "Too Many Requests", headers=headers)
        pending = st.failures.get(endpoint)
        if pending:
            status = pending.pop(0)
            return _problem(
                status, "Service Unavailable" if status >= 500 else "Error", "injected by the emulator", headers=headers
            )
        return headers

    def _tweet_json(self, tweet: Tweet, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": tweet.id, "text": tweet.text, "edit_history_tweet_ids": [tweet.id]}
        entities = self._entities(tweet.text) or {}
        if tweet.media is not None:  # the t.co link X appends for the photo, naming its media key
            media = tweet.media
            entities["urls"] = [
                {
                    "start": len(tweet.text) - len(media.short_url),
                    "end": len(tweet.text),
                    "url": media.short_url,
                    "media_key": media.media_key,
                    "expanded_url": f"https://twitter.com/i/status/{tweet.id}/photo/1",
                    "display_url": "pic.twitter.com/" + media.short_url.rsplit("/", 1)[-1],
                }
            ]
        optional: dict[str, Any] = {
            "author_id": tweet.author_id,
            "conversation_id": tweet.conversation_id,
            "created_at": iso(tweet.created_at),
            "in_reply_to_user_id": tweet.in_reply_to_user_id,
            "referenced_tweets": (
                [{"type": "replied_to", "id": tweet.in_reply_to_tweet_id}] if tweet.in_reply_to_tweet_id else None
            ),
            "entities": entities or None,
            "attachments": {"media_keys": [tweet.media.media_key]} if tweet.media else None,
        }
        out.update({k: v for k, v in optional.items() if k in fields and v})
        return out

    @staticmethod
    def _media_json(media: Media, url: str, base: str, fields: set[str]) -> dict[str, Any]:
        """A v2 media object: a photo's `url`; a video's or GIF's `variants` and
        `preview_image_url` (X gives those no `url`)."""
        out: dict[str, Any] = {"media_key": media.media_key, "type": media.type}
        if not media.playable:
            return out | {"url": url} if "url" in fields else out
        if "variants" in fields:
            out["variants"] = media.variants(url, "bit_rate")
        if "preview_image_url" in fields:
            out["preview_image_url"] = media.preview_url(base)
        return out

    def _entities(self, text: str) -> dict[str, Any] | None:
        mentions = []
        for m in _MENTION.finditer(text):
            user = next((u for u in self.state.users.values() if u.username.lower() == m.group(1).lower()), None)
            entry = {"start": m.start(), "end": m.end(), "username": m.group(1)}
            mentions.append({**entry, "id": user.id} if user else entry)
        return {"mentions": mentions} if mentions else None

    def _dm_json(self, event: DmEvent, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": event.id, "text": event.text, "event_type": "MessageCreate"}
        optional: dict[str, Any] = {
            "dm_conversation_id": event.dm_conversation_id,
            "sender_id": event.sender_id,
            "participant_ids": event.participant_ids,
            "created_at": iso(event.created_at),
        }
        if event.media is not None:
            media = event.media
            start = len(event.text) - len(media.short_url)
            optional["attachments"] = {"media_keys": [media.media_key]}
            optional["entities"] = {
                "urls": [
                    {
                        "start": start,
                        "end": len(event.text),
                        "url": media.short_url,
                        "media_key": media.media_key,
                        "expanded_url": f"https://twitter.com/messages/media/{event.id}",
                        "display_url": "pic.twitter.com/" + media.short_url.rsplit("/", 1)[-1],
                    }
                ]
            }
        out.update({k: v for k, v in optional.items() if k in fields})
        return out

    def _page(
        self, items: list[Any], request: Request, *, low: int, high: int, default: int, since_id: str | None = None
    ) -> tuple[list[Any], str | None] | JSONResponse:
        try:
            size = int(request.query_params.get("max_results", default))
        except ValueError:
            return _invalid("max_results must be an integer", "max_results")
        if not low <= size <= high:
            return _invalid(
                f"The `max_results` query parameter value [{size}] is not between {low} and {high}", "max_results"
            )
        token = request.query_params.get("pagination_token")
        if token is not None and not re.fullmatch(r"[0-9a-f]{8,}", token):
            return _invalid("The `pagination_token` query parameter value is not valid", "pagination_token")
        below = str(int(token, 16)) if token else None
        rows = [
            i
            for i in items
            if (since_id is None or id_key(i.id) > id_key(since_id)) and (below is None or id_key(i.id) < id_key(below))
        ]
        page = rows[:size]
        more = len(rows) > size
        return page, (f"{int(page[-1].id):x}" if more else None)

    # --- X API v2 -------------------------------------------------------------------------------
    async def _me(self, request: Request) -> Response:
        guard = await self._guard(request, "users_me", bearer_ok=False)
        if isinstance(guard, Response):
            return guard
        return JSONResponse({"data": self.state.brand.json()}, headers=guard)

    async def _mentions(self, request: Request) -> Response:
        guard = await self._guard(request, "mentions", bearer_ok=True)
        if isinstance(guard, Response):
            return guard
        st = self.state
        if request.path_params["id"] != st.brand.id:
            return _problem(
                404, "Not Found Error", "Could not find user", "https://api.twitter.com/2/problems/resource-not-found"
            )
        paged = self._page(
            st.mentions_of_brand(), request, low=5, high=100, default=10, since_id=request.query_params.get("since_id")
        )
        if isinstance(paged, JSONResponse):
            return paged
        page, next_token = paged
        if not page:
            return JSONResponse({"meta": {"result_count": 0}}, headers=guard)
        fields = _fields(request, "tweet.fields")
        body: dict[str, Any] = {"data": [self._tweet_json(t, fields) for t in page]}
        expansions, includes = _fields(request, "expansions"), {}
        if "author_id" in expansions:
            authors = dict.fromkeys(t.author_id for t in page)
            includes["users"] = [st.users[a].json() for a in authors]
        with_media = [t for t in page if t.media is not None]
        if with_media and "attachments.media_keys" in expansions:
            base, media_fields = str(request.base_url).rstrip("/"), _fields(request, "media.fields")
            includes["media"] = [
                self._media_json(t.media, base + (t.media_path() or ""), base, media_fields)
                for t in with_media
                if t.media is not None
            ]
        if includes:
            body["includes"] = includes
        meta: dict[str, Any] = {"result_count": len(page), "newest_id": page[0].id, "oldest_id": page[-1].id}
        if next_token:
            meta["next_token"] = next_token
        body["meta"] = meta
        return JSONResponse(body, headers=guard)

    async def _tweet(self, request: Request) -> Response:
        guard = await self._guard(request, "tweet_lookup", bearer_ok=True)
        if isinstance(guard, Response):
            return guard
        tweet = self.state.tweets.get(request.path_params["id"])
        if tweet is None:
            return JSONResponse(
                {
                    "errors": [
                        {
                            "value": request.path_params["id"],
                            "detail": "Could not find tweet",
                            "title": "Not Found Error",
                            "resource_type": "tweet",
                            "type": "https://api.twitter.com/2/problems/resource-not-found",
                        }
                    ]
                },
                headers=guard,
            )
        return JSONResponse({"data": self._tweet_json(tweet, _fields(request, "tweet.fields"))}, headers=guard)

    async def _dm_events(self, request: Request) -> Response:
        guard = await self._guard(request, "dm_events", bearer_ok=False)
        if isinstance(guard, Response):
            return guard
        st = self.state
        events = sorted(
            (e for e in st.dms if st.brand.id in e.participant_ids), key=lambda e: id_key(e.id), reverse=True
        )
        paged = self._page(events, request, low=1, high=100, default=100)
        if isinstance(paged, JSONResponse):
            return paged
        page, next_token = paged
        fields = _fields(request, "dm_event.fields")
        body: dict[str, Any] = {"data": [self._dm_json(e, fields) for e in page]} if page else {}
        expansions = _fields(request, "expansions")
        includes: dict[str, Any] = {}
        if page and "sender_id" in expansions:
            senders = dict.fromkeys(e.sender_id for e in page)
            includes["users"] = [st.users[s].json() for s in senders]
        with_media = [e for e in page if e.media is not None]
        if with_media and "attachments.media_keys" in expansions:
            base, media_fields = str(request.base_url).rstrip("/"), _fields(request, "media.fields")
            includes["media"] = [
                self._media_json(e.media, base + (e.media_path() or ""), base, media_fields)
                for e in with_media
                if e.media is not None
            ]
        if includes:
            body["includes"] = includes
        meta: dict[str, Any] = {"result_count": len(page)}
        if next_token:
            meta["next_token"] = next_token
        body["meta"] = meta
        return JSONResponse(body, headers=guard)

    async def _create_tweet(self, request: Request) -> Response:
        guard = await self._guard(request, "tweets_create", bearer_ok=False)
        if isinstance(guard, Response):
            return guard
        st = self.state
        body = await request.json()
        text = str(body.get("text") or "")
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if not text or weighted_length(text) > 280:
            return _invalid("Your Tweet text is too long." if text else "text is required", "text")
        if reply_to and reply_to not in st.tweets:
            return _invalid(
                "The tweet you are replying to is not visible or was deleted.", "reply.in_reply_to_tweet_id"
            )
        if any(t.author_id == st.brand.id and t.text == text for t in st.tweets.values()):
            return _problem(
                403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.", headers=guard
            )
        tweet = st.add_tweet(st.brand, text, reply_to)
        st.sent.append(
            {
                "id": tweet.id,
                "kind": "tweet",
                "visibility": "public",
                "text": text,
                "in_reply_to": tweet.in_reply_to_tweet_id,
                "conversation_id": tweet.conversation_id,
                "recipient_id": None,
            }
        )
        return JSONResponse(
            {"data": {"id": tweet.id, "text": text, "edit_history_tweet_ids": [tweet.id]}},
            status_code=201,
            headers=guard,
            background=BackgroundTask(self._deliver, self._tweet_event(tweet, str(request.base_url).rstrip("/"))),
        )

    async def _create_dm(self, request: Request) -> Response:
        guard = await self._guard(request, "dm_create", bearer_ok=False)
        if isinstance(guard, Response):
            return guard
        st = self.state
        participant = request.path_params["participant_id"]
        text = str((await request.json()).get("text") or "")
        if not text or len(text) > MAX_DM:
            return _invalid("text must be 1 to 10000 characters", "text")
        if participant == st.brand.id or participant not in st.users:
            return _problem(403, "Forbidden", "You cannot send messages to this user.", headers=guard)
        event = st.add_dm(st.brand, participant, text)
        st.sent.append(
            {
                "id": event.id,
                "kind": "direct",
                "visibility": "private",
                "text": text,
                "in_reply_to": None,
                "conversation_id": event.dm_conversation_id,
                "recipient_id": participant,
            }
        )
        return JSONResponse(
            {"data": {"dm_conversation_id": event.dm_conversation_id, "dm_event_id": event.id}},
            status_code=201,
            headers=guard,
            background=BackgroundTask(
                self._deliver, self._dm_event(event, participant, str(request.base_url).rstrip("/"))
            ),
        )

    async def _dm_media(self, request: Request) -> Response:
        """A DM's file, as ton.twitter.com serves it: only to an OAuth 1.0a-signed GET of the
        account (a DM participant); anything else, a bearer token included, is 401."""
        st = self.state
        if (
            st.check_auth(request.method, str(request.url), request.headers.get("authorization"), bearer_ok=False)
            is not None
        ):
            st.stats["auth_failures"] += 1
            return Response(status_code=401)
        event = next((e for e in st.dms if e.id == request.path_params["event_id"]), None)
        if (
            event is None
            or event.media is None
            or event.media_path() != request.url.path
            or st.brand.id not in event.participant_ids
        ):
            return Response(status_code=404)
        st.stats["media_downloads"] += 1
        return Response(event.media.data, media_type=event.media.content_type)

    async def _tweet_media(self, request: Request) -> Response:
        """A public tweet's photo, as pbs.twimg.com serves it: to anyone, no credentials asked (a
        request that sends some anyway is counted: the connector must not)."""
        st = self.state
        tweet = next((t for t in st.tweets.values() if t.media_path() == request.url.path), None)
        if tweet is None or tweet.media is None:
            return Response(status_code=404)
        st.stats["media_downloads"] += 1
        if "authorization" in request.headers or "cookie" in request.headers:
            st.stats["public_media_with_credentials"] += 1
        return Response(tweet.media.data, media_type=tweet.media.content_type)

    # --- Account Activity delivery --------------------------------------------------------------
    def _v1_user(self, user_id: str) -> dict[str, Any]:
        user = self.state.users[user_id]
        return {"id": int(user.id), "id_str": user.id, "name": user.name, "screen_name": user.username}

    @staticmethod
    def _v1_media_urls(media: Media, url: str, base: str) -> dict[str, Any]:
        """A v1.1 media entity's links: a photo's `media_url`; a video's or GIF's still there and
        its MP4 in `video_info.variants`."""
        if not media.playable:
            return {"media_url": url, "media_url_https": url}
        still = media.preview_url(base)
        return {
            "media_url": still,
            "media_url_https": still,
            "video_info": {"aspect_ratio": [16, 9], "variants": media.variants(url, "bitrate")},
        }

    def _tweet_event(self, tweet: Tweet, base: str) -> dict[str, Any]:
        reply_to = tweet.in_reply_to_tweet_id
        entities = self._entities(tweet.text) or {"mentions": []}
        media = []
        if tweet.media is not None:  # the v1.1 shape: the file in extended_entities, its t.co link ending the text
            url = base + (tweet.media_path() or "")
            kind = "video" if tweet.media.playable else "photo"
            media = [
                {
                    "id": int(tweet.media.id),
                    "id_str": tweet.media.id,
                    "type": tweet.media.type,
                    "indices": [len(tweet.text) - len(tweet.media.short_url), len(tweet.text)],
                    **self._v1_media_urls(tweet.media, url, base),
                    "url": tweet.media.short_url,
                    "display_url": "pic.twitter.com/" + tweet.media.short_url.rsplit("/", 1)[-1],
                    "expanded_url": f"https://twitter.com/i/status/{tweet.id}/{kind}/1",
                }
            ]
        return {
            "for_user_id": self.state.brand.id,
            "tweet_create_events": [
                {
                    "created_at": tweet.created_at.strftime("%a %b %d %H:%M:%S +0000 %Y"),
                    "id": int(tweet.id),
                    "id_str": tweet.id,
                    "text": tweet.text,
                    "truncated": False,
                    "in_reply_to_status_id": int(reply_to) if reply_to else None,
                    "in_reply_to_status_id_str": reply_to,
                    "in_reply_to_user_id_str": tweet.in_reply_to_user_id,
                    "user": self._v1_user(tweet.author_id),
                    "entities": {
                        "hashtags": [],
                        "urls": [],
                        "symbols": [],
                        "user_mentions": [
                            {"screen_name": m["username"], "id_str": m.get("id"), "indices": [m["start"], m["end"]]}
                            for m in entities["mentions"]
                        ],
                        **({"media": media} if media else {}),
                    },
                    **({"extended_entities": {"media": media}} if media else {}),
                }
            ],
        }

    def _dm_event(self, event: DmEvent, recipient: str, base: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text": event.text,
            "entities": {"hashtags": [], "symbols": [], "urls": [], "user_mentions": []},
        }
        if event.media is not None:  # the v1.1 shape: one attachment, its t.co link ending the text
            media = event.media
            indices = [len(event.text) - len(media.short_url), len(event.text)]
            url = base + (event.media_path() or "")
            data["entities"]["urls"] = [
                {
                    "url": media.short_url,
                    "indices": indices,
                    "expanded_url": f"https://twitter.com/messages/media/{event.id}",
                    "display_url": "pic.twitter.com/" + media.short_url.rsplit("/", 1)[-1],
                }
            ]
            data["attachment"] = {
                "type": "media",
                "media": {
                    "id": int(media.id),
                    "id_str": media.id,
                    "indices": indices,
                    "type": media.type,
                    **self._v1_media_urls(media, url, base),
                    "url": media.short_url,
                    "display_url": data["entities"]["urls"][0]["display_url"],
                    "expanded_url": data["entities"]["urls"][0]["expanded_url"],
                },
            }
        return {
            "for_user_id": self.state.brand.id,
            "direct_message_events": [
                {
                    "type": "message_create",
                    "id": event.id,
                    "created_timestamp": str(int(event.created_at.timestamp() * 1000)),
                    "message_create": {
                        "target": {"recipient_id": recipient},
                        "sender_id": event.sender_id,
                        "message_data": data,
                    },
                }
            ],
            "users": {uid: self._v1_user(uid) for uid in event.participant_ids},
        }

    async def _deliver(self, payload: dict[str, Any]) -> int | None:
        st = self.state
        if st.webhook_url is None or st.webhook_secret is None:
            return None
        body = json.dumps(payload).encode()
        headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(st.webhook_secret, body)}
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                response = await client.post(st.webhook_url, content=body, headers=headers)
        except httpx.HTTPError:
            return None
        st.stats["webhook_deliveries"] += 1
        return response.status_code

    # --- control ----------------------------------------------------------------------------------
    async def _customer_message(self, request: Request) -> Response:
        st = self.state
        body = await request.json()
        who = body.get("user") or {}
        media = body.get("media")
        if not who.get("id") or not (body.get("text") or media) or body.get("kind") not in ("mention", "direct"):
            return JSONResponse(
                {"error": "user.id, text (or media) and kind (mention|direct) are required"}, status_code=400
            )
        user = st.user(str(who["id"]), str(who.get("handle") or ""), str(who.get("name") or ""))
        text = str(body.get("text") or "")
        try:
            attached = (
                None
                if not isinstance(media, dict)
                else (base64.b64decode(str(media["data"]), validate=True), str(media.get("mime_type") or "image/jpeg"))
            )
        except (KeyError, binascii.Error) as exc:
            return JSONResponse({"error": f"media: {exc}"}, status_code=400)
        if body["kind"] == "direct":
            recipient = str(body.get("recipient_id") or st.brand.id)
            event = st.add_dm(user, recipient, text, attached)
            status = await self._deliver(self._dm_event(event, recipient, str(request.base_url).rstrip("/")))
            return JSONResponse(
                {"message_id": event.id, "thread": f"dm:{event.dm_conversation_id}", "webhook_status": status}
            )
        reply_to = body.get("reply_to")
        if reply_to is not None and str(reply_to) not in st.tweets:
            return JSONResponse({"error": f"reply_to: no tweet {reply_to}"}, status_code=400)
        handle = "@" + st.brand.username
        if user.id != st.brand.id and handle.lower() not in text.lower():
            text = f"{handle} {text}"  # X puts the replied-to handle first
        tweet = st.add_tweet(user, text, str(reply_to) if reply_to else None, attached)
        status = await self._deliver(self._tweet_event(tweet, str(request.base_url).rstrip("/")))
        return JSONResponse(
            {"message_id": tweet.id, "thread": f"tweet:{tweet.conversation_id}", "webhook_status": status}
        )

    async def _sent(self, request: Request) -> Response:
        return JSONResponse({"messages": self.state.sent})

    async def _stats(self, request: Request) -> Response:
        st = self.state
        return JSONResponse({**st.stats, "tweets": len(st.tweets), "dm_events": len(st.dms), "sent": len(st.sent)})

    async def _config(self, request: Request) -> Response:
        self.state.configure(await request.json())
        return JSONResponse({"ok": True})

    async def _register_webhook(self, request: Request) -> Response:
        """Register a webhook URL; like X, answer only after the URL passed a CRC check."""
        body = await request.json()
        url = str(body.get("url") or "")
        secret = str(body.get("consumer_secret") or self.state.credentials.consumer_secret)
        token = secrets.token_urlsafe(24)
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                response = await client.get(url, params={"crc_token": token})
            answer = response.json().get("response_token") if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            answer = None
        if answer != crc_response(secret, token)["response_token"]:
            return JSONResponse({"registered": False, "error": "CRC check failed"}, status_code=400)
        self.state.webhook_url, self.state.webhook_secret = url, secret
        return JSONResponse({"registered": True})


def create_app(**kwargs: Any) -> Starlette:
    """The emulator's ASGI app (see `XEmulator` for the keyword arguments)."""
    return XEmulator(**kwargs).app
