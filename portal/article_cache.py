"""Article pages from memory, answered before the console's routing.

An article page is the same for every visitor (no login, no cookies, nothing per request), and the
articles are fixed while the process runs, so each page is rendered once and kept as bytes. This
ASGI layer answers `GET`/`HEAD /help/<lang>/<key>` without a query string from those bytes; the
framework's route matching over the console's several hundred routes, not rendering, was most of
a page's server time. Anything else, an unknown article included, goes on to the application
(which renders the same page: `web.render_article`). The console's security headers are added
by the layer outside this one, as on every response.

A page whose canonical address depends on the Host header (an article without a `url`, when
`[portal] public_url` is not set) is kept per host, in a bounded least-recently-used map.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .site import Site
from .web import CACHE, render_article

_PAGE = re.compile(r"^/help/([A-Za-z-]{2,16})/([A-Za-z0-9_.-]{1,200})$")
MAX_PAGES = 4096


class CachedArticlePages:
    def __init__(self, app: ASGIApp, site: Site, max_pages: int = MAX_PAGES) -> None:
        self.app = app
        self.site = site
        self.max_pages = max_pages
        self.pages: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and not scope.get("query_string"):
            found = _PAGE.match(scope["path"])
            body = self.page(scope, found[1], found[2]) if found else None
            if body is not None:
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                    (b"cache-control", CACHE.encode())]})
                await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
                return
        await self.app(scope, receive, send)

    def page(self, scope: Scope, lang: str, key: str) -> bytes | None:
        """The rendered page, from memory after the first time; None: not an article here."""
        article = self.site.article(lang, key)
        if article is None:
            return None
        needs_host = any(not a.url for a in self.site.translations(article))  # a link to a page here
        base = str(Request(scope).base_url) if needs_host else ""
        name = (base, lang, key)
        body = self.pages.get(name)
        if body is None:
            body = render_article(self.site, base, article).encode()
            self.pages[name] = body
            if len(self.pages) > self.max_pages:
                self.pages.popitem(last=False)
        else:
            self.pages.move_to_end(name)
        return body
