"""Article pages from memory, answered ahead of everything else in the console, and every
help-center page timed.

An article page is the same for every visitor (no login, no cookies, nothing per request), and the
articles are fixed while the process runs, so each page is rendered once and kept as bytes with
its headers (the console's security headers included, passed in) and an ETag. This ASGI layer is
the console's outermost, in front of the framework itself (`console.front`): it answers
`GET`/`HEAD /help/<lang>/<key>` without a query string from those bytes (`304 Not Modified` to a
matching `If-None-Match`) without passing through the other layers; the framework's route
matching over the console's several hundred routes, not rendering, was most of a page's server
time. Anything else, an unknown article included, goes on to the application (which renders the
same page: `web.render_article`).

Every response under /help/ carries `Server-Timing: app;dur=<ms>`, the time from this layer being
called to the response's start (a page is rendered before it starts), and the same time goes to
`observe` (the console's histogram). It does not include the time a request waited for the event
loop before reaching the application; a client under load sees that on top.

A page whose canonical address depends on the Host header (an article without a `url`, when
`[portal] public_url` is not set) is kept per host, in a bounded least-recently-used map.

The pages kept belong to one knowledge base: when the site's `kb` is another object (a reload),
they are all dropped before the next request is answered, so a page never outlives its articles.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from time import perf_counter

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .site import Site
from .web import CACHE, render_article

_PAGE = re.compile(r"^/help/([A-Za-z-]{2,16})/([A-Za-z0-9_.-]{1,200})$")
MAX_PAGES = 4096
Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Page:
    body: bytes
    etag: bytes
    headers: Headers  # of the 200
    not_modified: Headers  # of a 304: what a cache needs to refresh its copy, no body


def timing(seconds: float) -> tuple[bytes, bytes]:
    return b"server-timing", b"app;dur=%.3f" % (seconds * 1000)


def _matches(scope: Scope, etag: bytes) -> bool:
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            return value.strip() == b"*" or etag in (v.strip().removeprefix(b"W/") for v in value.split(b","))
    return False


class CachedArticlePages:
    def __init__(
        self,
        app: ASGIApp,
        site: Site,
        headers: Sequence[tuple[bytes, bytes]] = (),
        observe: Callable[[float], None] | None = None,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.app = app
        self.site = site
        self.headers = list(headers)  # sent with every page from memory (the console's security headers)
        self.observe = observe or (lambda _: None)
        self.max_pages = max_pages
        self.pages: OrderedDict[tuple[str, str, str], Page] = OrderedDict()
        self.kb = site.kb  # whose articles the kept pages show

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/help/"):
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        if scope["method"] in ("GET", "HEAD") and not scope.get("query_string"):
            found = _PAGE.match(scope["path"])
            page = self.page(scope, found[1], found[2]) if found else None
            if page is not None:
                fresh = _matches(scope, page.etag)
                took = perf_counter() - start
                await send(
                    {
                        "type": "http.response.start",
                        "status": 304 if fresh else 200,
                        "headers": [*(page.not_modified if fresh else page.headers), timing(took)],
                    }
                )
                await send(
                    {"type": "http.response.body", "body": b"" if fresh or scope["method"] == "HEAD" else page.body}
                )
                self.observe(took)
                return

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = perf_counter() - start
                message["headers"] = [*message.get("headers", []), timing(took)]
                self.observe(took)
            await send(message)

        await self.app(scope, receive, timed)

    def page(self, scope: Scope, lang: str, key: str) -> Page | None:
        """The rendered page, from memory after the first time; None: not an article here."""
        if self.site.kb is not self.kb:  # the knowledge base was reloaded: nothing kept is current
            self.pages.clear()
            self.kb = self.site.kb
        article = self.site.article(lang, key)
        if article is None:
            return None
        needs_host = any(not a.url for a in self.site.translations(article))  # a link to a page here
        base = str(Request(scope).base_url) if needs_host else ""
        name = (base, lang, key)
        found = self.pages.get(name)
        if found is None:
            found = self._page(render_article(self.site, base, article).encode())
            self.pages[name] = found
            if len(self.pages) > self.max_pages:
                self.pages.popitem(last=False)
        else:
            self.pages.move_to_end(name)
        return found

    def _page(self, body: bytes) -> Page:
        etag = b'"%s"' % hashlib.blake2b(body, digest_size=12).hexdigest().encode()
        cache = [(b"cache-control", CACHE.encode()), (b"etag", etag)]
        return Page(
            body,
            etag,
            [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *cache,
                *self.headers,
            ],
            [*cache, *self.headers],
        )
