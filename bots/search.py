"""BM25 retrieval over the knowledge base, one index per language, with a usable confidence.

Raw BM25 scores grow with the query's length and rarity, so they cannot be thresholded across
questions. The confidence instead asks two questions a human would:

- coverage: how much of what the customer said (weighted by idf; words the KB has never seen
  count as rare) does the top article contain? "Will BTC go up?" covers little of any article.
- margin: how clearly does the top article beat the runner-up?

confidence = coverage * (1 - MARGIN_WEIGHT + MARGIN_WEIGHT * margin), in [0, 1]; the answer
threshold is per language (`threshold` in `bots/data/search.<lang>.toml`) because tokenization
differs by script. `Searcher.best` is the one place the threshold is applied: the bot and the
evaluator both call it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import bm25s
import numpy as np

from helpline.bots.kb import Article, KnowledgeBase
from helpline.bots.tokens import LanguageConfig, Speller, Tokenizer, load_language_config

TITLE_WEIGHT = 3  # title tokens are repeated this many times in the indexed document
TAG_WEIGHT = 2
MARGIN_WEIGHT = 0.5
UNKNOWN_WEIGHT = 0.5  # scales the weight of a query word no article contains
BODY_EVIDENCE = 0.5  # a query word found only in an article's body counts this much


@dataclass(frozen=True)
class Hit:
    key: str
    id: str
    language: str
    score: float
    confidence: float
    article: Article


class LanguageIndex:
    """A BM25 index over one language's articles. Built once; searching is pure."""

    def __init__(self, articles: Iterable[Article], config: LanguageConfig) -> None:
        self.articles = tuple(articles)
        if not self.articles:
            raise ValueError(f"no articles in language {config.language!r}")
        self.config = config
        self.tokenizer = Tokenizer(config)
        titles = [self.tokenizer.document(a.title) for a in self.articles]
        tags = [[t for tag in a.tags for t in self.tokenizer.document(tag)] for a in self.articles]
        bodies = [self.tokenizer.document(f"{a.summary or ''}\n{a.body}") for a in self.articles]
        docs = [ti * TITLE_WEIGHT + ta * TAG_WEIGHT + b for ti, ta, b in zip(titles, tags, bodies, strict=True)]
        heads = [ti + ta for ti, ta in zip(titles, tags, strict=True)]
        self._head_tokens = [frozenset(h) for h in heads]
        self._doc_tokens = [frozenset(d) for d in docs]
        df: Counter[str] = Counter(t for d in self._doc_tokens for t in d)
        n = len(docs)
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self._unknown_idf = math.log(1 + (n + 0.5) / 0.5)
        self._speller = Speller(self._idf)
        self._bm25 = bm25s.BM25()
        self._bm25.index(docs, show_progress=False)

    def _coverage(self, query: list[str], i: int) -> float:
        # Evidence in the title or tags counts fully; evidence only in the body counts half.
        total = covered = 0.0
        for token in query:
            weight = self._idf.get(token, self._unknown_idf * UNKNOWN_WEIGHT)
            total += weight
            if token in self._head_tokens[i]:
                covered += weight
            elif token in self._doc_tokens[i]:
                covered += weight * BODY_EVIDENCE
        return covered / total if total else 0.0

    def search(self, text: str, k: int = 3, exclude: Iterable[str] = ()) -> list[Hit]:
        query = self.tokenizer.query(text, self._idf, self._speller)
        if not query:
            return []
        scores = np.asarray(self._bm25.get_scores(query), dtype=float)
        skip = set(exclude)
        order = [int(i) for i in np.argsort(-scores, kind="stable")]
        order = [i for i in order if scores[i] > 0 and self.articles[i].key not in skip]
        if not order:
            return []
        hits = []
        for rank, i in enumerate(order[:k]):
            runner_up = scores[order[1]] if rank == 0 and len(order) > 1 else (scores[order[0]] if rank else 0.0)
            margin = max(0.0, (scores[i] - runner_up) / scores[i])
            confidence = self._coverage(query, i) * (1 - MARGIN_WEIGHT + MARGIN_WEIGHT * margin)
            a = self.articles[i]
            hits.append(Hit(a.key, a.id, a.language, float(scores[i]), round(min(1.0, float(confidence)), 4), a))
        return hits


class Searcher:
    """Per-language indexes over a knowledge base, built once at startup."""

    def __init__(
        self,
        kb: KnowledgeBase,
        configs: Mapping[str, LanguageConfig] | None = None,
        fallback_language: str = "en",
    ) -> None:
        configs = dict(configs or {})
        self.fallback_language = fallback_language
        self.indexes: dict[str, LanguageIndex] = {}
        for language in kb.languages():
            config = configs.get(language) or load_language_config(language)
            self.indexes[language] = LanguageIndex(kb.in_language(language), config)

    def index_for(self, language: str) -> LanguageIndex:
        index = self.indexes.get(language) or self.indexes.get(self.fallback_language)
        if index is None:
            raise LookupError(f"no index for {language!r} nor the fallback {self.fallback_language!r}")
        return index

    def search(self, text: str, language: str, k: int = 3, exclude: Iterable[str] = ()) -> list[Hit]:
        return self.index_for(language).search(text, k=k, exclude=exclude)

    def best(self, text: str, language: str, exclude: Iterable[str] = ()) -> tuple[Hit | None, list[Hit]]:
        """The hit to answer with (None when below the language's threshold), and all hits seen."""
        index = self.index_for(language)
        hits = index.search(text, k=3, exclude=exclude)
        if hits and hits[0].confidence >= index.config.threshold:
            return hits[0], hits
        return None, hits
