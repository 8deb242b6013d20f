"""Article vectors for dense retrieval, cached on disk by content hash.

Each article gives a few short passages (its title, each tag, its short answer): a question is
close to an article when it is close to any of them, and short passages keep the embedding cheap
and sharp. Vectors are keyed by the hash of (embedder name, passage text) in one file per
embedder, so a restart embeds only what changed and a 500-article KB starts in seconds; entries
no KB has used for a week are dropped. A cache that cannot be read is rebuilt; one that cannot be
written only costs time at the next start.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from helpline.bots.embeddings import Embedder, EmbeddingError, Vectors
from helpline.bots.kb import Article

log = logging.getLogger(__name__)

EMBED_BATCH = 64
KEEP_DAYS = 7  # an entry unused this long is dropped from the on-disk cache
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
    while writing: the file is replaced atomically, so a reader sees the old or the new one.

    Each entry remembers the day it was last asked for. An entry no knowledge base has asked for
    in `keep_days` (a removed article's passages, an edited one's old wording, a withdrawn
    example) is dropped when the file is next written, so the file holds what is in use plus a
    week of grace: two KBs, or two versions of one, sharing the cache do not evict each other.
    """

    def __init__(
        self, directory: Path | None, embedder: Embedder, *, keep_days: int = KEEP_DAYS, today: int | None = None
    ) -> None:
        self.embedder = embedder
        self.keep_days = keep_days
        self.today = int(time.time() // 86400) if today is None else today  # days since the epoch
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", embedder.name)
        self.path = directory / f"{slug}.npz" if directory is not None else None
        self._vectors: dict[str, Vectors] = {}
        self._used: dict[str, int] = {}
        self._load()

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys = [str(k) for k in data["keys"]]
                vectors = dict(zip(keys, data["vectors"], strict=True))
                # a file written before entries had a day: every entry starts its grace today
                used = data["used"].tolist() if "used" in data.files else [self.today] * len(keys)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("vector cache %s unreadable (%s): rebuilding it", self.path, exc)
            return
        self._vectors, self._used = vectors, dict(zip(keys, (int(d) for d in used), strict=True))

    def keys(self) -> set[str]:
        return set(self._vectors)

    def vectors(self, texts: Sequence[str]) -> Vectors:
        """One row per text; only texts never seen are embedded (in batches). The file is written
        when something was embedded or an entry's day changed (at most once a day otherwise)."""
        keys = [_digest(self.embedder.name, t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self._vectors))
        for start in range(0, len(missing), EMBED_BATCH):
            chunk = missing[start : start + EMBED_BATCH]
            for text, row in zip(chunk, self.embedder.passages(chunk), strict=True):
                self._vectors[_digest(self.embedder.name, text)] = row
        touched = [k for k in keys if self._used.get(k) != self.today]
        for key in touched:
            self._used[key] = self.today
        if missing or touched:
            self._save()
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32)

    def _save(self) -> None:
        stale = [k for k, day in self._used.items() if day < self.today - self.keep_days]
        for key in stale:
            del self._vectors[key], self._used[key]
        if self.path is None or not self._vectors:
            return
        items = sorted(self._vectors.items())
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(
                tmp,
                keys=np.array([k for k, _ in items]),
                vectors=np.stack([v for _, v in items]),
                used=np.array([self._used[k] for k, _ in items], dtype=np.int64),
            )
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
