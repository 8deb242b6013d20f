"""Article vectors for dense retrieval, cached on disk by content hash.

Each article gives a few short passages (its title, each tag, its short answer): a question is
close to an article when it is close to any of them, and short passages keep the embedding cheap
and sharp. Vectors are keyed by the hash of (embedder name, passage text) in one file per
embedder, so a restart embeds only what changed and a 500-article KB starts in seconds. A cache
that cannot be read is rebuilt; one that cannot be written only costs time at the next start.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from helpline.bots.embeddings import Embedder, EmbeddingError, Vectors
from helpline.bots.kb import Article

log = logging.getLogger(__name__)

EMBED_BATCH = 64
QUERY_CACHE = 4096  # repeated questions ("withdrawal pending?") are embedded once


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "helpline" / "vectors"


def passages(article: Article) -> list[str]:
    return list(dict.fromkeys(t for t in (article.title, *article.tags, article.answer) if t.strip()))


def _digest(name: str, text: str) -> str:
    return hashlib.sha256(f"{name}\0{text}".encode()).hexdigest()[:32]


class VectorCache:
    """Passage vectors of one embedder, in `<dir>/<embedder>.npz`. Not shared between processes
    while writing: the file is replaced atomically, so a reader sees the old or the new one."""

    def __init__(self, directory: Path | None, embedder: Embedder) -> None:
        self.embedder = embedder
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", embedder.name)
        self.path = directory / f"{slug}.npz" if directory is not None else None
        self._vectors: dict[str, Vectors] = self._load()

    def _load(self) -> dict[str, Vectors]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            with np.load(self.path, allow_pickle=False) as data:
                return dict(zip((str(k) for k in data["keys"]), data["vectors"], strict=True))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("vector cache %s unreadable (%s): rebuilding it", self.path, exc)
            return {}

    def vectors(self, texts: Sequence[str]) -> Vectors:
        """One row per text; only texts never seen are embedded (in batches), then saved."""
        keys = [_digest(self.embedder.name, t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self._vectors))
        for start in range(0, len(missing), EMBED_BATCH):
            chunk = missing[start : start + EMBED_BATCH]
            for text, row in zip(chunk, self.embedder.passages(chunk), strict=True):
                self._vectors[_digest(self.embedder.name, text)] = row
        if missing:
            self._save()
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32)

    def _save(self) -> None:
        # Everything is kept: an edited article's old passages cost a few KB, and two KBs (or
        # versions) that share the cache do not evict each other.
        if self.path is None:
            return
        items = sorted(self._vectors.items())
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, keys=np.array([k for k, _ in items]), vectors=np.stack([v for _, v in items]))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("vector cache %s not written (%s): the next start embeds again", self.path, exc)


class DenseIndex:
    """Passage vectors of a set of articles; `similarities` gives each article key its best cosine."""

    def __init__(self, articles: Iterable[Article], cache: VectorCache) -> None:
        self.articles = {a.key: a for a in articles}
        texts: list[str] = []
        self._owner: list[str] = []
        for key, article in self.articles.items():
            for text in passages(article):
                texts.append(text)
                self._owner.append(key)
        self._keys = sorted(self.articles)
        self._column = np.array([self._keys.index(k) for k in self._owner])
        self._matrix = cache.vectors(texts)

    def similarities(self, query: Vectors) -> dict[str, float]:
        scores = self._matrix @ query
        best = np.full(len(self._keys), -1.0)
        np.maximum.at(best, self._column, scores)
        return {k: float(s) for k, s in zip(self._keys, best, strict=True)}


class QueryEmbeddings:
    """Question vectors with a bounded memory of recent questions. Failures return None."""

    def __init__(self, embedder: Embedder, size: int = QUERY_CACHE) -> None:
        self.embedder = embedder
        self.size = size
        self._recent: OrderedDict[str, Vectors] = OrderedDict()

    def get(self, text: str) -> Vectors | None:
        vector = self._recent.get(text)
        if vector is not None:
            self._recent.move_to_end(text)
            return vector
        vector = self.compute(text)
        if vector is not None:
            self.put(text, vector)
        return vector

    def compute(self, text: str) -> Vectors | None:
        """The question's vector, not remembered (safe in a worker thread)."""
        try:
            vector: Vectors = self.embedder.queries([text])[0]
        except EmbeddingError as exc:
            log.warning("question not embedded (%s): answering with BM25 alone", exc)
            return None
        return vector

    def put(self, text: str, vector: Vectors) -> None:
        self._recent[text] = vector
        if len(self._recent) > self.size:
            self._recent.popitem(last=False)

    def cached(self, text: str) -> bool:
        return text in self._recent
