"""Answer links in mails: a survey rating or a bot's question answered with one click.

A mail cannot carry buttons, so each choice is a link to a page Helpline serves. The link
carries what the answer is (the thread, the customer, the reply it answers, the value) and an
HMAC-SHA256 of it with the account's `link_secret`, so a rating cannot be forged or changed by
editing the link. The page asks to confirm with a button (a POST): mail scanners that open
every link (GET) record nothing. The answer enters the pipeline as the customer's message in the
thread, exactly as if they had written the value, so the survey and the bots need nothing new.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from helpline.connectors.base import Ingest
from helpline.routing.models import Author, InboundMessage, MessageKind, OutboundReply


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    account: str
    thread_key: str
    customer: str
    reply_id: str
    value: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, answer: Answer) -> str:
    body = _b64(answer.model_dump_json().encode())
    mac = hmac.new(secret, body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(secret: bytes, token: str, account: str) -> Answer | None:
    """The answer a token carries if its signature is right (compared in constant time)."""
    body, _, mac = token.partition(".")
    try:
        expected = hmac.new(secret, body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        answer = Answer.model_validate_json(_unb64(body))
    except (ValueError, ValidationError):
        return None
    return answer if answer.account == account else None


def link_maker(
    secret: bytes, public_url: str, platform: str, account: str, reply: OutboundReply, customer: str
) -> Callable[[str], str]:
    base = f"{public_url.rstrip('/')}/webhooks/{platform}/{account}/answer?t="

    def link(value: str) -> str:
        token = sign(
            secret,
            Answer(
                account=account, thread_key=reply.thread_key, customer=customer, reply_id=reply.reply_id, value=value
            ),
        )
        return base + quote(token, safe=".")

    return link


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{html.escape(title)}</title></head><body><main><h1>{html.escape(title)}</h1>{body}</main>"
        "</body></html>",
        status_code=status,
    )


def routes(secret: bytes, platform: str, account: str, ingest: Ingest) -> Sequence[BaseRoute]:
    async def answer(request: Request) -> Response:
        if request.method == "POST":
            form = await request.form()
            token = str(form.get("t", ""))
        else:
            token = request.query_params.get("t", "")
        found = verify(secret, token, account)
        if found is None:
            return _page("This link is not valid", "<p>It may have been changed or cut short.</p>", 403)
        if request.method != "POST":
            return _page(
                "Your answer",
                f"<p>{html.escape(found.value)}</p>"
                f'<form method="post"><input type="hidden" name="t" value="{html.escape(token)}">'
                '<button type="submit">Confirm</button></form>',
            )
        await ingest(
            [
                InboundMessage(
                    platform=platform,
                    account=account,
                    kind=MessageKind.DIRECT,
                    message_id=f"answer:{hashlib.sha256(token.encode()).hexdigest()[:40]}",
                    thread_key=found.thread_key,
                    author=Author(user_id=found.customer, handle=found.customer),
                    text=found.value,
                    in_reply_to=None,
                    platform_time=datetime.now(UTC),
                )
            ]
        )
        return _page("Thank you", f"<p>{html.escape(found.value)}</p><p>Your answer was recorded.</p>")

    return [Route("/answer", answer, methods=["GET", "POST"])]


def token_of(link: str) -> str:
    """The token of an answer link (tests, the demo's simulated customers)."""
    return link.split("?t=", 1)[1]


__all__ = ["Answer", "link_maker", "routes", "sign", "token_of", "verify"]
