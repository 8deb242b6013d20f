"""Article pages from memory: the same bytes and headers as the rendered route, rendered once,
per host where the canonical link needs it, bounded, revalidated by ETag, and everything else left
to the routes; every help-center page timed (Server-Timing and the console's histogram)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from helpline.insights.metrics import REGISTRY
from helpline.portal import article_cache
from helpline.portal.site import Site
from tests.factories import create_app

from .conftest import PUBLIC, help_parts

ARTICLE = "/help/ko/withdrawal-pending"


async def test_an_article_page_is_the_rendered_page_rendered_once(
    web: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = await web.get(ARTICLE)
    routed = await web.get(ARTICLE + "?from=test")  # a query string goes through the routes
    assert cached.status_code == routed.status_code == 200
    assert cached.content == routed.content and "출금" in cached.text
    differ = ("date", "server-timing", "etag")  # the time taken; an ETag only for a page kept in memory
    assert {k: v for k, v in cached.headers.items() if k not in differ} == {
        k: v for k, v in routed.headers.items() if k not in differ
    }
    assert "script-src 'self'" in cached.headers["content-security-policy"]  # the console's headers too

    def no_rendering(*args: object, **kwargs: object) -> str:
        raise AssertionError("rendered again")

    monkeypatch.setattr(article_cache, "render_article", no_rendering)
    again = await web.get(ARTICLE)
    assert again.status_code == 200 and again.content == cached.content  # from memory
    head = await web.head(ARTICLE)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(cached.content))


async def test_an_article_page_from_memory_never_enters_the_framework(
    web: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastAPI's own per-request work (root path, telemetry check, error middleware) cost about as
    much as the whole answer from memory: the layer is in front of it (`console.front`)."""
    entered: list[str] = []
    framework = FastAPI.__call__

    async def counted(self: FastAPI, scope: Scope, receive: Receive, send: Send) -> None:
        entered.append(scope["path"])
        await framework(self, scope, receive, send)

    monkeypatch.setattr(FastAPI, "__call__", counted)
    assert (await web.get(ARTICLE)).status_code == 200
    assert (await web.head(ARTICLE)).status_code == 200
    assert entered == []
    assert (await web.get(ARTICLE + "?via=route")).status_code == 200
    assert (await web.get("/help/ko/")).status_code == 200
    assert entered == [ARTICLE, "/help/ko/"]  # everything else goes through it


async def test_anything_but_a_known_article_goes_to_the_routes(web: httpx.AsyncClient) -> None:
    missing = await web.get("/help/ko/no-such-article")
    assert missing.status_code == 404 and "<html" in missing.text
    assert (await web.get("/help/static/portal.css")).headers["content-type"].startswith("text/css")
    assert (await web.get("/help/ko/search")).status_code == 200  # the search form, not an article
    voted = await web.post(ARTICLE + "/feedback", data={"helpful": "yes"})
    assert voted.status_code == 303


async def test_a_page_whose_canonical_link_needs_the_host_is_kept_per_host(r: redis.Redis, tmp_path: Path) -> None:
    (tmp_path / "x.md").write_text("---\nid: x-en\nkey: x\nlanguage: en\ntitle: Fees\n---\nNo fees.\n")
    app = create_app(help_parts(r, kb=tmp_path, portal={}))  # no public address: the link is this server's
    transport = httpx.ASGITransport(app=app)
    for host in ("http://one.test", "http://two.test", "http://one.test"):
        async with httpx.AsyncClient(transport=transport, base_url=host) as c:
            page = (await c.get("/help/en/x")).text
            assert f'<link rel="canonical" href="{host}/help/en/x">' in page


def test_the_kept_pages_are_bounded() -> None:
    from helpline.bots.kb import load_kb
    from helpline.bots.search import Searcher
    from helpline.portal.site import Site

    kb = load_kb(Path(__file__).resolve().parents[2] / "kb")
    pages = article_cache.CachedArticlePages(app=None, site=Site(kb, Searcher(kb)), max_pages=3)  # type: ignore[arg-type]
    keys = [a.key for a in kb.in_language("en")][:5]
    for key in keys:
        assert pages.page({"type": "http", "path": f"/help/en/{key}", "headers": []}, "en", key)
    assert list(pages.pages) == [("", "en", key) for key in keys[-3:]]


async def test_a_page_from_memory_is_revalidated_by_its_etag(web: httpx.AsyncClient) -> None:
    page = await web.get(ARTICLE)
    etag = page.headers["etag"]
    same = await web.get(ARTICLE, headers={"if-none-match": f'"other", W/{etag}'})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    assert same.headers["cache-control"] == page.headers["cache-control"]
    assert same.headers["content-security-policy"] == page.headers["content-security-policy"]
    assert (await web.get(ARTICLE, headers={"if-none-match": '"other"'})).content == page.content
    other = await web.get("/help/en/withdrawal-pending")
    assert other.status_code == 200 and other.headers["etag"] != etag


async def test_every_help_center_page_carries_its_server_time(web: httpx.AsyncClient) -> None:
    def count() -> float:
        return REGISTRY.get_sample_value("helpline_help_page_seconds_count") or 0.0

    before = count()
    responses = [
        await web.get(ARTICLE),
        await web.get(ARTICLE + "?from=test"),
        await web.get("/help/ko/"),
        await web.get("/help/ko/no-such-article"),
    ]
    for response in responses:
        name, _, duration = response.headers["server-timing"].partition(";dur=")
        assert name == "app" and float(duration) >= 0, response.headers["server-timing"]
        assert response.headers["server-timing"].count("app;") == 1
        assert response.headers["content-security-policy"].count("script-src") == 1  # the headers once
    assert count() - before == len(responses)
    assert "server-timing" not in (await web.get("/login")).headers  # the help center's pages only


async def test_every_article_from_memory_is_what_the_route_answers(app: FastAPI, web: httpx.AsyncClient) -> None:
    site = help_site(app)
    differ = ("date", "server-timing", "etag")  # the time taken; an ETag only for a page kept in memory
    for article in site.kb.articles:
        path = f"/help/{article.language}/{article.key}"
        fast, routed = await web.get(path), await web.get(path + "?via=route")
        assert "etag" in fast.headers and "etag" not in routed.headers, path  # really the two paths
        assert (fast.status_code, fast.content) == (routed.status_code, routed.content), path
        assert sorted((k, v) for k, v in fast.headers.multi_items() if k not in differ) == sorted(
            (k, v) for k, v in routed.headers.multi_items() if k not in differ
        ), path  # every header, repeated ones included (their order is free)


async def test_a_reloaded_knowledge_base_is_served_at_once(r: redis.Redis, tmp_path: Path) -> None:
    from helpline.bots.kb import load_kb
    from helpline.bots.search import Searcher

    old, new = tmp_path / "old", tmp_path / "new"
    for folder, body in ((old, "No fees."), (new, "A fee of 1 USDT.")):
        folder.mkdir()
        front = f"id: x-en\nkey: x\nlanguage: en\ntitle: Fees\nurl: {PUBLIC}/help/en/x"  # as the bot links it
        (folder / "x.md").write_text(f"---\n{front}\n---\n{body}\n")
    (old / "y.md").write_text("---\nid: y-en\nkey: y\nlanguage: en\ntitle: Limits\n---\nNo limits.\n")
    app = create_app(help_parts(r, kb=old))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test") as web:
        first = await web.get("/help/en/x")
        assert "No fees." in first.text and (await web.get("/help/en/y")).status_code == 200  # both kept

        kb = load_kb(new)
        help_site(app).reload(kb, Searcher(kb))
        page = await web.get("/help/en/x")
        assert page.status_code == 200 and "A fee of 1 USDT." in page.text and "No fees." not in page.text
        assert page.headers["etag"] != first.headers["etag"]
        assert (await web.get("/help/en/x", headers={"if-none-match": first.headers["etag"]})).status_code == 200
        assert page.content == (await web.get("/help/en/x?via=route")).content
        gone = await web.get("/help/en/y")  # no longer an article: the route's 404
        assert gone.status_code == 404 and "etag" not in gone.headers


def help_site(app: FastAPI) -> Site:
    """The help center's content the console serves (the one its front layer was given)."""
    layer = getattr(app, "front", None)
    assert isinstance(layer, article_cache.CachedArticlePages)
    return layer.site
