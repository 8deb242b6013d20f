"""Per-language calibration of the hybrid confidence on a tuning question set.

Raw cosine similarities differ by language and model, so each language gets its own two ends:
`dense_low`, the median best similarity of its out-of-scope questions, and `dense_high`, the
median similarity of its correct dense answers; and its typical question length, `typical_chars`,
the median length of its answerable questions (characters differ in weight by script). Then a
logistic model learns, per language, how likely the fused ranking's first article is the right
one from its signals (`fusion.SIGNALS`; an out-of-scope question's first article is never right):
Newton's method with an L2 penalty of L2 on every weight but the bias.

A deployment's knowledge base is not the one the questions were written for: it is smaller or
larger, and a customer's question about an article it lacks finds that article's neighbours,
which a model fitted on the full KB alone has never seen as wrong (with half of this repository's
articles removed, the model fitted on the full KB answered 8-21 % of the questions wrongly). So
the model may also learn from `variants`: the same questions against smaller knowledge bases
(`evaluate.drop_articles`), where a question whose article was removed is out of scope. In each
variant the out-of-scope questions are weighted to make up the share they have in the tuning set,
so that removing articles changes what is asked about, not how much of it is out of scope. Other
help centers, each with its own questions (and their smaller versions), are variants too: a
confidence learned on one knowledge base learns its articles' quirks as well, and with three more
the help centers it never saw got 3-5 points more right answers (docs/benchmarks.md).

The `answer` threshold is the one that answers the most tuning questions right while keeping
wrong answers at most MAX_WRONG of the (weighted) questions and at least MIN_HANDOFF of the
out-of-scope ones below it, judged as if every confident top article were answered. `clarify` is
the lowest confidence, at most CLARIFY_BAND below `answer`, that leaves CLARIFY_HANDOFF of the
out-of-scope questions below it: choices are for questions the KB answers, so an out-of-scope
question is handed off, not offered its neighbours; but never less than MIN_CLARIFY_BAND below
`answer`. Run it on the tuning sets only
(`helpline kb calibrate`), never on a set the numbers are reported on.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from helpline.bots import fusion
from helpline.bots.evaluate import Question
from helpline.bots.search import Searcher, query_key

MIN_HANDOFF = 0.85
MAX_WRONG = 0.04
CLARIFY_BAND = 0.3
CLARIFY_HANDOFF = 0.85
# Choices are offered at least this far below `answer`: a question just short of sure gets "is it
# about 1) ... 2) ... or talk to a person?", never a bare handoff. On the independent sets this
# kept every out-of-scope handoff rate (full KB: fresh6 100 %, fresh7 91.1 %; half the articles:
# 85.2 % and 85.9 %) and doubled the choices offered (fresh7 2.7 % -> 5.5 %, 79 % with the right one).
MIN_CLARIFY_BAND = 0.15
L2 = 1.0
NEWTON_STEPS = 50
_GRID = [round(0.3 + 0.01 * i, 2) for i in range(70)]


def _dense_top(searcher: Searcher, q: Question) -> tuple[str, float] | None:
    index = searcher.dense.get(q.language)
    vector = searcher.queries.get(q.text) if searcher.queries is not None else None
    if index is None or vector is None:
        return None
    similarities = index.similarities(vector)
    key = max(similarities, key=lambda k: similarities[k])
    return key, similarities[key]


def fit(signals: np.ndarray, right: np.ndarray, l2: float = L2, weight: np.ndarray | None = None) -> np.ndarray:
    """Logistic-regression weights (the first column is the bias, not penalized); `weight`, one
    per row (default 1), is how much each row counts."""
    penalty = np.full(signals.shape[1], l2)
    penalty[0] = 0.0
    counts = np.ones(len(right)) if weight is None else np.asarray(weight, dtype=float)
    weights = np.zeros(signals.shape[1])
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(signals @ weights, -50, 50)))
        gradient = signals.T @ (counts * (p - right)) + penalty * weights
        hessian = signals.T @ (signals * (counts * p * (1 - p))[:, None]) + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-9:
            break
    return weights


def threshold(
    confidence: Sequence[float],
    right: Sequence[bool],
    in_scope: Sequence[bool],
    weight: Sequence[float] | None = None,
) -> float:
    """The answer threshold over the tuning questions' top articles (see the module's docstring),
    each question counting `weight` (default 1); the highest of the grid when none keeps the
    handoff and wrong-answer bounds."""
    w = [1.0] * len(confidence) if weight is None else list(weight)
    n = sum(w)
    out = sum(x for x, s in zip(w, in_scope, strict=True) if not s)
    scored = []
    for t in _GRID:
        answered = [c >= t for c in confidence]
        correct = sum(x for a, r, x in zip(answered, right, w, strict=True) if a and r)
        wrong = sum(x for a, r, x in zip(answered, right, w, strict=True) if a and not r)
        handed = sum(x for c, s, x in zip(confidence, in_scope, w, strict=True) if not s and c < t)
        ok = (not out or handed / out >= MIN_HANDOFF - 1e-9) and wrong <= MAX_WRONG * n + 1e-9
        scored.append((ok, round(correct, 9) if ok else 0, -t))
    return -max(scored)[2]


def clarify_threshold(
    confidence: Sequence[float], in_scope: Sequence[bool], answer: float, weight: Sequence[float] | None = None
) -> float:
    """The lowest confidence, from `answer` - CLARIFY_BAND up to `answer`, that leaves at least
    CLARIFY_HANDOFF of the (weighted) out-of-scope questions below it; at most `answer` -
    MIN_CLARIFY_BAND."""
    w = [1.0] * len(confidence) if weight is None else list(weight)
    outside = [(c, x) for c, s, x in zip(confidence, in_scope, w, strict=True) if not s]
    total = sum(x for _, x in outside)
    lowest = round(max(0.0, answer - CLARIFY_BAND), 2)
    highest = round(max(0.0, answer - MIN_CLARIFY_BAND), 2)
    for step in range(round((highest - lowest) * 100) + 1):
        t = round(lowest + 0.01 * step, 2)
        if not total or sum(x for c, x in outside if c < t) / total >= CLARIFY_HANDOFF - 1e-9:
            return t
    return highest


def _weights(in_scope: Sequence[bool], share: float) -> list[float]:
    """Row weights that make the out-of-scope rows `share` of the total (the answerable ones 1)."""
    inside = sum(in_scope)
    outside = len(in_scope) - inside
    if not inside or not outside or not 0 < share < 1:
        return [1.0] * len(in_scope)
    w = share * inside / ((1 - share) * outside)
    return [1.0 if s else w for s in in_scope]


def _judged(searcher: Searcher, questions: Sequence[Question]) -> list[tuple[Question, fusion.Fused]]:
    firsts = [(q, searcher.ranked(q.text, q.language)[:1]) for q in questions]
    return [(q, f[0]) for q, f in firsts if f]


def calibrate(
    searcher: Searcher,
    questions: Sequence[Question],
    variants: Sequence[tuple[Searcher, Sequence[Question]]] = (),
) -> dict[str, fusion.Calibration]:
    """A calibration per language present in `questions` (needs a searcher with an embedder).
    `variants`: searchers over smaller knowledge bases with the questions as they stand there
    (`evaluate.drop_articles`), or over other help centers with their own questions, learned from
    too (see the module's docstring); the similarity ends and the typical length come from
    `searcher` and `questions` alone."""
    if not searcher.hybrid:
        raise ValueError(f"calibration needs dense retrieval ({searcher.dense_error})")
    result = {}
    for language in sorted({q.language for q in questions}):
        mine = [q for q in questions if q.language == language]
        tops = [(q, _dense_top(searcher, q)) for q in mine]
        low = [t[1] for q, t in tops if t is not None and q.expected is None]
        high = [t[1] for q, t in tops if t is not None and q.expected == t[0]]
        if not low or not high:
            raise ValueError(f"{language}: needs out-of-scope questions and correct dense answers")
        typical = statistics.median(len(query_key(q.text)) for q in mine if q.expected is not None)
        cal = fusion.Calibration(
            round(statistics.median(low), 4), round(statistics.median(high), 4), 1.0, 1.0, typical_chars=typical
        )
        share = len(low) / len(mine)
        rows: list[tuple[Question, fusion.Fused]] = []
        weight: list[float] = []
        for s, qs in [(searcher, mine), *((v, [q for q in vq if q.language == language]) for v, vq in variants)]:
            index = s.index_for(language)
            index.config = replace(index.config, hybrid=cal)  # the searcher reads it per question
            judged = _judged(s, qs)
            rows += judged
            weight += (
                _weights([q.expected is not None for q, _ in judged], share)
                if s is not searcher
                else [1.0] * len(judged)
            )
        signals = np.array([f.signals for _, f in rows])
        right = np.array([float(f.key == q.expected) for q, f in rows])
        weights = fit(signals, right, weight=np.array(weight))
        confidence = [fusion.probability(weights.tolist(), f.signals) for _, f in rows]
        in_scope = [q.expected is not None for q, _ in rows]
        answer = threshold(confidence, [bool(r) for r in right], in_scope, weight)
        result[language] = replace(
            cal,
            answer=answer,
            clarify=clarify_threshold(confidence, in_scope, answer, weight),
            weights=tuple(round(float(w), 4) for w in weights),
        )
        for s in [searcher, *(v for v, _ in variants)]:
            index = s.index_for(language)
            index.config = replace(index.config, hybrid=result[language])
    return result


def as_toml(calibration: fusion.Calibration) -> str:
    c = calibration
    text = (
        f"[hybrid]\ndense_low = {c.dense_low}\ndense_high = {c.dense_high}\n"
        f"answer = {c.answer}\nclarify = {c.clarify}\n"
    )
    if c.typical_chars:
        text += f"typical_chars = {c.typical_chars}\n"
    if c.weights:
        names = ", ".join(fusion.SIGNALS)
        text += f"# learned, one per signal: {names}\nweights = [{', '.join(str(w) for w in c.weights)}]\n"
    return text
