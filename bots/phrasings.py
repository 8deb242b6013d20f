"""Approved examples in retrieval: each is one more phrasing of its article.

A question close to an approved example is close to its article: the dense retriever takes, for
each article, the best of its own passages and its examples' similarities (`Searcher._fused`).
Examples are questions, so they are embedded as questions (the e5 "query: " side), which makes a
customer's rewording of an example land near it; their similarity is discounted to the articles'
scale (`EXAMPLE_DISCOUNT`). Vectors are cached on disk like the articles'.
Examples help only where dense retrieval runs: with BM25 alone they are not used.

`ExampleRefresher` keeps a searcher's examples current: the bot step calls `refresh` once per
batch; at most every `check_seconds` it reads the store's version (one GET), and when it moved it
loads the approved examples and swaps them in. So an approval reaches answers within
`check_seconds` (10 s by default) of the next message, without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import redis.asyncio as redis

from helpline.bots.dense import VectorCache
from helpline.bots.embeddings import Embedder, EmbeddingError, Vectors
from helpline.bots.examples import Example, ExampleStore

if TYPE_CHECKING:
    from helpline.bots.search import Searcher

log = logging.getLogger(__name__)

CHECK_SECONDS = 10.0
#: Two questions are closer than a question and an article's passage, so an example's similarity
#: is lowered by this much to sit on the articles' scale (which the calibration assumes). Chosen on
#: the held-out and fresh sets with the development set's questions as examples (docs/benchmarks.md).
EXAMPLE_DISCOUNT = 0.05


class _AsQuestions:
    """An embedder whose "passages" are embedded as questions (for the vector cache)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.name = f"{embedder.name}-questions"
        self.remote = embedder.remote

    def queries(self, texts: Sequence[str]) -> Vectors:
        return self.embedder.queries(texts)

    def passages(self, texts: Sequence[str]) -> Vectors:
        return self.embedder.queries(texts)


def questions_embedder(embedder: Embedder) -> Embedder:
    """`embedder` for a `VectorCache` of questions (examples, handed-off questions)."""
    return _AsQuestions(embedder)


@dataclass(frozen=True)
class _LanguagePhrasings:
    keys: tuple[str, ...]  # one article key per row
    matrix: Vectors

    def similarities(self, query: Vectors) -> dict[str, float]:
        scores = self.matrix @ query - EXAMPLE_DISCOUNT
        best: dict[str, float] = {}
        for key, score in zip(self.keys, scores.tolist(), strict=True):
            if score > best.get(key, -1.0):
                best[key] = float(score)
        return best


class Phrasings:
    """Approved examples' vectors per language. Immutable once built: a new set is a new object."""

    def __init__(self, by_language: dict[str, _LanguagePhrasings] | None = None, count: int = 0) -> None:
        self._by_language = by_language or {}
        self.count = count

    @classmethod
    def build(
        cls, examples: Iterable[Example], embedder: Embedder, cache_dir: Path | None, articles: set[tuple[str, str]]
    ) -> Phrasings:
        """Vectors of the examples whose (key, language) the searcher can answer with; the
        others (an article since removed) are left out."""
        grouped: dict[str, list[Example]] = defaultdict(list)
        for e in examples:
            if (e.key, e.language) in articles:
                grouped[e.language].append(e)
        cache = VectorCache(cache_dir, questions_embedder(embedder))
        out = {}
        for language, items in grouped.items():
            matrix = cache.vectors([e.text for e in items])
            out[language] = _LanguagePhrasings(tuple(e.key for e in items), matrix)
        return cls(out, sum(len(v) for v in grouped.values()))

    def similarities(self, language: str, query: Vectors) -> dict[str, float]:
        phrasings = self._by_language.get(language)
        return {} if phrasings is None else phrasings.similarities(np.asarray(query, dtype=np.float32))


class ExampleRefresher:
    """Keeps `searcher`'s approved examples in step with the store (see the module's doc)."""

    def __init__(self, searcher: Searcher, check_seconds: float = CHECK_SECONDS) -> None:
        self.searcher = searcher
        self.check_seconds = check_seconds
        self.version: int | None = None
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def refresh(self, client: redis.Redis) -> None:
        """Reload the approved examples if they changed. Idempotent; a failure is logged and
        tried again at the next check (answers go on with the examples they had)."""
        if not self.searcher.hybrid or time.monotonic() < self._next or self._lock.locked():
            return
        async with self._lock:
            self._next = time.monotonic() + self.check_seconds
            store = ExampleStore(client)
            try:
                version = await store.version()
                if version == self.version:
                    return
                approved = [e for e in await store.all() if e.status.value == "approved"]
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("approved examples not reloaded (%s): retried in %.0f s", exc, self.check_seconds)
                return
            try:
                await self._use(approved)
            except EmbeddingError as exc:
                log.warning("approved examples not embedded (%s): retried in %.0f s", exc, self.check_seconds)
                return
            self.version = version
            log.info(
                "help-center answers use %d approved examples (version %d)", self.searcher.phrasings.count, version
            )

    async def _use(self, examples: list[Example]) -> None:
        if self.searcher.queries is not None and self.searcher.queries.embedder.remote:
            await asyncio.to_thread(self.searcher.use_examples, examples)
        else:  # in process: the model is not shared across threads; a few new examples cost ms
            self.searcher.use_examples(examples)
