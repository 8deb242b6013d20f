"""KB gaps: the questions the help-center bot handed off because no article answered them,
grouped by meaning so that what to write next stands out.

Questions are embedded with the bot's own embedder (as questions), centred (their common
direction removed), and grouped per language by a single pass of centroid clustering: a question
joins the closest group whose centre is at least `THRESHOLD` similar, else starts a new one. The
threshold was chosen on the project's untouched and fresh question sets (answerable questions
grouped by their expected article: 0.83-0.92 purity per language, 1.1-1.4 groups per article).
Without an embedder, questions group only when their normalized text is the same. Groups come
biggest first, with a few sample questions each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpline.bots.dense import VectorCache
from helpline.bots.embeddings import Embedder, EmbeddingError, Vectors
from helpline.bots.examples import normalized
from helpline.bots.phrasings import questions_embedder

THRESHOLD = 0.45  # similarity to a group's centre, after centring (see `_centred`)
SAMPLES = 3


@dataclass(frozen=True)
class GapQuestion:
    language: str
    text: str
    conversation_id: str = ""
    at_ms: int = 0


@dataclass
class Gap:
    """One group of similar unanswered questions."""

    language: str
    count: int = 0
    samples: list[str] = field(default_factory=list)  # distinct questions, the group's most central first
    conversations: list[str] = field(default_factory=list)  # a few, to read what was asked in full

    def as_row(self) -> dict[str, object]:
        return {
            "language": self.language,
            "count": self.count,
            "samples": list(self.samples),
            "conversations": list(self.conversations),
        }


def _embed(cache: VectorCache, texts: Sequence[str]) -> Vectors:
    return cache.vectors(list(texts))  # only questions never seen are embedded


def _centred(vectors: Vectors, reference: Vectors | None = None) -> Vectors:
    """The vectors less their common direction, renormalized: every question of a desk shares
    much of its meaning ("crypto exchange help"), which would pull all groups together. The
    direction is the mean of the questions and `reference` (the KB's article titles), so that a
    handful of questions is not pushed apart by its own mean."""
    pool = vectors if reference is None else np.vstack([vectors, reference])
    if len(pool) < 2:
        return vectors
    shifted = vectors - pool.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(shifted, axis=1, keepdims=True)
    centred: Vectors = (shifted / np.where(norms > 0, norms, 1.0)).astype(np.float32)
    return centred


def _groups(vectors: Vectors, threshold: float) -> list[list[int]]:
    """Single-pass centroid clustering (input order); indexes of each group's members."""
    members: list[list[int]] = []
    sums = np.zeros((0, vectors.shape[1]), dtype=np.float32)
    for i, v in enumerate(vectors):
        if members:
            norms = np.linalg.norm(sums, axis=1)
            similarity = (sums @ v) / np.where(norms > 0, norms, 1.0)
            best = int(np.argmax(similarity))
            if similarity[best] >= threshold:
                members[best].append(i)
                sums[best] += v
                continue
        members.append([i])
        sums = np.vstack([sums, v[None, :]])
    return members


def cluster(
    questions: Iterable[GapQuestion],
    embedder: Embedder | None,
    titles: Sequence[str] = (),
    cache_dir: Path | None = None,
) -> list[Gap]:
    """The questions grouped by meaning per language, biggest group first; `titles` (the KB's
    article titles) steady the centring; vectors are cached under `cache_dir`. An embedder
    failure falls back to grouping identical questions (the report still shows counts)."""
    cache = VectorCache(cache_dir, questions_embedder(embedder)) if embedder is not None else None
    by_language: dict[str, list[GapQuestion]] = defaultdict(list)
    for q in questions:
        if q.text.strip():
            by_language[q.language or "?"].append(q)
    gaps: list[Gap] = []
    for language, items in sorted(by_language.items()):
        groups: list[list[int]] | None = None
        vectors: Vectors | None = None
        if cache is not None:
            try:
                reference = _embed(cache, list(titles)) if titles else None
                vectors = _centred(_embed(cache, [q.text for q in items]), reference)
                groups = _groups(vectors, THRESHOLD)
            except EmbeddingError:
                groups = None
        if groups is None:
            same: dict[str, list[int]] = defaultdict(list)
            for i, q in enumerate(items):
                same[normalized(q.text)].append(i)
            groups = list(same.values())
        for group in groups:
            gaps.append(_gap(language, [items[i] for i in group], None if vectors is None else vectors[group]))
    gaps.sort(key=lambda g: (-g.count, g.language, g.samples[0] if g.samples else ""))
    return gaps


def _gap(language: str, items: list[GapQuestion], vectors: Vectors | None) -> Gap:
    order = list(range(len(items)))
    if vectors is not None and len(items) > 1:  # the most central questions say it best
        centre = vectors.sum(axis=0)
        order.sort(key=lambda i: -float(vectors[i] @ centre))
    samples: list[str] = []
    seen: set[str] = set()
    for i in order:
        key = normalized(items[i].text)
        if key not in seen:
            seen.add(key)
            samples.append(items[i].text)
        if len(samples) == SAMPLES:
            break
    newest = sorted(items, key=lambda q: -q.at_ms)
    conversations = list(dict.fromkeys(q.conversation_id for q in newest if q.conversation_id))[:SAMPLES]
    return Gap(language, len(items), samples, conversations)
