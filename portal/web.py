"""The help center's pages and its two small endpoints, as a router the console mounts at /help.

- `/help/` → the default language; `/help/<lang>/` the articles by category; `/help/<lang>/<key>`
  an article (canonical link, hreflang alternates, language switcher, "Was this helpful?");
  `/help/<lang>/search?q=` results (a plain form: works without JavaScript); `/help/sitemap.xml`.
- `/help/<lang>/suggest?q=` suggestions as JSON for the search box, and the votes (POST), are
  rate-limited per client address in Redis (shared by every console process).

No login and no cookies; the console's security headers (strict CSP: scripts and styles only
from files under /help/static) apply to every page.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from xml.sax.saxutils import escape

import redis.asyncio as redis
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from helpline.bots.kb import Article
from helpline.connectors.base import RateLimit
from helpline.connectors.ratelimit import SharedRateLimiter

from .feedback import record_vote
from .site import Site, page_path

HERE = Path(__file__).parent
SUGGEST_LIMIT = RateLimit("suggest", rate=5, period=1.0, burst=20)  # typing: a burst, then 5 a second
VOTE_LIMIT = RateLimit("vote", rate=10, period=60.0, burst=10)
CACHE = "public, max-age=60"
#: The page's own files, read once: a fixed list, so no path from a request reaches the disk.
ASSETS = {name: (HERE / "static" / name).read_bytes() for name in ("portal.css", "portal.js")}
MEDIA = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8"}


ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def absolute(base_url: str, article: Article) -> str:
    """The article's canonical address: its `url` (the link the bot sends) or its page here."""
    return article.url or base_url.rstrip("/") + page_path(article.language, article.key)


def render(site: Site, template: str, lang: str, **context: Any) -> str:
    """A page of the help center (pure: the same for every visitor, no cookies, no session)."""
    languages = [(code, site.catalog.text(code, "language_name")) for code in site.languages()]
    return ENV.get_template(template).render(
        lang=lang,
        t=lambda m, **p: site.catalog.text(lang, m, **p),
        languages=languages,
        page_path=page_path,
        **{"switch": {}, **context},
    )


def render_article(site: Site, base_url: str, found: Article, thanked: bool = False) -> str:
    """An article's page; `base_url` (the help center's address) matters only for an article
    without a canonical `url`."""
    lang, key = found.language, found.key
    alternates = [(a.language, absolute(base_url, a)) for a in site.translations(found)]
    switch = {a.language: page_path(a.language, a.key) for a in site.translations(found)}
    return render(
        site,
        "article.html",
        lang,
        article=found,
        body=site.bodies[(lang, key)],
        canonical=absolute(base_url, found),
        alternates=alternates,
        translations=site.translations(found),
        thanked=thanked,
        query="",
        switch=switch,
        default_href=next((h for code, h in alternates if code == site.default_language), None),
    )


def portal_router(site: Site, client: redis.Redis) -> APIRouter:
    """The help center's routes (prefix /help); idempotent reads, votes counted once per request."""
    router = APIRouter(prefix="/help", include_in_schema=False)
    limiter = SharedRateLimiter(client)

    def t(lang: str, message: str, **params: object) -> str:
        return site.catalog.text(lang, message, **params)

    def page(request: Request, template: str, lang: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(
            render(site, template, lang, **context),
            status_code=status,
            headers={"cache-control": CACHE} if status == 200 else {},
        )

    def not_found(request: Request, lang: str) -> HTMLResponse:
        lang = lang if lang in site.languages() else site.default_language
        return page(request, "message.html", lang, status=404, message=t(lang, "not_found"), query="")

    async def limited(request: Request, limit: RateLimit) -> float:
        return await limiter.acquire(
            "portal", limit.key, [RateLimit(f"ip:{_client(request)}", limit.rate, limit.period, limit.burst)]
        )

    @router.get("/", response_class=HTMLResponse)
    async def home() -> Response:
        return RedirectResponse(f"/help/{site.default_language}/", status_code=307)

    @router.get("/static/{name}")
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            return Response(status_code=404)
        return Response(
            ASSETS[name], media_type=MEDIA[name.rsplit(".", 1)[1]], headers={"cache-control": "public, max-age=3600"}
        )

    @router.get("/sitemap.xml")
    async def sitemap(request: Request) -> Response:
        rows = []
        for a in site.kb.articles:
            alternates = "".join(
                f'<xhtml:link rel="alternate" hreflang="{o.language}" '
                f'href="{escape(absolute(str(request.base_url), o))}"/>'
                for o in site.translations(a)
            )
            rows.append(f"<url><loc>{escape(absolute(str(request.base_url), a))}</loc>{alternates}</url>")
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:xhtml="http://www.w3.org/1999/xhtml">' + "".join(rows) + "</urlset>"
        )
        return Response(body, media_type="application/xml", headers={"cache-control": CACHE})

    @router.get("/{lang}/", response_class=HTMLResponse)
    async def index(request: Request, lang: str) -> Response:
        if lang not in site.languages():
            return not_found(request, lang)
        return page(request, "index.html", lang, categories=site.categories(lang), query="")

    @router.get("/{lang}/search", response_class=HTMLResponse)
    async def search(request: Request, lang: str, q: Annotated[str, Query(max_length=500)] = "") -> Response:
        if lang not in site.languages():
            return not_found(request, lang)
        await site.prepare(q)
        return page(request, "search.html", lang, query=q, results=site.search(q, lang))

    @router.get("/{lang}/suggest")
    async def suggest(request: Request, lang: str, q: Annotated[str, Query(max_length=500)] = "") -> Response:
        """Suggestions for what the visitor is typing: JSON `{"suggestions": [{title, url, summary}]}`."""
        if lang not in site.languages():
            return JSONResponse({"error": {"status": 404, "message": f"unknown language {lang!r}"}}, 404)
        wait = await limited(request, SUGGEST_LIMIT)
        if wait:
            return JSONResponse(
                {"error": {"status": 429, "message": t(lang, "too_many")}},
                429,
                headers={"retry-after": str(max(1, round(wait)))},
            )
        # Public articles, no credentials: any site may ask (the chat widget shows them on the company's site).
        await site.prepare(q)
        return JSONResponse(
            {"suggestions": [asdict(s) for s in site.suggestions(q, lang)]},
            headers={"access-control-allow-origin": "*"},
        )

    @router.get("/{lang}/{key}", response_class=HTMLResponse)
    async def article(request: Request, lang: str, key: str, feedback: str = "") -> Response:
        found = site.article(lang, key)
        if found is None:
            return not_found(request, lang)
        return HTMLResponse(
            render_article(site, str(request.base_url), found, feedback == "thanks"), headers={"cache-control": CACHE}
        )

    @router.post("/{lang}/{key}/feedback")
    async def vote(
        request: Request, lang: str, key: str, helpful: Annotated[str, Form(pattern="^(yes|no)$")]
    ) -> Response:
        """Count one "Was this helpful?" answer, then back to the article (a form: no script needed)."""
        if site.article(lang, key) is None:
            return not_found(request, lang)
        if await limited(request, VOTE_LIMIT):
            return page(request, "message.html", lang, status=429, message=t(lang, "too_many"), query="")
        await record_vote(client, datetime.now(UTC).date(), key, lang, helpful == "yes")
        return RedirectResponse(f"{page_path(lang, key)}?feedback=thanks#feedback", status_code=303)

    return router
