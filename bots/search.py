"""Hybrid retrieval over the knowledge base: BM25 per language, fused with dense embeddings.

With an embedder (the default, see `helpline.bots.embeddings`), both retrievers rank the articles
and `helpline.bots.fusion` fuses the rankings and computes the confidence; `Searcher.choose`
then answers, offers two or three choices, or hands off. Without one (it could not load, or a
question could not be embedded) the BM25 index below decides alone, as follows.

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

import asyncio
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np

from helpline.bots import fusion
from helpline.bots.dense import DenseIndex, QueryEmbeddings, VectorCache
from helpline.bots.embeddings import Embedder, EmbeddingError
from helpline.bots.examples import Example
from helpline.bots.kb import Article, KnowledgeBase
from helpline.bots.phrasings import Phrasings
from helpline.bots.tokens import LanguageConfig, Speller, Tokenizer, load_language_config

log = logging.getLogger(__name__)

TITLE_WEIGHT = 3  # title tokens are repeated this many times in the indexed document
TAG_WEIGHT = 2
MARGIN_WEIGHT = 0.5
UNKNOWN_WEIGHT = 0.5  # scales the weight of a query word no article contains
BODY_EVIDENCE = 0.5  # a query word found only in an article's body counts this much
QUERY_CHARS = 400  # a longer message is cut before embedding: the start says what it is about
_WORD = re.compile(r"\S+")
DEFAULT_CALIBRATION = fusion.Calibration(dense_low=0.84, dense_high=0.9, answer=0.6, clarify=0.3)


def query_key(text: str) -> str:
    """What is embedded for a question, and its key in the memory of recent questions: the start
    of the message with runs of white space made one space, so a repeat is embedded once, and a
    word repeated in a row said once: "withdrawal withdrawal …" asks no more than "withdrawal"
    (its length would otherwise pass for a detailed question's, see `fusion.shortness`)."""
    words: list[str] = []
    size = 0
    for match in _WORD.finditer(text):
        word = match.group()
        if words and word.casefold() == words[-1].casefold():
            continue
        words.append(word)
        size += len(word) + 1
        if size > QUERY_CHARS:
            break
    return " ".join(words)[:QUERY_CHARS]


@dataclass(frozen=True)
class Hit:
    key: str
    id: str
    language: str
    score: float
    confidence: float
    article: Article
    coverage: float = 0.0  # BM25 only: the idf-weighted share of the question's words the article has


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
            coverage = self._coverage(query, i)
            confidence = coverage * (1 - MARGIN_WEIGHT + MARGIN_WEIGHT * margin)
            a = self.articles[i]
            hits.append(
                Hit(a.key, a.id, a.language, float(scores[i]), round(min(1.0, float(confidence)), 4), a, coverage)
            )
        return hits


@dataclass(frozen=True)
class Choice:
    """What retrieval suggests for one question: an answer, or choices to offer, or neither."""

    answer: Hit | None
    choices: tuple[Hit, ...]  # two or three plausible articles when none is sure; else empty
    hits: list[Hit]  # everything seen, best first (for the handoff summary)


@dataclass(frozen=True)
class _Fusion:
    hits: list[Hit]
    ranked: list[fusion.Fused]
    calibration: fusion.Calibration
    lexical: list[str]  # BM25's candidates, best first


class Searcher:
    """Per-language indexes over a knowledge base, built once at startup.

    `embedder` adds dense retrieval; article vectors are cached under `cache_dir` (None: not on
    disk). If the embedder fails at start the searcher logs it and uses BM25 alone (`dense_error`).
    A question in a language whose translation of an article is missing may get that article in
    `fallback_language` (the hit's `language` says so).
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        configs: Mapping[str, LanguageConfig] | None = None,
        fallback_language: str = "en",
        *,
        embedder: Embedder | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        configs = dict(configs or {})
        self.fallback_language = fallback_language
        self._articles = {(a.key, a.language): a for a in kb.articles}
        self.indexes: dict[str, LanguageIndex] = {}
        for language in kb.languages():
            config = configs.get(language) or load_language_config(language)
            self.indexes[language] = LanguageIndex(kb.in_language(language), config)
        self.dense: dict[str, DenseIndex] = {}
        self.queries: QueryEmbeddings | None = None
        self.dense_error = "" if embedder is not None else "no embedder configured"
        self.phrasings = Phrasings()  # approved examples (`use_examples`), none until loaded
        self._embedder, self._cache_dir = embedder, cache_dir
        if embedder is not None:
            try:
                cache = VectorCache(cache_dir, embedder)
                for language in self.indexes:
                    self.dense[language] = DenseIndex(self._candidates(kb, language), cache)
                self.queries = QueryEmbeddings(embedder)
            except EmbeddingError as exc:
                self.dense, self.dense_error = {}, str(exc)
                log.warning("dense retrieval unavailable (%s): help-center answers use BM25 alone", exc)

    def _candidates(self, kb: KnowledgeBase, language: str) -> list[Article]:
        """The language's articles, and the fallback language's for keys without a translation."""
        own = {a.key: a for a in kb.in_language(language)}
        extra = [a for a in kb.in_language(self.fallback_language) if a.key not in own]
        return [*own.values(), *extra]

    def article(self, key: str, language: str) -> Article | None:
        """The article in `language`, else in the fallback language, else None."""
        return self._articles.get((key, language)) or self._articles.get((key, self.fallback_language))

    def over(self, kb: KnowledgeBase) -> Searcher:
        """A searcher over another knowledge base (a smaller version, another help center) with
        this one's embedder, vector cache and memory of embedded questions, so a question asked
        of both is embedded once: for evaluation and calibration."""
        other = Searcher(kb, embedder=self._embedder, cache_dir=self._cache_dir)
        other.queries = self.queries or other.queries
        return other

    def use_examples(self, examples: Iterable[Example]) -> None:
        """Approved examples become extra phrasings of their articles (dense retrieval only).
        Swapped in whole, so a search sees the old set or the new one."""
        if self._embedder is None or not self.dense:
            return
        answerable = {(key, language) for language, index in self.dense.items() for key in index.articles}
        self.phrasings = Phrasings.build(examples, self._embedder, self._cache_dir, answerable)

    @property
    def embedder(self) -> Embedder | None:
        """The embedder given at start (None: BM25 alone), to build another searcher with."""
        return self._embedder

    @property
    def hybrid(self) -> bool:
        return self.queries is not None

    def index_for(self, language: str) -> LanguageIndex:
        index = self.indexes.get(language) or self.indexes.get(self.fallback_language)
        if index is None:
            raise LookupError(f"no index for {language!r} nor the fallback {self.fallback_language!r}")
        return index

    async def prepare(self, *texts: str) -> None:
        """Embed questions in a worker thread, then cached for `search`: the event loop (other
        conversations, webhooks, pages) never waits while the model runs or the endpoint answers.
        Idempotent; a failure only means BM25 alone for that question."""
        if self.queries is None:
            return
        for text in texts:
            query = query_key(text)
            if query and not self.queries.cached(query):
                vector = await asyncio.to_thread(self.queries.compute, query)
                if vector is not None:
                    self.queries.put(query, vector)

    def _fused(self, text: str, language: str, k: int, exclude: Iterable[str]) -> _Fusion | None:
        index = self.index_for(language)
        dense = self.dense.get(language if language in self.indexes else self.fallback_language)
        query = query_key(text)
        if dense is None or self.queries is None or not query:
            return None
        vector = self.queries.get(query)
        if vector is None:
            return None
        skip = set(exclude)
        similarities = {key: s for key, s in dense.similarities(vector).items() if key not in skip}
        for key, s in self.phrasings.similarities(language, vector).items():  # approved examples
            if key in similarities:
                similarities[key] = max(similarities[key], s)
        lexical_hits = index.search(text, k=fusion.TOP, exclude=skip)
        lexical = [h.key for h in lexical_hits]
        lead = 0.0
        if lexical_hits:
            second = lexical_hits[1].score if len(lexical_hits) > 1 else 0.0
            lead = max(0.0, (lexical_hits[0].score - second) / lexical_hits[0].score) * lexical_hits[0].coverage
        cal = index.config.hybrid or DEFAULT_CALIBRATION
        confidences = {h.key: h.confidence for h in lexical_hits}
        ranked = fusion.fuse(similarities, lexical, cal, k, confidences, lead, len(query))
        hits = [
            Hit(
                f.key,
                dense.articles[f.key].id,
                dense.articles[f.key].language,
                f.score,
                f.confidence,
                dense.articles[f.key],
            )
            for f in ranked
        ]
        return _Fusion(hits, ranked, cal, lexical)

    def ranked(self, text: str, language: str) -> list[fusion.Fused]:
        """The fused ranking with its signals (empty without dense retrieval): for calibration."""
        fused = self._fused(text, language, fusion.MAX_CHOICES, ())
        return fused.ranked if fused is not None else []

    def search(self, text: str, language: str, k: int = 3, exclude: Iterable[str] = ()) -> list[Hit]:
        fused = self._fused(text, language, k, exclude)
        if fused is not None:
            return fused.hits
        return self.index_for(language).search(text, k=k, exclude=exclude)

    def listing(self, text: str, language: str, k: int = 10) -> list[Hit]:
        """Articles to list for a search box, best first, no threshold: the fused ranking without
        the articles neither retriever finds plausible (no word in common, and a similarity below
        what a clarifying choice needs), so gibberish lists nothing."""
        fused = self._fused(text, language, k, ())
        if fused is None:
            return self.index_for(language).search(text, k=k)
        return [
            h
            for h, f in zip(fused.hits, fused.ranked, strict=True)
            if f.key in fused.lexical or f.level >= fusion.PLAUSIBLE
        ]

    def choose(self, text: str, language: str, exclude: Iterable[str] = ()) -> Choice:
        """Answer above the language's threshold; else two or three choices when plausible."""
        fused = self._fused(text, language, fusion.MAX_CHOICES, exclude)
        if fused is None:
            index = self.index_for(language)
            hits = index.search(text, k=3, exclude=exclude)
            sure = bool(hits) and hits[0].confidence >= index.config.threshold
            return Choice(hits[0] if sure else None, (), hits)
        hits = fused.hits
        if fusion.sure(fused.ranked, fused.calibration):
            return Choice(hits[0], (), hits)
        offered = set(fusion.choices(fused.ranked, fused.calibration))
        return Choice(None, tuple(h for h in hits if h.key in offered), hits)

    def best(self, text: str, language: str, exclude: Iterable[str] = ()) -> tuple[Hit | None, list[Hit]]:
        """The hit to answer with (None when below the language's threshold), and all hits seen."""
        choice = self.choose(text, language, exclude)
        return choice.answer, choice.hits
