"""A stand-in for the company's own site, on an origin of its own, embedding the chat widget with
one script tag: for the demo and the browser tests (not part of a production install)."""

from __future__ import annotations

from html import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from .identity import user_hmac

PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Helpline Exchange</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;margin:0;padding:2rem;background:#fffbea}}
h1{{color:#92400e}} button{{font-size:2rem}}</style></head>
<body><h1>Helpline Exchange</h1><p>{intro}</p>
<script src="{src}" async{attrs}></script></body></html>"""


def demo_site(script_url: str, identity_secret: str | None = None, transport: str | None = None) -> Starlette:
    """`/` an anonymous visitor; `/signed-in?user=<id>` a signed-in user whose page carries the
    HMAC computed with `identity_secret` (as the site's server would); `&forged=1` a wrong HMAC."""

    async def page(request: Request) -> HTMLResponse:
        attrs = f' data-transport="{escape(transport)}"' if transport else ""
        intro = "An anonymous visitor: the chat button is at the bottom right."
        user = request.query_params.get("user")
        if request.url.path == "/signed-in" and user and identity_secret:
            signature = user_hmac(identity_secret, user)
            if request.query_params.get("forged"):
                signature = user_hmac("not-the-secret", user)
            attrs += f' data-user-id="{escape(user)}" data-user-hash="{signature}"'
            intro = f"Signed in as {escape(user)}: the chat is linked to this customer."
        lang = request.query_params.get("lang", "en")[:2]
        return HTMLResponse(PAGE.format(lang=escape(lang), intro=intro, src=escape(script_url), attrs=attrs))

    return Starlette(routes=[Route("/", page), Route("/signed-in", page)])
