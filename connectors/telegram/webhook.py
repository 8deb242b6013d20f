"""The webhook endpoint Telegram POSTs updates to: verify, hand over, answer.

Telegram redelivers an update until it gets a 2xx, so the endpoint answers 200 only after the
update's effect is durable (the sink returned, or the update was unusable and is dead-lettered)
and 500 when it is not (Redis down): at-least-once, made effectively-once by the ingest dedupe.
Idempotent: a redelivered update is ingested once.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from helpline.connectors.errors import UnusableUpdate, decode_update

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name, not a secret)

log = logging.getLogger(__name__)

#: What to do after the 200 went out (answer a button press...), or None.
AfterResponse = Callable[[], Awaitable[None]] | None
#: Ingests one raw update durably; raises UnusableUpdate if it cannot be used, anything else if
#: it could not be stored.
UpdateSink = Callable[[dict[str, Any]], Awaitable[AfterResponse]]
#: Dead-letters an unusable update (raw body, reason); raises if it could not be stored.
Rejecter = Callable[[bytes, str], Awaitable[None]]

_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def valid_secret_token(value: str) -> bool:
    """Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - as a webhook secret token."""
    return bool(_SECRET_TOKEN.match(value))


def secret_matches(received: str | None, expected: str) -> bool:
    """Constant-time comparison, so the secret cannot be guessed byte by byte from timings."""
    if received is None:
        return False
    return hmac.compare_digest(received.encode(), expected.encode())


def routes(secret: str, sink: UpdateSink, label: str, reject: Rejecter) -> list[BaseRoute]:
    """Routes to mount under /webhooks/telegram/<account>; `label` names the account in logs."""

    async def receive(request: Request) -> Response:
        if not secret_matches(request.headers.get(SECRET_HEADER), secret):
            log.warning("telegram/%s: webhook call with a wrong or missing secret token refused", label)
            return Response(status_code=403)
        body = await request.body()
        try:
            try:
                after = await sink(decode_update(body))
            except UnusableUpdate as exc:
                await reject(body, str(exc))
                return Response(status_code=200)
        except Exception as exc:  # not stored: Telegram must redeliver
            log.warning(
                "telegram/%s: webhook update not ingested (%s); Telegram will redeliver", label, type(exc).__name__
            )
            return Response(status_code=500)
        return Response(status_code=200, background=BackgroundTask(after) if after is not None else None)

    return [Route("/", receive, methods=["POST"])]
