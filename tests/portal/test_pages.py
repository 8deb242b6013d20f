"""The help center's pages through the console app, on a real Redis and the demo KB."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis.asyncio as redis

from helpline.bot_setup import build_bot
from helpline.bots.helpcenter import HelpCenterBot
from helpline.insights.reader import CubeReader
from helpline.insights.reports import Query, summary
from tests.factories import create_app

from .conftest import PUBLIC, help_parts


async def test_language_home_lists_articles_by_category(web: httpx.AsyncClient) -> None:
    response = await web.get("/help/", follow_redirects=True)
    assert response.status_code == 200 and str(response.url).endswith("/help/en/")
    ko = await web.get("/help/ko/")
    assert ko.status_code == 200 and '<html lang="ko">' in ko.text
    assert "<h2>출금</h2>" in ko.text and 'href="/help/ko/withdrawal-pending"' in ko.text
    assert (await web.get("/help/xx/")).status_code == 404


async def test_article_canonical_is_the_link_the_bot_sends(r: redis.Redis, web: httpx.AsyncClient) -> None:
    page = await web.get("/help/ko/2fa-reset")
    assert page.status_code == 200
    canonical = re.search(r'<link rel="canonical" href="([^"]+)"', page.text)
    assert canonical and canonical.group(1) == f"{PUBLIC}/help/ko/2fa-reset"
    bot = build_bot("helpcenter", help_parts(r).settings)
    assert isinstance(bot, HelpCenterBot)
    hit, _ = bot.searcher.best("otp 분실했어요 2fa 재설정", "ko")
    assert hit is not None and hit.article.url == canonical.group(1)
    langs = re.findall(r'<link rel="alternate" hreflang="([a-z-]+)" href="([^"]+)"', page.text)
    assert dict(langs) == {lang: f"{PUBLIC}/help/{lang}/2fa-reset" for lang in ("en", "ja", "ko", "zh")} | {
        "x-default": f"{PUBLIC}/help/en/2fa-reset"
    }
    # the language switcher goes to the same article in the other language
    assert 'href="/help/ja/2fa-reset" hreflang="ja"' in page.text
    assert "<h2>자세히</h2>" in page.text  # Markdown rendered
    assert "set-cookie" not in page.headers
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_raw_html_in_an_article_is_shown_as_text(r: redis.Redis, tmp_path: Path) -> None:
    (tmp_path / "x.md").write_text(
        '---\nid: x-en\nkey: x\nlanguage: en\ntitle: "<b>Title</b>"\n---\n'
        'Hello <script>alert(1)</script> <img src=x onerror="alert(2)">\n\n[link](javascript:alert(3))\n'
    )
    app = create_app(help_parts(r, kb=tmp_path, portal={}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test") as c:
        page = (await c.get("/help/en/x")).text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src" not in page and "&lt;img src=x" in page and 'href="javascript' not in page
    assert "<h1>&lt;b&gt;Title&lt;/b&gt;</h1>" in page
    # without a public address, the canonical link is this server's page
    assert '<link rel="canonical" href="http://portal.test/help/en/x">' in page


async def test_search_form_uses_the_bots_retrieval_in_korean(web: httpx.AsyncClient) -> None:
    results = await web.get("/help/ko/search", params={"q": "출금이 안 들어와요 처리중"})
    assert results.status_code == 200
    first = re.search(r'<ol class="results">\s*<li><a href="([^"]+)"', results.text)
    assert first and first.group(1) == "/help/ko/withdrawal-pending"
    empty = await web.get("/help/en/search", params={"q": "zzqx"})
    assert "No article matches" in empty.text


async def test_search_fuses_the_dense_retrieval_like_the_bot(web: httpx.AsyncClient) -> None:
    # No word in common with the phishing article's title or tags: BM25 alone put it fourth.
    results = await web.get("/help/zh/search", params={"q": "收到消息说要转币验证账户，是真的吗"})
    first = re.search(r'<ol class="results">\s*<li><a href="([^"]+)"', results.text)
    assert first and first.group(1) == "/help/zh/phishing-warning"
    for gibberish in ("zzqx", "asdfgh"):
        empty = await web.get("/help/en/search", params={"q": gibberish})
        assert "No article matches" in empty.text


async def test_suggestions_are_json_and_rate_limited_per_client(web: httpx.AsyncClient) -> None:
    got = await web.get("/help/ja/suggest", params={"q": "出金 保留"})
    assert got.status_code == 200
    suggestions = got.json()["suggestions"]
    assert got.headers["access-control-allow-origin"] == "*"  # the chat widget asks from the company's site
    assert suggestions[0]["url"] == "/help/ja/withdrawal-pending" and suggestions[0]["title"]
    statuses = [(await web.get("/help/ja/suggest", params={"q": "出金"})).status_code for _ in range(30)]
    assert statuses.count(429) >= 5 and statuses[:15] == [200] * 15
    refused = await web.get("/help/ja/suggest", params={"q": "出金"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    # another client address has its own budget
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web._transport.app, client=("10.0.0.9", 1)),  # type: ignore[attr-defined]
        base_url="http://portal.test",
    )
    async with other:
        assert (await other.get("/help/ja/suggest", params={"q": "出金"})).status_code == 200


async def test_helpful_votes_are_counted_in_the_reports(r: redis.Redis, web: httpx.AsyncClient) -> None:
    for answer in ("yes", "yes", "no"):
        voted = await web.post("/help/en/2fa-reset/feedback", data={"helpful": answer})
        assert voted.status_code == 303 and voted.headers["location"] == "/help/en/2fa-reset?feedback=thanks#feedback"
    assert (await web.post("/help/en/2fa-reset/feedback", data={"helpful": "maybe"})).status_code == 422
    assert (await web.post("/help/en/nope/feedback", data={"helpful": "yes"})).status_code == 404
    thanks = await web.get("/help/en/2fa-reset", params={"feedback": "thanks"})
    assert "Thank you for your feedback." in thanks.text
    today = datetime.now(UTC).date()
    figures = (await summary(CubeReader(r), Query(start=today, end=today))).figures
    assert figures["articles_helpful"] == 2 and figures["articles_not_helpful"] == 1
    assert figures["articles_helpful_rate"] == round(2 / 3, 4)


async def test_sitemap_lists_every_article_with_its_translations(web: httpx.AsyncClient) -> None:
    sitemap = await web.get("/help/sitemap.xml")
    assert sitemap.status_code == 200 and sitemap.headers["content-type"].startswith("application/xml")
    assert sitemap.text.count("<url>") == 132
    assert f'<xhtml:link rel="alternate" hreflang="zh" href="{PUBLIC}/help/zh/kyc-levels"/>' in sitemap.text


async def test_no_portal_without_a_help_center_bot(r: redis.Redis) -> None:
    app = create_app(help_parts(r, bots={}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://portal.test") as c:
        assert (await c.get("/help/en/")).status_code == 404
