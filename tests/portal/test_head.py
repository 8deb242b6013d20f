"""HEAD answers like GET without the body on every help-center address: an article kept in memory
and everything the routes answer (other pages, a redirect, a 404, JSON, files, the sitemap)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from starlette.types import Message

from helpline.connectors.emulation import serve

ARTICLE = "/help/ko/withdrawal-pending"
ROUTED = [
    ARTICLE + "?feedback=thanks",  # a query string: not from memory
    "/help/",  # a redirect
    "/help/ko/",
    "/help/ko/search?q=%EC%B6%9C%EA%B8%88",
    "/help/ko/suggest?q=withdrawal",
    "/help/ko/no-such-article",  # 404
    "/help/xx/",  # an unknown language: 404
    "/help/sitemap.xml",
    "/help/static/portal.css",
]
DIFFER = {"date", "server-timing"}


def shown(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in DIFFER}


async def test_head_is_get_without_the_body_from_memory_and_from_the_routes(web: httpx.AsyncClient) -> None:
    empty = []
    for path in [ARTICLE, *ROUTED]:
        got = await web.get(path)
        empty += [path] if not got.content else []
        head = await web.head(path)
        assert (head.status_code, shown(head)) == (got.status_code, shown(got)), path
        assert head.content == b"", path
        assert head.headers["content-length"] == str(len(got.content)), path
    assert empty == ["/help/"]  # only the redirect's GET has no body: the others show one was dropped
    assert (await web.head(ARTICLE + "?feedback=thanks")).status_code == 200  # was 405 (GET-only routes)


async def test_no_body_leaves_the_application(app: FastAPI) -> None:
    """At the ASGI level, before any server or client could drop it."""
    for path in (ARTICLE, "/help/ko/", "/help/ko/no-such-article"):
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message, sent: list[Message] = sent) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "HEAD",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"portal.test")],
            "client": ("127.0.0.1", 5000),
            "server": ("portal.test", 80),
        }
        await app(scope, receive, send)
        assert sent[0]["type"] == "http.response.start" and sent[0]["status"] in (200, 404), path
        assert b"".join(m.get("body", b"") for m in sent[1:]) == b"", path


async def test_head_over_http_leaves_the_connection_usable(app: FastAPI) -> None:
    """A body sent after a HEAD's headers would be read as the next response on the connection."""
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        for path in (ARTICLE, "/help/ko/"):
            head = await http.head(path)
            assert head.status_code == 200 and int(head.headers["content-length"]) > 0
            after = await http.get(path)  # the same kept-alive connection
            assert after.status_code == 200 and len(after.content) == int(head.headers["content-length"])
