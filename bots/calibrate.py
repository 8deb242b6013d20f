"""Per-language calibration of the hybrid confidence on a tuning question set.

Raw cosine similarities differ by language and model, so each language gets its own two ends:
`dense_low`, the median best similarity of its out-of-scope questions, and `dense_high`, the
median similarity of its correct dense answers. Then a logistic model learns, per language, how
likely the fused ranking's first article is the right one from its signals (`fusion.SIGNALS`;
an out-of-scope question's first article is never right): Newton's method with an L2 penalty of
L2 on every weight but the bias. The `answer` threshold is the one that answers the most tuning
questions right while keeping out-of-scope questions handed off (at least MIN_HANDOFF) and wrong
answers at most MAX_WRONG of the questions, judged as if every confident top article were
answered; `clarify` sits CLARIFY_BAND below it. Run it on the tuning set only
(`helpline kb calibrate`), never on the set the numbers are reported on.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from helpline.bots import fusion
from helpline.bots.evaluate import Question
from helpline.bots.search import Searcher

MIN_HANDOFF = 0.9
MAX_WRONG = 0.03
CLARIFY_BAND = 0.3
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


def fit(signals: np.ndarray, right: np.ndarray, l2: float = L2) -> np.ndarray:
    """Logistic-regression weights (the first column is the bias, not penalized)."""
    penalty = np.full(signals.shape[1], l2)
    penalty[0] = 0.0
    weights = np.zeros(signals.shape[1])
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(signals @ weights, -50, 50)))
        gradient = signals.T @ (p - right) + penalty * weights
        hessian = signals.T @ (signals * (p * (1 - p))[:, None]) + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-9:
            break
    return weights


def threshold(confidence: Sequence[float], right: Sequence[bool], in_scope: Sequence[bool]) -> float:
    """The answer threshold over the tuning questions' top articles (see the module's docstring);
    the highest of the grid when none keeps the handoff and wrong-answer bounds."""
    n, out = len(confidence), sum(1 for s in in_scope if not s)
    scored = []
    for t in _GRID:
        answered = [(c >= t, r) for c, r in zip(confidence, right, strict=True)]
        correct = sum(a and r for a, r in answered)
        wrong = sum(a and not r for a, r in answered)
        handed = sum(c < t for c, s in zip(confidence, in_scope, strict=True) if not s)
        ok = (not out or handed / out >= MIN_HANDOFF) and wrong <= MAX_WRONG * n
        scored.append((ok, correct if ok else 0, -t))
    return -max(scored)[2]


def calibrate(searcher: Searcher, questions: Sequence[Question]) -> dict[str, fusion.Calibration]:
    """A calibration per language present in `questions` (needs a searcher with an embedder)."""
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
        cal = fusion.Calibration(round(statistics.median(low), 4), round(statistics.median(high), 4), 1.0, 1.0)
        index = searcher.index_for(language)
        index.config = replace(index.config, hybrid=cal)  # the searcher reads it per question
        firsts = [(q, searcher.ranked(q.text, language)[:1]) for q in mine]
        judged = [(q, f[0]) for q, f in firsts if f]
        signals = np.array([f.signals for _, f in judged])
        right = np.array([float(f.key == q.expected) for q, f in judged])
        weights = fit(signals, right)
        confidence = [fusion.probability(weights.tolist(), f.signals) for _, f in judged]
        answer = threshold(confidence, [bool(r) for r in right], [q.expected is not None for q, _ in judged])
        result[language] = replace(
            cal,
            answer=answer,
            clarify=round(max(0.0, answer - CLARIFY_BAND), 2),
            weights=tuple(round(float(w), 4) for w in weights),
        )
        index.config = replace(index.config, hybrid=result[language])
    return result


def as_toml(calibration: fusion.Calibration) -> str:
    c = calibration
    text = (
        f"[hybrid]\ndense_low = {c.dense_low}\ndense_high = {c.dense_high}\n"
        f"answer = {c.answer}\nclarify = {c.clarify}\n"
    )
    if c.weights:
        names = ", ".join(fusion.SIGNALS)
        text += f"# learned, one per signal: {names}\nweights = [{', '.join(str(w) for w in c.weights)}]\n"
    return text
