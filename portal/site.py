"""What the help center serves, built once from the knowledge base: articles per language with
their bodies rendered, grouped by category, their translations, and the search.

Search is the help-center bot's own retrieval (`bots.search.Searcher`), so the help center finds
what the bot would answer with, in Korean, Chinese and Japanese as in English.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from markupsafe import Markup

from helpline.bots.catalog import Catalog
from helpline.bots.kb import Article, KnowledgeBase
from helpline.bots.search import Searcher

from .render import article_html

CATALOGS = Catalog.load(Path(__file__).parent / "catalogs")


def page_path(language: str, key: str) -> str:
    return f"/help/{language}/{key}"


def portal_url(public_url: str) -> Callable[[Article], str]:
    """The canonical address of an article's page on a help center served at `public_url`: the
    bot links to it too (bot_setup sets each article's `url` to it when the portal is on)."""
    base = public_url.rstrip("/")
    return lambda a: base + page_path(a.language, a.key)


@dataclass(frozen=True)
class Suggestion:
    title: str
    url: str
    summary: str


@dataclass
class Site:
    kb: KnowledgeBase
    searcher: Searcher
    default_language: str = "en"
    catalog: Catalog = field(default_factory=lambda: CATALOGS)

    @cached_property
    def bodies(self) -> dict[tuple[str, str], Markup]:
        return {(a.language, a.key): article_html(a.body) for a in self.kb.articles}

    def reload(self, kb: KnowledgeBase, searcher: Searcher) -> None:
        """Serve `kb` (searched by `searcher`) from now on: the bodies rendered from the old one are
        dropped, and so are the pages kept in memory (`article_cache` notices the new `kb`)."""
        self.__dict__.pop("bodies", None)
        self.kb, self.searcher = kb, searcher

    def languages(self) -> tuple[str, ...]:
        return self.kb.languages()

    def article(self, language: str, key: str) -> Article | None:
        return self.kb.get(key, language)

    def translations(self, article: Article) -> list[Article]:
        """The article in every language it exists in (itself included), in a stable order."""
        found = (self.kb.get(article.key, lang) for lang in self.languages())
        return [a for a in found if a is not None]

    def categories(self, language: str) -> list[tuple[str, list[Article]]]:
        """(category, articles by title) in first-seen order; articles without one come last."""
        groups: dict[str, list[Article]] = {}
        rest = self.catalog.text(language, "uncategorized")
        for a in self.kb.in_language(language):
            groups.setdefault(a.category or rest, []).append(a)
        ordered = sorted(groups.items(), key=lambda kv: (kv[0] == rest, kv[0]))
        return [(name, sorted(items, key=lambda a: a.title)) for name, items in ordered]

    async def prepare(self, query: str) -> None:
        """Embed `query` in a worker thread, so the console's other pages never wait on the model."""
        await self.searcher.prepare(query.strip()[:500])

    def search(self, query: str, language: str, limit: int = 10) -> list[Article]:
        """Articles for `query`, best first, by the bot's retrieval (BM25 fused with the dense
        embeddings when the bot has them; no threshold: a list to pick from)."""
        query = query.strip()[:500]
        if not query:
            return []
        return [hit.article for hit in self.searcher.listing(query, language, k=limit) if hit.language == language]

    def suggestions(self, query: str, language: str, limit: int = 5) -> list[Suggestion]:
        return [
            Suggestion(a.title, page_path(a.language, a.key), a.answer[:160])
            for a in self.search(query, language, limit)
        ]
