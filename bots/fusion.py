"""Fusing the lexical (BM25) and dense rankings into one ranking and one confidence.

Ranking: reciprocal-rank fusion of each retriever's top five, which needs no score scaling.

Confidence of the top article, from signals that mean the same in every language:
- level: its dense similarity placed between the language's typical out-of-scope level (0) and
  typical correct-answer level (1); raw cosines differ by language, so both ends are calibrated
  per language (`[hybrid]` in `bots/data/search.<lang>.toml`, from `helpline kb calibrate`);
- margin: how far its similarity is above the best other article's;
- agreement: both retrievers put it first.

A language calibrated with `helpline kb calibrate` has learned `weights`: the confidence is then
a logistic model's probability that the top article is the right one, over `signals` (the level,
the margin, the agreement, where each retriever ranks the article, BM25's own confidence and its
lead weighted by coverage, and how much shorter the question is than the language's typical one:
short messages are more often about what the help center lacks), fitted per language on the
tuning questions. Without weights it is the hand-set
0.6 * level + 0.2 * agreement + 0.2 * margin.

The bot answers when the confidence is at or above the language's `answer` threshold and both
retrievers put the article first (`sure`); when they disagree it asks instead, offering the top two
and any other plausible article: on the eight question sets, a third of the wrong answers above the
threshold were such disagreements against 5 % of the right ones (docs/benchmarks.md). With learned
weights, whose signals already count the disagreement, a top article UNAGREED_EXTRA above the
threshold is answered all the same. Between `clarify` and `answer` it offers the plausible articles
(level at least PLAUSIBLE) when there are two or three of them; below, it hands off.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

RRF_K = 10
TOP = 5  # each retriever's candidates that enter the fusion
LEVEL_WEIGHT, AGREEMENT_WEIGHT, MARGIN_WEIGHT = 0.6, 0.2, 0.2
MARGIN_SCALE = 0.03  # a cosine lead of this much counts as a full margin
PLAUSIBLE = 0.5  # level a choice needs to be offered in a clarifying question
MAX_CHOICES = 3
UNAGREED_EXTRA = 0.1  # with learned weights: how far above `answer` a top article ranked first by one retriever must be
SIGNALS = (
    "bias",
    "level",
    "margin",  # the similarity lead over the best other article, in MARGIN_SCALE units (not clipped)
    "agreed",
    "lexical_first",
    "dense_first",
    "lexical_confidence",  # BM25's coverage-and-margin confidence of this article (search.py), 0 if not found
    "lexical_lead",  # when BM25 ranks this article first: its relative score lead times its coverage, else 0
    "lexical_found",  # among BM25's top candidates
    "shortness",  # how much shorter the question is than the language's typical one: log of the ratio, 0 if not shorter
)


@dataclass(frozen=True)
class Calibration:
    dense_low: float  # typical best similarity of an out-of-scope question
    dense_high: float  # typical similarity of a correct answer
    answer: float  # confidence needed to answer
    clarify: float  # confidence needed to offer choices
    weights: tuple[float, ...] = ()  # learned, one per SIGNALS entry; empty: the hand-set formula
    typical_chars: float = 0.0  # median length of the tuning questions the KB answers; 0: shortness not measured


@dataclass(frozen=True)
class Fused:
    key: str
    score: float  # the fused (RRF) score
    level: float
    confidence: float
    agreed: bool = False  # first in both rankings (only the top article is judged)
    signals: tuple[float, ...] = ()  # of the top article (SIGNALS order); empty for the others


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def level(similarity: float, cal: Calibration) -> float:
    return _clip((similarity - cal.dense_low) / max(1e-6, cal.dense_high - cal.dense_low))


def shortness(chars: int, cal: Calibration) -> float:
    """How much shorter than typical a question of `chars` characters is, on a log scale."""
    if cal.typical_chars <= 0:
        return 0.0
    return max(0.0, math.log(cal.typical_chars) - math.log(1 + chars))


def probability(weights: Sequence[float], signals: Sequence[float]) -> float:
    z = sum(w * x for w, x in zip(weights, signals, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def fuse(
    dense: Mapping[str, float],
    lexical: Sequence[str],
    cal: Calibration,
    k: int = 3,
    lexical_confidence: Mapping[str, float] | None = None,
    lexical_lead: float = 0.0,
    chars: int = 0,
) -> list[Fused]:
    """The top `k` of the fused ranking. `dense` maps every candidate key to its similarity;
    `lexical` lists keys in BM25 order, `lexical_confidence` their BM25 confidences and
    `lexical_lead` the relative lead of BM25's first over its second times the share of the question
    that first article covers (search.py): a lead won by one common word of a long question, the
    only word any article has, is not a lead. `chars`: the question's length. Pure."""
    if not dense:
        return []
    dense_order = sorted(dense, key=lambda key: (-dense[key], key))
    rrf: dict[str, float] = {}
    for ranking in (dense_order[:TOP], list(lexical[:TOP])):
        for rank, key in enumerate(ranking):
            rrf[key] = rrf.get(key, 0.0) + 1.0 / (RRF_K + rank + 1)
    order = sorted(rrf, key=lambda key: (-rrf[key], key))[:k]
    floor = min(dense.values())
    result = []
    for rank, key in enumerate(order):
        similarity = dense.get(key, floor)
        lvl = level(similarity, cal)
        confidence = LEVEL_WEIGHT * lvl
        agreed = False
        signals: tuple[float, ...] = ()
        if rank == 0:
            runner_up = max((s for other, s in dense.items() if other != key), default=floor)
            confidence += MARGIN_WEIGHT * _clip((similarity - runner_up) / MARGIN_SCALE)
            agreed = bool(lexical) and lexical[0] == key == dense_order[0]
            if agreed:
                confidence += AGREEMENT_WEIGHT
            lexical_first = bool(lexical) and lexical[0] == key
            signals = (
                1.0,
                (similarity - cal.dense_low) / max(1e-6, cal.dense_high - cal.dense_low),
                (similarity - runner_up) / MARGIN_SCALE,
                float(agreed),
                float(lexical_first),
                float(dense_order[0] == key),
                (lexical_confidence or {}).get(key, 0.0),
                lexical_lead if lexical_first else 0.0,
                float(key in lexical[:TOP]),
                shortness(chars, cal),
            )
            if cal.weights:
                confidence = probability(cal.weights, signals)
        result.append(Fused(key, rrf[key], lvl, round(confidence, 4), agreed, signals))
    return result


def sure(fused: Sequence[Fused], cal: Calibration) -> bool:
    """Whether to answer with the top article: confident enough, and first in both rankings (or,
    with learned weights, UNAGREED_EXTRA more confident than that)."""
    if not fused or fused[0].confidence < cal.answer:
        return False
    return fused[0].agreed or (bool(cal.weights) and fused[0].confidence >= cal.answer + UNAGREED_EXTRA)


def choices(fused: Sequence[Fused], cal: Calibration) -> list[str]:
    """The articles to offer when the top one is not sure: two or three plausible ones, else none.
    A top article confident enough but ranked first by one retriever only is offered with the
    runner-up, plausible or not."""
    if not fused or sure(fused, cal) or fused[0].confidence < cal.clarify:
        return []
    plausible = [f.key for f in fused[:MAX_CHOICES] if f.level >= PLAUSIBLE]
    if fused[0].confidence >= cal.answer and len(fused) >= 2:
        plausible = list(dict.fromkeys([fused[0].key, fused[1].key, *plausible]))[:MAX_CHOICES]
    return plausible if len(plausible) >= 2 else []
